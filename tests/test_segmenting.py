"""classify.notices.segmenting: the unit of ../shared/codebook.md ("The unit: a measure").

Tests marked ``xfail(strict=True)`` with a reason starting "BUG" document defects found in
classify/notices/segmenting.py; once the module is fixed they XPASS (a strict failure) and the marker
should be removed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import CHROME_MARKERS

from classify.notices.reading import (
    is_chrome_line,
    normalise_text,
    read_notice,
    read_notice_bytes,
    to_simplified,
)
from classify.notices.segmenting import MeasureRecord, measure_id, segment_notice

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
SEED_IDS = [p.name[:3] for p in sorted(SEED_DIR.glob("*.txt"))]

# --- what a measure must not be -----------------------------------------------------------

_HEADING_LINE = re.compile(
    r"^(?:[一二三四五六七八九十]{1,3}\s*[、.,]|\(\s*[一二三四五六七八九十]{1,3}\s*\)|\d{1,2}\s*[、.](?!\d)"
    r"|\(\s*\d{1,2}\s*\)|\d{1,2}\)|[①-⑳])"
)
_LIST_MARKER_START = re.compile(
    r"^(?:[一二三四五六七八九十]{1,2}是|第[一二三四五六七八九十]{1,2}(?:是|[,、:;])|\(\s*\d{1,2}\s*\)"
    r"|\d{1,2}[.、](?!\d)|[①-⑳]|\(\s*[一二三四五六七八九十]{1,3}\s*\)|[一二三四五六七八九十]{1,3}、)"
)
_SENTENCE_SPLIT = re.compile(r"(?<=[。;!?])")
_END_OK = set("。;!?”’)》」』….\"") | {")"}  # ASCII "." and quotes end sentences in ASCII-punctuated notices
_START_BAD = set(",,、。;;::!?!?)）》」』”’.")
_CONTACT_MARKERS = ("电话", "邮箱", "@", "邮编", "邮政编码", "联系方式")
_OPENING = re.compile(r"^(?:根据|按照).{0,200}(?:现将|予以公布|予以通报)")
_SUMMARY = re.compile(r"^(?:通过|经过)(?:集中|全面)?整改|已完成整改\s*\d+\s*[个项条]|已整改完成\s*\d+")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def _is_problem_statement(simp: str) -> bool:
    """A lone problem statement: one sentence, opening with 针对 and ending at 问题.

    Narrower than "starts with 针对 and has 问题 in its first sentence": 000's
    "针对机关第一党支部组织生活存在不严肃、不规范问题,召开直属机关党委(扩大)会议,对…批评教育。"
    is one sentence but carries an action after 问题, and it is a genuine 二是 item.
    """
    sentences = _sentences(simp)
    if len(sentences) != 1 or not simp.startswith(("针对", "关于")):
        return False
    return bool(re.search(r"问题[”’\"')\s]*(?:的整改情况)?[。;!?]?$", simp.strip()))


def measure_violations(notice, measures: list[MeasureRecord]) -> list[str]:
    """Every way in which these measures break the codebook's unit, as readable strings."""
    bad: list[str] = []
    lines_s = notice.simplified.split("\n")
    heading_lines = {line for line in lines_s if _HEADING_LINE.match(line)}
    title_lines = {line for line in lines_s[:5] if "关于" in line and line.endswith(("通报", "通告", "公告"))}
    for m in measures:
        s, t = m.text_simplified, m.text
        tag = f"[{m.position}] {s[:40]}"
        if not t or not s:
            bad.append(f"empty: {tag}")
            continue
        if is_chrome_line(s) or any(k in s for k in CHROME_MARKERS):
            bad.append(f"chrome: {tag}")
        if any(k in s for k in _CONTACT_MARKERS):
            bad.append(f"contact: {tag}")
        if _is_problem_statement(s):
            bad.append(f"problem statement: {tag}")
        if s in heading_lines:
            bad.append(f"heading line: {tag}")
        for h in heading_lines:
            content = _HEADING_LINE.sub("", h, count=1).strip()
            # a leaf heading with content of its own is a measure, but not a bare title
            # a short item closed by 。 ("(1)修订报销办法,明确审批流程。") is an action, not a title
            if s == content and len(_sentences(content)) < 2 and len(content) < 40 and not content.endswith(
                ("。", ";", ";")
            ):
                bad.append(f"heading title: {tag}")
        if s in title_lines or _OPENING.search(s):
            bad.append(f"title/opening: {tag}")
        if _SUMMARY.search(s):
            bad.append(f"summary/tally: {tag}")
        if _LIST_MARKER_START.match(s):
            bad.append(f"starts with list marker: {tag}")
        if s[-1] not in _END_OK:
            bad.append(f"ends mid-sentence: {tag} … {s[-10:]}")
        if s[0] in _START_BAD:
            bad.append(f"starts mid-sentence: {tag}")
        if re.search(r"整改(?:结果|状态)\s*[::]\s*已完成整改[。]?$", s):
            bad.append(f"trailing status kept: {tag}")
        if len(t) != len(s):
            bad.append(f"published/simplified length differ: {tag}")
    return bad


# --- the seeds ----------------------------------------------------------------------------


