"""Property tests (hypothesis) for segmenting (classify/notices/segmenting.py): arbitrary and notice-shaped text
never crashes, measures are substrings of the notice, ids are stable under edits elsewhere and under layout."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import SEEDS as SEED_DIR
from helpers import check_measures, read_or_none
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classify.notices.segmenting import segment_notice

SEEDS = sorted(SEED_DIR.glob("*.txt"))
SEED_LINES = {p.name: p.read_text(encoding="utf-8").split("\n") for p in SEEDS}

FAST = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Pieces that steer the segmenter into its branches: markers, labels, headings, chrome, closing.
FRAGMENTS = [
    "一是",
    "二是",
    "三是",
    "十二是",
    "第一,",
    "第二、",
    "(1)",
    "(2)",
    "(一)",
    "(二)",
    "(十一)",
    "一、",
    "二、",
    "三、",
    "1.",
    "2.",
    "12、",
    "1)",
    "①",
    "②",
    "⑳",
    "下一步,",
    "下一步工作打算",
    "整改落实情况:",
    "整改结果及成效:",
    "整改结果:已完成整改。",
    "整改措施:",
    "针对“",
    "”的问题。",
    "问题",
    "通过集中整改,",
    "已完成整改32个",
    "欢迎广大干部群众对巡察整改落实情况进行监督。",
    "根据市委统一部署,",
    "现将巡察整改情况予以公布。",
    "中共某某局党组",
    "关于",
    "2024年5月6日",
    "时间:2023-07-05 来源:区委",
    "返回首页",
    "上一篇:",
    "联系电话:",
    "统一是",
    "黨組",
    "區科學技術局",
    "於",
    "制定整改方案",
    "建立台账",
    "召开专题会议",
    "。",
    ",",
    ",",
    ";",
    ";",
    ":",
    ":",
    "、",
    "“",
    "”",
    "《",
    "》",
    "(",
    ")",
    "(",
    ")",
    "\n",
    "\n",
    "\n\n",
    "\r\n",
    " ",
    "\u3000",
    "\xa0",
    "\t",
    "\ufeff",
    "\u200b",
]
CHARS = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3000, max_codepoint=0x303F),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
    st.sampled_from("①②③一二三四五六七八九十是第0123456789.、()"),
)
RAW_TEXT = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(CHARS, max_size=12)), max_size=60).map(
    "".join
)

# Notice-shaped text: lines of an optional heading/label/marker and a few sentences, some of them
# with inline markers, so that the segmenter's item and heading branches are reached often.
CLAUSE = st.one_of(
    st.sampled_from(
        [
            "制定整改方案",
            "建立问题清单和整改台账",
            "召开专题民主生活会",
            "修订财务报销管理办法",
            "開展警示教育",
            "思想统一是前提",
            "完善党组议事规则",
            "加强意识形态阵地管理",
        ]
    ),
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=2, max_size=14),
)
SENTENCE = st.tuples(
    st.sampled_from(["", "", "", "一是", "二是", "三是", "(1)", "(2)", "①", "②", "1.", "2.", "第一,"]),
    st.lists(CLAUSE, min_size=1, max_size=3).map(",".join),
    st.sampled_from(["。", "。", ";", "", "!"]),
).map("".join)
PREFIX = st.sampled_from(
    [
        "",
        "",
        "",
        "一、",
        "二、",
        "三、",
        "(一)",
        "(二)",
        "1.",
        "2.",
        "(1)",
        "①",
        "一是",
        "二是",
        "整改落实情况:",
        "整改结果及成效:",
        "下一步,",
        "针对“",
        "整改结果:",
        "三、下一步工作打算",
        "欢迎监督。",
        "2024年5月6日",
    ]
)
STRUCT_LINE = st.tuples(PREFIX, st.lists(SENTENCE, max_size=4).map("".join)).map("".join)
STRUCT_TEXT = st.lists(st.one_of(STRUCT_LINE, STRUCT_LINE, RAW_TEXT), max_size=25).map("\n".join)
TEXT = st.one_of(RAW_TEXT, STRUCT_TEXT)


@FAST
@given(text=TEXT, suffix=st.sampled_from([".txt", ".txt", ".html"]))
def test_arbitrary_text_never_crashes(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("arb") / f"notice{suffix}"
    path.write_bytes(text.encode("utf-8"))
    notice = read_or_none(path)
    if notice is None:
        return
    assert notice.text and "\n\n" not in notice.text
    assert len(notice.text.split("\n")) == len(notice.simplified.split("\n"))
    measures = segment_notice(notice)
    check_measures(notice, measures)
    assert [m.id for m in segment_notice(notice)] == [m.id for m in measures]


# --- seeds with random edits ---------------------------------------------------------------

LINE = st.one_of(
    st.sampled_from(
        [
            "",
            "   ",
            "一是加强组织领导,成立整改工作领导小组。",
            "二是建立整改台账,实行销号管理。",
            "整改落实情况:",
            "整改结果:已完成整改。",
            "下一步,我局将持续巩固整改成果。一是加强理论学习。二是深化作风建设。",
            "(五)关于新增问题的整改情况",
            "9.针对“某项工作不到位”的问题。",
            "三、下一步工作打算",
            "通过集中整改,全局思想认识进一步提高。",
            "返回首页",
            "上一篇:没有了",
            "欢迎广大干部群众对巡察整改落实情况进行监督。",
        ]
    ),
    STRUCT_LINE,
    RAW_TEXT.map(lambda s: s.replace("\n", "").replace("\r", "")),
)
EDIT = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10**4)),
    st.tuples(st.just("insert"), st.integers(0, 10**4), LINE),
    st.tuples(st.just("duplicate"), st.integers(0, 10**4)),
    st.tuples(
        st.just("spaces"),
        st.integers(0, 10**4),
        st.integers(0, 10**4),
        st.sampled_from([" ", "  ", "\u3000", "\t"]),
    ),
)


def _apply(lines: list[str], edits) -> list[str]:
    lines = list(lines)
    for edit in edits:
        kind, i = edit[0], edit[1] % (len(lines) + 1)
        if kind == "delete" and i < len(lines):
            del lines[i]
        elif kind == "insert":
            lines.insert(i, edit[2])
        elif kind == "duplicate" and i < len(lines):
            lines.insert(i, lines[i])
        elif kind == "spaces" and i < len(lines):
            pos = edit[2] % (len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + edit[3] + lines[i][pos:]
    return lines


def _segment_file(dir_: Path, name: str, text: str):
    path = dir_ / name  # the seed's own file name: same notice id, comparable ids
    path.write_text(text, encoding="utf-8")
    notice = read_or_none(path)
    return notice, (segment_notice(notice) if notice is not None else [])


ORIGINAL = {}


def _original(name: str, dir_: Path):
    if name not in ORIGINAL:
        ORIGINAL[name] = _segment_file(dir_, name, "\n".join(SEED_LINES[name]))[1]
    return ORIGINAL[name]


@settings(FAST, max_examples=60)
@given(name=st.sampled_from(sorted(SEED_LINES)), edits=st.lists(EDIT, max_size=8))
def test_seed_with_random_edits(tmp_path_factory, name, edits):
    d = tmp_path_factory.mktemp("edit")
    text = "\n".join(_apply(SEED_LINES[name], edits))
    notice, measures = _segment_file(d, name, text)
    if notice is None:
        return
    check_measures(notice, measures)
    # segmenting the same edited text twice gives the same ids
    assert [(m.id, m.text, m.heading_path) for m in segment_notice(notice)] == [
        (m.id, m.text, m.heading_path) for m in measures
    ]
    _, again = _segment_file(tmp_path_factory.mktemp("edit2"), name, text)
    assert [m.id for m in again] == [m.id for m in measures]
    # a measure whose text is unchanged keeps its id
    before = {m.text_simplified: m.id for m in _original(name, tmp_path_factory.mktemp("orig"))}
    for m in measures:
        if m.text_simplified in before:
            assert m.id == before[m.text_simplified]
    # untouched seeds still give plenty of measures: edits are local
    if not edits:
        assert len(measures) >= 20


_CJK_PAIR = re.compile(r"(?<=[\u4e00-\u9fff])(?=[\u4e00-\u9fff])")


@settings(FAST, max_examples=40)
@given(
    name=st.sampled_from(sorted(SEED_LINES)),
    picks=st.lists(
        st.tuples(st.integers(0, 10**4), st.integers(0, 10**4), st.sampled_from([" ", "\u3000", "  "])),
        max_size=12,
    ),
    blank_after=st.lists(st.integers(0, 10**4), max_size=6),
)
def test_layout_spaces_and_blank_lines_change_nothing(tmp_path_factory, name, picks, blank_after):
    """Spaces between two CJK characters and blank lines are layout: same measures, same ids."""
    lines = list(SEED_LINES[name])
    for li, pi, space in picks:
        i = li % len(lines)
        slots = [m.start() for m in _CJK_PAIR.finditer(lines[i])]
        if slots:
            pos = slots[pi % len(slots)]
            lines[i] = lines[i][:pos] + space + lines[i][pos:]
    for j in sorted({b % len(lines) for b in blank_after}, reverse=True):
        lines.insert(j, " \u3000 ")
    _, measures = _segment_file(tmp_path_factory.mktemp("sp"), name, "\n".join(lines))
    original = _original(name, tmp_path_factory.mktemp("orig"))
    assert [(m.id, m.text, m.heading_path) for m in measures] == [
        (m.id, m.text, m.heading_path) for m in original
    ]