def test_total_measure_count_in_range(seeds):
    counts = {k: len(ms) for k, (_, _, ms) in seeds.items()}
    assert sorted(counts) == SEED_IDS
    assert all(n >= 20 for n in counts.values()), counts  # every seed contributes
    assert 220 <= sum(counts.values()) <= 320, counts


@pytest.mark.parametrize("key", SEED_IDS)
def test_seed_measures_are_units(seeds, key):
    _, notice, measures = seeds[key]
    assert measure_violations(notice, measures) == []


@pytest.mark.parametrize("key", SEED_IDS)
def test_seed_measures_are_substrings_and_records_consistent(seeds, key):
    path, notice, measures = seeds[key]
    for i, m in enumerate(measures):
        assert m.position == i
        assert m.notice_id == path.stem
        assert m.text in notice.text
        assert m.text_simplified in notice.simplified
        assert m.id == measure_id(notice.notice_id, m.text)
        assert m.heading == " > ".join(m.heading_path)
        d = m.to_dict()
        assert d["heading_path"] == list(m.heading_path) and d["id"] == m.id


# Paragraphs of the seeds that are lead-ins, openings, summaries, or closing prose: never a measure.
NOT_MEASURES = {
    "000": [
        "局党组把巡察整改工作作为首要任务",
        "通过集中整改,强化了",
        "下一步,局党组将按照",
        "根据市委统一部署",
        "中共宁波市科学技术局党组关于落实",
    ],
    "001": [
        "针对区委第二巡察组",
        "落实巡察整改是区科技局反思反省",
        "根据区委统一部署",
        "中共梁溪区科学技术局党组关于",
    ],
    "002": [
        "市科技局党组坚持以习近平",
        "市科技局党组将持续提升思想认识",
        "根据市委巡察工作统一安排",
        "东莞市科技局",
    ],
    "003": ["市科技局党组将以此次巡察整改为新起点", "根据市委统一部署"],
    "004": ["巡察反馈的4个方面33个问题", "按照市委统一部署", "针对“", "整改措施"],
}


@pytest.mark.parametrize("key", SEED_IDS)
def test_seed_lead_ins_and_prose_are_not_measures(seeds, key):
    _, _, measures = seeds[key]
    for m in measures:
        for prefix in NOT_MEASURES[key]:
            assert not m.text_simplified.startswith(prefix), (prefix, m.text_simplified[:60])


def test_seed_004_status_lines_removed(seeds):
    _, _, measures = seeds["004"]
    assert not any("整改结果" in m.text_simplified for m in measures)
    texts = [m.text_simplified for m in measures]
    assert (
        "按照调研安排,班子成员牵头领题,赴县区企业,就群众所急、所愁、所盼的问题展开调研,形成调研报告5篇。"
        in texts
    )


# --- heading paths ------------------------------------------------------------------------


def test_000_next_steps_path_is_next_steps_section(seeds):
    _, _, measures = seeds["000"]
    nxt = [m for m in measures if m.heading_path and "下一步" in m.heading_path[0]]
    assert [m.heading_path for m in nxt] == [("下一步",)] * 4
    assert [m.text[:6] for m in nxt] == ["进一步压紧压", "进一步加强过", "进一步巩固巡", "进一步构建长"]
    assert measures[-4:] == nxt  # the last four, nothing after them
    # the last problem above keeps only its own three items
    last_problem = [
        m for m in measures if m.heading_path and m.heading_path[-1].startswith("2.针对党建工作责任制")
    ]
    assert len(last_problem) == 3
    assert all(not m.text.startswith("进一步") for m in last_problem)


@pytest.mark.parametrize(
    ("key", "section", "n"),
    [
        ("001", "三、下一步全面推進整改計劃", 4),
        ("002", "三、下一步工作打算", 4),
        ("003", "三、下一步工作打算", 3),
    ],
)
def test_next_steps_section_heading(seeds, key, section, n):
    _, _, measures = seeds[key]
    nxt = [m for m in measures if m.heading_path and m.heading_path[0] == section]
    assert len(nxt) == n
    assert all(m.heading_path == (section,) for m in nxt)
    assert measures[-n:] == nxt


@pytest.mark.parametrize("key", SEED_IDS)
def test_next_steps_never_under_a_problem(seeds, key):
    _, _, measures = seeds[key]
    for m in measures:
        if any("下一步" in h for h in m.heading_path):
            assert "下一步" in m.heading_path[0], m.heading_path
        if m.heading_path and "下一步" in m.heading_path[0]:
            assert not any("针对" in h or "问题" in h for h in m.heading_path), m.heading_path


@pytest.mark.parametrize("key", ["000", "004"])
def test_three_level_paths_under_problems(seeds, key):
    _, _, measures = seeds[key]
    # every item under a "N.针对…" problem carries 一、… > (一)… > N.针对… (004's closing
    # "三、需要继续整改的事项和措施 > 1.针对…" has no middle level, and is checked apart)
    under = [m for m in measures if m.heading_path and re.match(r"^\d+\.针对", m.heading_path[-1])]
    three = [m for m in under if not m.heading_path[0].startswith("三、需要继续整改")]
    assert len(three) >= 45
    for m in three:
        assert len(m.heading_path) == 3, m.heading_path
        top, mid, leaf = m.heading_path
        assert re.match(r"^[一二三]、", top)
        assert re.match(r"^\([一二三四五六七八九十]+\)", mid)
        assert re.match(r"^\d+\.针对", leaf)
    assert {m.heading_path for m in under if m not in three} <= {
        ("三、需要继续整改的事项和措施", "1.针对“存在人员混岗问题”的问题。")
    }


def test_000_example_path(seeds):
    _, _, measures = seeds["000"]
    m = next(m for m in measures if m.text.startswith("压实责任。规范工作流程"))
    assert m.heading_path[0].startswith("二、关于贯彻落实从严治党不够有力")
    assert m.heading_path[1] == "(一)监管责任履行不够到位,项目资金成效不够明显。"
    assert m.heading_path[2].startswith("1.针对部分项目验收评审不及时。")
    m = next(m for m in measures if m.text.startswith("压紧压实主体责任。"))
    assert m.heading_path[1].startswith("(四)意识形态责任未有效压实")
    assert m.heading_path[2].startswith("1.针对落实意识形态工作规定要求不到位")


def test_opening_organisation_items_have_section_path(seeds):
    _, _, m001 = seeds["001"]
    assert [m.heading_path for m in m001[:4]] == [("一、整改工作組織情況",)] * 4
    _, _, m000 = seeds["000"]
    assert [m.heading_path for m in m000[:3]] == [()] * 3  # 一是…三是 in the unnumbered opening part
    assert m000[0].text.startswith("提高思想认识,把握整改要求。")


# --- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", SEED_IDS)
def test_ids_stable_and_unique(seeds, key):
    path, _, measures = seeds[key]
    again = segment_notice(read_notice(path))
    assert [m.id for m in again] == [m.id for m in measures]
    assert len({m.id for m in measures}) == len(measures)
    assert all(re.fullmatch(r"[0-9a-f]{16}", m.id) for m in measures)


@pytest.mark.parametrize("key", SEED_IDS)
def test_ids_unchanged_by_blank_lines_and_spaces(seeds, key, tmp_path):
    path, _, measures = seeds[key]
    lines = path.read_text(encoding="utf-8").split("\n")
    padded = "\n \n\n\t\u3000\n".join(f"\u3000\u3000 {line}  \t" for line in lines)
    target = tmp_path / path.name
    target.write_text("\n\n" + padded + "\n\n\n", encoding="utf-8")
    got = segment_notice(read_notice(target))
    assert [(m.id, m.text, m.heading_path) for m in got] == [(m.id, m.text, m.heading_path) for m in measures]


def test_ids_depend_on_notice_and_normalised_text():
    a = measure_id("n1", "建立问题清单,实行销号管理。")
    assert a == measure_id("n1", " 建立问题清单, 实行销号管理 ")  # spacing and punctuation ignored
    assert a == measure_id("n1", "建立問題清單,實行銷號管理。")  # script ignored
    assert a != measure_id("n2", "建立问题清单,实行销号管理。")
    assert a != measure_id("n1", "建立问题清单,实行挂号管理。")


# --- synthetic layouts --------------------------------------------------------------------

HEAD = (
    "中共某某县教育局党组关于巡察整改情况的通报\n"
    "根据县委统一部署,县委第一巡察组对县教育局党组开展了巡察。现将巡察整改情况予以公布。\n"
)
TAIL = "欢迎广大干部群众对巡察整改落实情况进行监督。如有意见建议,请及时向我们反映。联系电话:0000-1234567\n中共某某县教育局党组\n2024年5月6日\n"


def _seg(body: str, head: str = HEAD, tail: str = TAIL, nid: str = "synthetic") -> list[MeasureRecord]:
    notice = read_notice_bytes((head + body + tail).encode("utf-8"), nid)
    measures = segment_notice(notice)
    assert measure_violations(notice, measures) == []
    return measures


def _texts(measures):
    return [m.text for m in measures]


def _n(s: str) -> str:
    return normalise_text(s)


def test_layout_a_yishi_at_paragraph_starts():
    ms = _seg(
        "一、巡察整改任务落实情况\n"
        "(一)关于落实全面从严治党主体责任不到位的问题\n"
        "整改落实情况:\n"
        "一是召开党组会议专题研究整改工作,制定整改方案。\n"
        "二是建立问题清单、任务清单和责任清单,实行销号管理。\n"
        "三是开展警示教育,组织观看警示教育片。\n"
    )
    assert _texts(ms) == [
        _n("召开党组会议专题研究整改工作,制定整改方案。"),
        _n("建立问题清单、任务清单和责任清单,实行销号管理。"),
        _n("开展警示教育,组织观看警示教育片。"),
    ]
    assert {m.heading_path for m in ms} == {
        ("一、巡察整改任务落实情况", "(一)关于落实全面从严治党主体责任不到位的问题")
    }
    assert {m.issuer for m in ms} == {"中共某某县教育局党组"}
    assert {m.date for m in ms} == {"2024-05-06"}


def test_layout_b_inline_yishi_in_result_paragraph():
    ms = _seg(
        "二、整改落实情况\n"
        "1.干部队伍建设不够有力的问题\n"
        "整改结果及成效:一是制定年度干部教育培训计划,开展专题培训3次。二是建立年轻干部库,选派2名年轻干部到基层锻炼。"
        "三是规范干部人事档案管理,完成档案专项审核。\n"
    )
    assert _texts(ms) == [
        _n("制定年度干部教育培训计划,开展专题培训3次。"),
        _n("建立年轻干部库,选派2名年轻干部到基层锻炼。"),
        _n("规范干部人事档案管理,完成档案专项审核。"),
    ]
    assert {m.heading_path for m in ms} == {("二、整改落实情况", "1.干部队伍建设不够有力的问题")}


def test_layout_c_inline_parenthesised_and_circled_items():
    ms = _seg(
        "二、整改落实情况\n"
        "(一)关于财务管理不规范的问题\n"
        "整改措施:(1)修订财务报销管理办法,明确报销审批流程。(2)开展固定资产清查盘点,做到账实相符。\n"
        "(二)关于意识形态工作责任制落实不到位的问题\n"
        "整改措施:①召开意识形态专题研判会议,分析研判意识形态领域形势。②规范网站和公众号信息发布审核流程。\n"
    )
    assert _texts(ms) == [
        _n("修订财务报销管理办法,明确报销审批流程。"),
        _n("开展固定资产清查盘点,做到账实相符。"),
        _n("召开意识形态专题研判会议,分析研判意识形态领域形势。"),
        _n("规范网站和公众号信息发布审核流程。"),
    ]
    assert [m.heading_path[-1] for m in ms] == [_n("(一)关于财务管理不规范的问题")] * 2 + [
        _n("(二)关于意识形态工作责任制落实不到位的问题")
    ] * 2


LAYOUT_C_LINES = (
    "二、整改落实情况\n"
    "(一)关于财务管理不规范的问题\n"
    "整改措施:\n"
    "(1)修订财务报销管理办法,明确报销审批流程。\n"
    "(2)开展固定资产清查盘点,做到账实相符。\n"
    "(二)关于意识形态工作责任制落实不到位的问题\n"
    "①召开意识形态专题研判会议,分析研判意识形态领域形势。\n"
    "②规范网站和公众号信息发布审核流程。\n"
)


def test_layout_c_parenthesised_and_circled_items_on_own_lines():
    ms = _seg(LAYOUT_C_LINES)
    assert _texts(ms) == [
        _n("修订财务报销管理办法,明确报销审批流程。"),
        _n("开展固定资产清查盘点,做到账实相符。"),
        _n("召开意识形态专题研判会议,分析研判意识形态领域形势。"),
        _n("规范网站和公众号信息发布审核流程。"),
    ]


def test_layout_c_items_on_own_lines_keep_parent_path_when_long():
    # Items of two sentences survive the title check; their path is the problem, not the item.
    ms = _seg(
        "二、整改落实情况\n"
        "(一)关于财务管理不规范的问题\n"
        "整改措施:\n"
        "(1)修订财务报销管理办法,明确报销审批流程。严格执行报销制度,手续不全的一律不予报销。\n"
        "(2)开展固定资产清查盘点,做到账实相符。建立固定资产台账,定期核对。\n"
    )
    assert _texts(ms) == [
        _n("修订财务报销管理办法,明确报销审批流程。严格执行报销制度,手续不全的一律不予报销。"),
        _n("开展固定资产清查盘点,做到账实相符。建立固定资产台账,定期核对。"),
    ]
    assert {m.heading_path for m in ms} == {("二、整改落实情况", _n("(一)关于财务管理不规范的问题"))}


def test_layout_d_unnumbered_paragraph_per_problem():
    ms = _seg(
        "二、整改落实情况\n"
        "1.关于党组议事规则不健全的问题。\n"
        "修订完善党组议事规则,明确“三重一大”事项范围和决策程序,规范会议记录。整改结果:已完成整改。\n"
        "2.关于公务用车管理不规范的问题。\n"
        "修订公务用车管理制度,建立车辆运行台账,严格执行派车登记制度。\n"
        "整改结果:已完成整改。\n"
    )
    assert _texts(ms) == [
        _n("修订完善党组议事规则,明确“三重一大”事项范围和决策程序,规范会议记录。"),
        _n("修订公务用车管理制度,建立车辆运行台账,严格执行派车登记制度。"),
    ]
    assert [m.heading_path[-1] for m in ms] == [
        _n("1.关于党组议事规则不健全的问题。"),
        _n("2.关于公务用车管理不规范的问题。"),
    ]


def test_layout_e_shuozhou_style():
    ms = _seg(
        "二、问题整改的具体进展情况\n"
        "(一)落实意识形态工作责任制有差距整改情况。\n"
        "1.针对“会议记录不规范”的问题。\n"
        "会议使用专门记录本记录,将党组会议和其他会议分开记录,党组会议记录已做到完整、详实。\n"
        "整改结果:已完成整改。\n"
        "2.针对“公务用车管理制度执行不严”的问题。\n"
        "修订完善《公务用车管理制度》,建立完整的车辆运行管理台账。\n"
        "整改结果:已完成整改。\n"
    )
    assert _texts(ms) == [
        _n("会议使用专门记录本记录,将党组会议和其他会议分开记录,党组会议记录已做到完整、详实。"),
        _n("修订完善《公务用车管理制度》,建立完整的车辆运行管理台账。"),
    ]
    assert ms[0].heading_path == (
        "二、问题整改的具体进展情况",
        "(一)落实意识形态工作责任制有差距整改情况。",
        "1.针对“会议记录不规范”的问题。",
    )


def test_layout_e_shuozhou_style_unnumbered_problem_lines():
    ms = _seg(
        "二、问题整改的具体进展情况\n"
        "(一)落实意识形态工作责任制有差距整改情况。\n"
        "针对“会议记录不规范”的问题。\n"
        "会议使用专门记录本记录,将党组会议和其他会议分开记录,党组会议记录已做到完整、详实。\n"
        "整改结果:已完成整改。\n"
        "针对“公务用车管理制度执行不严”的问题。\n"
        "修订完善《公务用车管理制度》,建立完整的车辆运行管理台账。\n"
        "整改结果:已完成整改。\n"
    )
    assert _texts(ms) == [
        _n("会议使用专门记录本记录,将党组会议和其他会议分开记录,党组会议记录已做到完整、详实。"),
        _n("修订完善《公务用车管理制度》,建立完整的车辆运行管理台账。"),
    ]


LAYOUT_F = (
    "二、整改落实情况\n"
    "1.关于理论学习不深入的问题\n"
    "整改落实情况:一是制定党组理论学习中心组年度学习计划。二是建立学习台账,如实记录研讨情况。\n"
    "三、下一步工作打算\n"
    "我局将持续巩固整改成果,推动巡察整改常态长效。\n"
    "(一)持续加强理论武装。深入学习贯彻习近平新时代中国特色社会主义思想,完善党组理论学习中心组学习制度。\n"
    "(二)持续深化作风建设。严格落实中央八项规定精神,加强干部日常监督管理。\n"
)


def test_layout_f_next_steps_section_with_numbered_items():
    ms = _seg(LAYOUT_F)
    assert _texts(ms) == [
        _n("制定党组理论学习中心组年度学习计划。"),
        _n("建立学习台账,如实记录研讨情况。"),
        _n("持续加强理论武装。深入学习贯彻习近平新时代中国特色社会主义思想,完善党组理论学习中心组学习制度。"),
        _n("持续深化作风建设。严格落实中央八项规定精神,加强干部日常监督管理。"),
    ]
    assert [m.heading_path for m in ms[2:]] == [("三、下一步工作打算",)] * 2
    assert ms[0].heading_path == ("二、整改落实情况", "1.关于理论学习不深入的问题")


def test_layout_f_next_steps_lead_paragraph_starting_with_xiayibu():
    ms = _seg(LAYOUT_F.replace("我局将持续巩固", "下一步,我局将持续巩固"))
    assert len(ms) == 4
    assert ms[0].heading_path == ("二、整改落实情况", "1.关于理论学习不深入的问题")
    for m in ms[2:]:
        assert "下一步" in m.heading_path[0]
        assert not any("问题" in h for h in m.heading_path)


def test_layout_f_next_steps_lead_paragraph_keeps_section_heading():
    ms = _seg(LAYOUT_F.replace("我局将持续巩固", "下一步,我局将持续巩固"))
    assert [m.heading_path for m in ms[2:]] == [("三、下一步工作打算",)] * 2


def test_layout_f_unnumbered_next_steps_paragraph_with_inline_items():
    # 000's layout: no 下一步 heading, an unnumbered paragraph with inline 一是…二是 after the last problem.
    ms = _seg(
        "二、整改落实情况\n"
        "1.关于理论学习不深入的问题\n"
        "整改落实情况:\n"
        "一是制定党组理论学习中心组年度学习计划。\n"
        "二是建立学习台账,如实记录研讨情况。\n"
        "下一步,局党组将持续巩固巡察整改成果。一是持续加强理论武装,完善学习制度。二是持续深化作风建设,加强日常监督。\n"
    )
    assert _texts(ms) == [
        _n("制定党组理论学习中心组年度学习计划。"),
        _n("建立学习台账,如实记录研讨情况。"),
        _n("持续加强理论武装,完善学习制度。"),
        _n("持续深化作风建设,加强日常监督。"),
    ]
    assert [m.heading_path for m in ms] == [("二、整改落实情况", "1.关于理论学习不深入的问题")] * 2 + [
        ("下一步",)
    ] * 2


def test_layout_g_ascii_punctuation():
    body = (
        "一、整改落实情况\n"
        "1.关于理论学习不深入的问题\n"
        "整改措施:(1)制定党组理论学习中心组年度学习计划,每月开展一次集中学习;(2)建立学习台账,如实记录学习内容和研讨情况。\n"
        "2. 关于财务报销审核不严的问题\n"
        "整改措施:1.修订财务报销管理办法,明确审批权限和流程。2.开展财务报销专项自查,对不合规票据进行整改。\n"
    )
    ascii_head = HEAD.replace(",", ",")
    ascii_tail = TAIL.replace(",", ",").replace(":", ":")
    assert not re.search("[\uff01-\uff5e]", ascii_head + body + ascii_tail)
    ms = _seg(body, head=ascii_head, tail=ascii_tail)
    assert _texts(ms) == [
        "制定党组理论学习中心组年度学习计划,每月开展一次集中学习;",
        "建立学习台账,如实记录学习内容和研讨情况。",
        "修订财务报销管理办法,明确审批权限和流程。",
        "开展财务报销专项自查,对不合规票据进行整改。",
    ]
    assert [m.heading_path[-1] for m in ms] == ["1.关于理论学习不深入的问题"] * 2 + [
        "2.关于财务报销审核不严的问题"
    ] * 2  # "2. 关" loses its layout space
    # the same notice in full-width punctuation gives the same ids
    fw = body.replace(",", ",").replace(":", ":").replace(";", ";").replace("(", "(").replace(")", ")")
    assert [m.id for m in _seg(fw)] == [m.id for m in ms]


@pytest.mark.parametrize(
    ("issuer", "body_unit"),
    [
        ("中共某某市卫生健康委员会党组", "市卫生健康委"),
        ("中共某某区教育局党组", "区教育局"),
        ("某某市科学技术协会党组", "市科协"),
    ],
)
def test_layout_h_issuer_not_a_science_bureau(issuer, body_unit):
    head = (
        f"{issuer}关于巡察整改进展情况的通报\n"
        f"根据市委统一部署,市委第三巡察组对{body_unit}党组开展了巡察。现将巡察整改进展情况予以公布。\n"
    )
    tail = f"欢迎广大干部群众对巡察整改落实情况进行监督。\n{issuer}\n2024年12月3日\n"
    ms = _seg(
        "一、整改落实情况\n"
        "(一)关于行业监管不到位的问题\n"
        "整改落实情况:一是开展行业领域专项检查,督促整改问题隐患12个。二是修订行业监管工作规程,明确监管责任。\n",
        head=head,
        tail=tail,
    )
    assert _texts(ms) == [
        _n("开展行业领域专项检查,督促整改问题隐患12个。"),
        _n("修订行业监管工作规程,明确监管责任。"),
    ]
    assert {m.issuer for m in ms} == {issuer}
    assert {m.date for m in ms} == {"2024-12-03"}


def test_numbering_gap_at_paragraph_start_keeps_items():
    ms = _seg(
        "二、整改落实情况\n"
        "1.关于整改工作推进不力的问题\n"
        "整改落实情况:\n"
        "一是召开党组会议专题研究整改工作,制定整改方案。\n"
        "三是建立问题清单、任务清单和责任清单,实行销号管理。\n"
        "四是开展警示教育,组织观看警示教育片。\n"
    )
    assert _texts(ms) == [
        _n("召开党组会议专题研究整改工作,制定整改方案。"),
        _n("建立问题清单、任务清单和责任清单,实行销号管理。"),
        _n("开展警示教育,组织观看警示教育片。"),
    ]


def test_layout_i_tongyishi_does_not_split():
    ms = _seg(
        "二、整改落实情况\n"
        "1.关于整改工作推进不力的问题\n"
        "整改落实情况:一是加强组织领导,思想统一是做好整改的前提,成立整改工作领导小组。二是建立整改台账,逐项对账销号。\n"
    )
    assert _texts(ms) == [
        _n("加强组织领导,思想统一是做好整改的前提,成立整改工作领导小组。"),
        _n("建立整改台账,逐项对账销号。"),
    ]


def test_layout_i_tongyishi_in_unnumbered_paragraph():
    ms = _seg(
        "二、整改落实情况\n"
        "1.关于整改工作推进不力的问题\n"
        "认识统一是整改的前提。局党组召开专题会议统一思想,成立整改工作领导小组,建立整改台账。\n"
    )
    assert _texts(ms) == [
        _n("认识统一是整改的前提。局党组召开专题会议统一思想,成立整改工作领导小组,建立整改台账。")
    ]


def test_layout_di_yi_and_organisation_part():
    ms = _seg(
        "一、整改工作组织情况\n"
        "局党组高度重视巡察整改工作。第一,成立巡察整改工作领导小组,由党组书记任组长。第二,召开专题民主生活会,"
        "开展批评与自我批评。第三,建立整改台账,实行销号管理。\n"
        "通过集中整改,全局党员干部的思想认识进一步提高。\n"
        "二、整改落实情况\n"
        "1.关于意识形态工作责任制落实不到位的问题\n"
        "整改落实情况:修订意识形态工作责任制实施细则,每半年开展一次意识形态专题研判。\n"
    )
    assert _texts(ms) == [
        _n("成立巡察整改工作领导小组,由党组书记任组长。"),
        _n("召开专题民主生活会,开展批评与自我批评。"),
        _n("建立整改台账,实行销号管理。"),
        _n("修订意识形态工作责任制实施细则,每半年开展一次意识形态专题研判。"),
    ]
    assert [m.heading_path for m in ms[:3]] == [("一、整改工作组织情况",)] * 3


def test_traditional_synthetic_notice_same_ids_as_simplified():
    body = (
        "二、整改落實情況\n"
        "1.黨內政治生活還不夠嚴肅的問題\n"
        "整改結果及成效:一是嚴格執行黨組工作條例,完善黨組議事規則。二是高質量開好民主生活會,認真開展批評與自我批評。\n"
    )
    trad = _seg(body, head=to_simplified(HEAD).replace("县", "縣"), nid="t")
    simp = _seg(to_simplified(body), nid="t")
    assert [m.id for m in trad] == [m.id for m in simp]
    assert _texts(trad) == [
        _n("嚴格執行黨組工作條例,完善黨組議事規則。"),
        _n("高質量開好民主生活會,認真開展批評與自我批評。"),
    ]
    assert [m.text_simplified for m in trad] == _texts(simp)


def test_violation_checker_is_not_vacuous():
    notice = read_notice_bytes(
        (
            HEAD
            + "一、整改落实情况\n1.关于会议记录不规范的问题\n整改措施:一是规范会议记录,使用专门记录本。\n"
            + TAIL
        ).encode(),
        "check",
    )

    def rec(text: str) -> MeasureRecord:
        return MeasureRecord(measure_id("check", text), "check", None, None, (), text, text)

    bad = {
        "返回首页": "chrome",
        "联系电话:0000-1234567。": "contact",
        "针对“会议记录不规范”的问题。": "problem statement",
        "1.关于会议记录不规范的问题": "heading line",
        "关于会议记录不规范的问题": "heading title",
        "中共某某县教育局党组关于巡察整改情况的通报": "title/opening",
        "根据县委统一部署,县委第一巡察组对县教育局党组开展了巡察。现将巡察整改情况予以公布。": "title/opening",
        "通过集中整改,全局党员干部的思想认识进一步提高。": "summary/tally",
        "巡察反馈的33个问题,已完成整改32个。": "summary/tally",
        "一是规范会议记录,使用专门记录本。": "starts with list marker",
        "(1)规范会议记录,使用专门记录本。": "starts with list marker",
        "1.规范会议记录,使用专门记录本。": "starts with list marker",
        "规范会议记录,使用专门记录本": "ends mid-sentence",
        ",使用专门记录本。": "starts mid-sentence",
    }
    for text, kind in bad.items():
        found = measure_violations(notice, [rec(text)])
        assert any(v.startswith(kind) for v in found), (text, found)
    ok = "针对机关第一党支部组织生活不规范问题,召开党委会议,对支部书记进行批评教育。"
    assert measure_violations(notice, [rec(ok), rec("规范会议记录,使用专门记录本。")]) == []


def test_sample_html_notice_with_ascii_punctuation_and_other_issuer():
    # data/samples: an education bureau's page, ASCII punctuation, "1. … 2. …" and "(1) … (2) …" inline
    from classify.notices.reading import read_notice

    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "synthetic_education_bureau.html"
    notice = read_notice(sample)
    ms = segment_notice(notice)
    assert measure_violations(notice, ms) == []
    assert len(ms) == 11
    assert {m.issuer for m in ms} == {"中共某区教育局党组"} and {m.date for m in ms} == {"2025-03-18"}
    assert ms[4].text == '开展"双减"专项督查,对12所学校下发整改通知.'
    assert ms[4].heading_path[-1] == "2.关于中小学课后服务质量不高的问题"
    assert ms[6].text.endswith("追回违规支出3.2万元.")  # a decimal point is not a list marker


# --- pages as published: issuer, news reports, cut-off pages, lost line breaks ---------------------


def _page(text: str, nid: str = "page"):
    return read_notice_bytes(text.encode("utf-8"), nid)


def _issuer(text: str) -> str | None:
    from classify.notices.segmenting import notice_issuer

    return notice_issuer(_page(text))


_OPENING_TEXT = "按照巡察工作有关要求,现将巡察整改进展情况予以公布。"


def test_issuer_from_the_title_never_from_its_breadcrumb():
    page = ("设为首页 | 加入收藏\n首页 > 中共某区融媒体中心党组关于巡察整改进展情况的通报\n"
            "中共某区融媒体中心党组关于巡察整改进展情况的通报\n来源:区纪委区监委\n" + _OPENING_TEXT)
    assert _issuer(page) == "中共某区融媒体中心党组"


def test_issuer_from_the_body_of_a_notice_without_title():
    assert _issuer("根据区委统一部署,区委巡察二组对区科学技术协会(以下简称区科协)开展了巡察,并反馈了巡察意见。"
                   + _OPENING_TEXT) == "区科学技术协会"
    assert _issuer("根据市委统一部署,市委第四巡察组于2024年7月9日至9月14日对市卫生健康委党组开展了巡察。"
                   + _OPENING_TEXT) == "市卫生健康委党组"
    assert _issuer("根据省委统一部署,省委第一巡视组对郑州市进行了巡视。" + _OPENING_TEXT) == "郑州市"


def test_issuer_of_a_news_report_on_a_feedback_or_a_meeting():
    assert _issuer("市委第二巡察组向市残联党组反馈巡察情况\n根据市委统一安排,8月6日,市委第五巡察组向市残联党组"
                   "反馈巡察情况。") == "市残联党组"
    assert _issuer("8月31日,市委第四巡察组召开巡察市卫健委党委情况反馈会,市纪委常委出席会议。") == "市卫健委党委"
    assert _issuer("为推动巡察整改工作责任落实,9月27日,市医疗保障局召开巡察整改工作领导小组第二次会议。") == "市医疗保障局"


def test_issuer_from_the_source_line_but_not_from_a_publisher():
    assert _issuer("某局开展专项督查\n信息来源:中山市审计局 发布日期:2023年04月03日\n近日,开展审计整改专项督查。") \
        == "中山市审计局"
    assert _issuer("某局开展专项督查\n信息来源:市委巡察办\n近日,开展专项督查。") is None


def test_issuer_is_none_when_the_page_names_none():
    assert _issuer("根据区委巡察工作统一部署," + _OPENING_TEXT + "\n一、加强组织领导\n成立领导小组,制定整改方案。") is None


def test_news_report_lists_are_demands_or_pledges_not_measures():
    page = ("市委第三巡察组向市教育局党组反馈巡察情况\n9月10日,市委第三巡察组向市教育局党组反馈巡察情况。\n"
            "组长提出了三点意见建议:一是提高政治站位,推动教育事业高质量发展;二是压实管党治党责任,完善长效机制;"
            "三是加强干部队伍建设,营造风清气正的政治生态。\n"
            "局长表示,局党组将诚恳接受、照单全收。一是直面问题不回避,以坚决态度对待整改;二是彻底整改不敷衍,"
            "以有力措施销号清零。\n"
            "会上,党委书记就抓好巡察整改工作提出两点要求:\n一是提高认识,以高度的政治责任感认识巡察整改工作。\n"
            "二是狠抓落实,各支部、各科室要逐条梳理问题清单、任务清单和责任清单。\n"
            "巡察也发现了一些问题,主要有:一是学习贯彻上级精神不够深入,统筹协调有待提高;二是落实党风廉政建设责任制还有差距。")
    assert segment_notice(_page(page)) == []


def test_a_notice_keeps_its_lists_and_a_page_without_opening_keeps_them_too():
    notice = ("中共某县民政局党组关于巡察整改进展情况的通报\n" + _OPENING_TEXT + "\n一、组织领导情况\n"
              "局党组书记表示要抓好整改,具体措施如下:一是成立巡察整改工作领导小组,由党组书记任组长;"
              "二是制定整改方案,建立问题清单、任务清单、责任清单。")
    assert len(segment_notice(_page(notice))) == 2  # a published notice: its lists are the issuer's
    page_five = ("三是坚持治当前与管长远协同发力,建立季度常态化抽查机制,规范电费收取行为。\n"
                 "(23)推动村(社区)履行合同约定,做好到期押金退还工作。\n"
                 "一是针对合同押金到期未退还问题,开展专项排查行动,建立台账并系统梳理。\n"
                 "二是督促相关村(社区)严格履行合同约定,建立到期押金动态跟踪台账,实行销号管理。")
    assert len(segment_notice(_page(page_five))) == 3  # a later page of a notice starts mid-list


def test_root_causes_are_not_measures():
    page = ("关于巡察整改落实情况的通报\n" + _OPENING_TEXT + "\n一、查找问题根源\n"
            "经过对照检查,根源上主要有以下几方面的原因:一是对制度的认识不够深入,导致思想上重视不够。"
            "二是对规范标准不够熟悉,导致在具体操作中不够严谨;三是规范管理的意识还不够强。")
    assert segment_notice(_page(page)) == []


def test_the_fragment_a_cut_off_page_ends_in_is_not_a_measure():
    page = ("中共某区科协党组关于巡察整改进展情况的通报\n" + _OPENING_TEXT + "\n一、加强组织领导\n"
            "1.提高思想认识,压实整改主体责任。召开巡察整改专题民主生活会,形成层层落实的工作局面。\n"
            "2.细化整改措施,确保整改有序推进。建立整改动态台账,严格对账销号,确保条条有整改。\n"
            "二、巡察反馈问题的整改情况\n(一)聚焦贯彻落实党的路线方针政策方面\n"
            "1.关于理论学习不深入的问题\n整改情况:一是组织专题集中学习习近平总书记重要讲话精神。二是组建宣传小分队"
            "深入社区开展理论宣讲3场次,每次理论学习均由班子")
    texts = [m.text for m in segment_notice(_page(page))]
    assert len(texts) == 3 and texts[-1] == "组织专题集中学习习近平总书记重要讲话精神。"


def test_headings_run_into_one_line_are_split():
    page = ("学院巡察整改落实情况的通报\n2024年10月,校党委巡察组对我院党委开展专项巡察,现对我院巡察整改落实情况予以通报。 "
            "一、提高政治站位,强化组织领导 学院党委高度重视问题整改,成立整改工作领导小组,制定《巡察整改任务分解表》。 "
            "二、聚焦突出问题,精准实施整改 修订学院议事规则,明确“三重一大”事项清单和决策程序。")
    ms = segment_notice(_page(page))
    assert [m.text for m in ms] == ["学院党委高度重视问题整改,成立整改工作领导小组,制定《巡察整改任务分解表》。",
                                    "修订学院议事规则,明确“三重一大”事项清单和决策程序。"]
    assert ms[0].heading_path == ("一、提高政治站位,强化组织领导",) and ms[0].issuer == "学院"


def test_a_paren_heading_that_lost_its_opening_bracket():
    page = ("根据中央统一部署,中央巡视组对某部党组开展了常规巡视。" + _OPENING_TEXT + "\n一、党组履行巡视整改主体责任情况\n"
            "部党组坚持以习近平新时代中国特色社会主义思想为指引,扎实做好巡视“后半篇文章”。\n"
            "一)认真履行巡视整改第一责任人责任。主要负责同志对巡视整改负首责、负总责,牵头制定整改方案。"
            "二)领导班子成员认真落实“一岗双责”。按照职责分工积极领办具体整改任务。")
    ms = segment_notice(_page(page))
    assert [m.text for m in ms] == ["认真履行巡视整改第一责任人责任。主要负责同志对巡视整改负首责、负总责,牵头制定整改方案。",
                                    "领导班子成员认真落实“一岗双责”。按照职责分工积极领办具体整改任务。"]
    assert ms[0].issuer == "某部党组"
