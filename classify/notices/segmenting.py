"""Cutting a notice into rectification measures (the unit of ../shared/codebook.md).

The notice is read as a tree of numbered headings (一、 > (一) > 1. > (1) > ①). Text under a
heading that has sub-headings is a lead-in; text under a leaf heading holds the actions:

* enumerated actions (一是/二是, 第一/第二, (1)(2), ①②, 1. 2.) at the start of a paragraph or
  after a sentence end are one measure each; unnumbered paragraphs beside them are lead-ins;
* without enumeration, each paragraph is one measure (trailing "整改结果:已完成整改" removed);
* a leaf heading line with content of its own ("(一)加强组织领导。成立…") is a measure itself,
  unless it only states a problem or names a section.

Outside leaf headings (the opening part, section lead-ins) only enumerated actions count. A
paragraph that opens with 下一步 starts the closing-plans section, so its items are never
filed under the last problem above it. The body ends at the closing "欢迎…监督" line.

Pages as published: a list whose lead sentence gives root causes (原因) is no measure; on a news report
(no "现将…予以公布" opening) neither is a list of someone's demands, suggestions or pledges (…要求:一要…, …表示,
一是…) or of problems found; the paragraph a cut-off page breaks off in is no measure; headings run into
one line ("…监督。二)…") are split. The issuer is read by :func:`notice_issuer`.

Patterns are matched on the simplified form; text is cut from the published form, so both
scripts give the same measures.
"""

from __future__ import annotations

import contextvars
import hashlib
import re
from dataclasses import asdict, dataclass, field

from classify.notices.issuers import issuer_kind
from classify.notices.reading import Notice, to_simplified

_CN_NUM = "一二三四五六七八九十"
_CN_VALUE = {c: i + 1 for i, c in enumerate(_CN_NUM)}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

# Heading styles, outermost first. A level is the style's rank, so notices that skip a style
# (一、 then 1.) still nest correctly.
_HEADING_STYLES: list[re.Pattern[str]] = [
    re.compile(rf"^[{_CN_NUM}]{{1,3}}\s*[、.,]\s*"),
    # "(一)", also as "一)" where a page lost the opening bracket
    re.compile(rf"^(?:\(\s*[{_CN_NUM}]{{1,3}}\s*\)|[{_CN_NUM}]{{1,3}}\))\s*[、.]?\s*"),
    re.compile(r"^\d{1,2}\s*(?:[、.](?!\d)|\s(?=\D))\s*"),
    re.compile(r"^(?:\(\s*\d{1,2}\s*\)|\d{1,2}\))\s*[、.]?\s*"),
    re.compile(rf"^[{_CIRCLED}]\s*[、.]?\s*"),
]

# Enumerated actions inside running text. Each alternative captures the ordinal.
_ITEM_MARKER = re.compile(
    rf"(?P<cn>[{_CN_NUM}]{{1,2}})(?:是|要)"
    rf"|第(?P<di>[{_CN_NUM}]{{1,2}})(?:是|[,、:;])"
    r"|\((?P<par>\d{1,2})\)"
    rf"|(?P<circ>[{_CIRCLED}])"
    r"|(?P<num>\d{1,2})[.、](?!\d)"
)
_SENTENCE_END = "。;;!?!?:."  # "." ends sentences in notices typed with ASCII punctuation

_LABEL_PREFIX = re.compile(
    r"^(?:整改(?:落实|完成)?(?:情况|措施|举措|结果及成效|成效|进展情况|进展)|落实情况|主要措施|具体措施|"
    r"主要做法|工作措施)\s*[::]\s*"
)
_RESULT_LINE = re.compile(r"^(?:整改(?:结果|状态|进度|时限)|完成情况|完成时限|责任单位|责任领导)\s*[::]\s*(?P<rest>.*)$")
_RESULT_SUFFIX = re.compile(r"\s*整改(?:结果|状态|进度)\s*[::][^。;]{0,20}[。;]?\s*$")
_CLOSING = re.compile(r"^欢迎.{0,30}(?:监督|批评|意见)|^(?:如有|如对).{0,20}(?:意见|建议)|^以上报告,?请予审议")
# the address of a report to a people's congress standing committee, opening or closing it
_ADDRESS = re.compile(r"^主任、(?:各位)?副主任")
_NEXT_STEPS = re.compile(r"^下一步")
_SUMMARY = re.compile(r"^(?:通过|经过)(?:集中|全面|前期|近期|阶段性)?整改|已完成整改\s*\d+\s*[个项条]|已整改完成\s*\d+"
                      r"|^截至.{0,30}(?:已完成|已整改|完成整改|整改完成)|\d+\s*[个项条](?:整改)?(?:任务|问题)?已(?:全部)?完成"
                      r"|^(?:目前|截至目前|至此),?.{0,20}(?:已完成|已整改|全部完成)")
# a sentence that opens a tally glued to the end of a measure ("…销号。通过集中整改,17个问题已全部完成…")
_TRAILING_SUMMARY = re.compile(r"(?<=[。;;])\s*(?:(?:通过|经过)(?:集中|全面|前期|阶段性)?整改|截至.{0,20}?),?.{0,12}?"
                               r"\d+\s*[个项条](?:问题|整改任务|任务)?(?:中)?已(?:全部)?(?:完成|整改).*$")
_PROBLEM = re.compile(r"^(?:针对|关于).{0,400}问题|问题$|问题的整改(?:情况|进展)|^问题\s*[一二三四五六七八九十\d]+\s*[::]")
# actions that end in 问题 ("纠正…聘用问题") are not problem statements
_SECTION_TITLE_END = re.compile(r"(?:整改(?:落实)?情况|落实情况|进展情况|方面(?:的问题)?|问题)[”\"]?[。.]?$")
_ACTION_START = re.compile(r"^(?:纠正|整改|解决|清理|查处|杜绝|防止|避免|堵塞)")
# A stand-alone problem statement: one sentence that opens with 针对/关于 and ends at 问题.
_PROBLEM_SENTENCE = re.compile(r"^(?:针对|关于)[^。;;]*问题[”\"]?(?:的整改情况)?[。.]?$|^问题\s*[一二三四五六七八九十\d]+\s*[::]")
_OPENING = re.compile(r"^(?:根据|按照).{0,200}(?:现将|予以公布|予以通报|通报如下|公布如下)")
_DATE_LINE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日$")
_ISSUER_WORDS = re.compile(r"(党组|党委|委员会|局|厅|办公室|委|院|政府|中心|协会|学会|公司|大学|学校)$")
# A published notice says what it publishes ("现将巡察整改进展情况予以公布"); a news report on a feedback
# meeting or a leading-group session does not.
_NOTICE_OPENING = re.compile(r"现将|现[对向].{0,30}(?:通报|公布|报告)|予以公布|予以公开|予以通报|通报如下|公布如下|报告如下|"
                             r"请予审议")
# The sentence that introduces a list says whose list it is. Root causes ("原因:一是…") are never actions; in a
# news report a list after 要求/强调/表示/提出…建议 is someone's demands, suggestions or pledges, not measures.
_CAUSES_LEAD = re.compile(r"原因|根源")
_SPEECH_LEAD = re.compile(r"要求|强调|指出|提出|表示|表态|建议|希望|讲话|发言|认为"
                          r"|(?:发现|存在)[^。]{0,12}问题|问题[^。]{0,6}(?:主要有|主要是|表现在)")  # or the problems found
_FOLLOWING = re.compile(r"按照|根据|依照|对照|遵照|结合")
_NEWS_PAGE: contextvars.ContextVar[bool] = contextvars.ContextVar("news_page", default=False)
# "。二、…", "。(二)…": headings run into one line where a page lost its paragraph breaks
# ("…;(二)…" after a semicolon is an inline list, not a heading)
_RUN_IN_HEADING = re.compile(rf"(?<=[。!?])\s*(?=[{_CN_NUM}]{{1,3}}、|\(?[{_CN_NUM}]{{1,3}}\))")
_TERMINAL = "。.;;!!??…”’\"')）】]》"
# a last line that ends in a signature or a date ("…验收。 商州区大荆中学 2018.06.15") is not cut off
_SIGNED = re.compile(r"(?:^|[。;!?])[^,。;!?]{0,25}(?:" + _ISSUER_WORDS.pattern.strip("()$") + r"|镇|乡|中学|小学|"
                     r"\d{4}\s*[.\-/年]\s*\d{1,2}\s*[.\-/月]\s*\d{1,2}\s*日?)$")
_KEY_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


HEADING_SEP = " > "  # a heading path as one string, everywhere in the package


def heading_string(value: object) -> str:
    """A heading path (list or tuple) or a heading string as one string; "" for a missing one (None, NaN)."""
    if isinstance(value, list | tuple):
        return HEADING_SEP.join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return "" if value is None or value != value else str(value)  # NaN != NaN


@dataclass(frozen=True)
class MeasureRecord:
    """One rectification measure with its place in the notice."""

    id: str
    notice_id: str
    issuer: str | None
    date: str | None
    heading_path: tuple[str, ...]
    text: str
    text_simplified: str
    position: int = 0

    @property
    def heading(self) -> str:
        return heading_string(self.heading_path)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heading_path"] = list(self.heading_path)
        d["heading"] = self.heading
        d["issuer_kind"] = issuer_kind(self.issuer)
        return d


def measure_id(notice_id: str, text: str) -> str:
    """Stable id from the notice id and the measure's normalised text (script, spacing, punctuation ignored)."""
    key = _KEY_DROP.sub("", to_simplified(text))
    return hashlib.sha1(f"{notice_id}\n{key}".encode()).hexdigest()[:16]


@dataclass
class _Line:
    pub: str  # published script
    simp: str  # simplified


@dataclass
class _Node:
    level: int
    title: _Line | None
    body: list[_Line] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)


_INLINE_SECOND_ITEM = re.compile(r"[。;;]\s*(?:2[.、](?!\d)|\(2\)|②)")


def _heading_match(simp: str) -> tuple[int, int] | None:
    """(level, marker length) when the line starts with a heading number.

    A long paragraph that starts "1." and goes on "…;2.…" lists items inline: it is not a heading.
    """
    for level, pattern in enumerate(_HEADING_STYLES):
        m = pattern.match(simp)
        if m and m.end() < len(simp):
            if level >= 2 and _INLINE_SECOND_ITEM.search(simp, m.end()) and len(simp) > 60:
                return None
            return level, m.end()
    return None


def _ordinal(m: re.Match[str]) -> tuple[str, int]:
    if m.group("cn"):
        return "cn", _cn_value(m.group("cn"))
    if m.group("di"):
        return "di", _cn_value(m.group("di"))
    if m.group("par"):
        return "par", int(m.group("par"))
    if m.group("circ"):
        return "circ", _CIRCLED.index(m.group("circ")) + 1
    return "num", int(m.group("num"))


def _cn_value(s: str) -> int:
    if len(s) == 1:
        return _CN_VALUE[s]
    if s[0] == "十":
        return 10 + _CN_VALUE.get(s[1], 0)
    return _CN_VALUE[s[0]] * 10 + (_CN_VALUE.get(s[1], 0) if s[1] != "十" else 0)


def _continues(text: str, first: re.Match[str]) -> bool:
    """True when a first marker ("一是", "(1)") is followed later in the paragraph by the second of its style."""
    style, _ = _ordinal(first)
    return any(_ordinal(m) == (style, 2) for m in _ITEM_MARKER.finditer(text, first.end()))


def _split_items(paragraphs: list[_Line]) -> tuple[list[_Line], bool]:
    """Split paragraphs at enumerated-action markers.

    Returns the pieces and whether any marker was found; without markers the paragraphs come
    back unchanged. Pieces before the first marker of a paragraph are lead-ins and dropped when
    markers exist. A marker counts only at a paragraph start or after a sentence end, and only
    when it continues the sequence of its style (一是 then 二是 …), so "统一是" never splits.
    """
    pieces: list[tuple[_Line, bool]] = []  # (piece, starts with marker)
    expected: dict[str, int] = {}
    found = False
    not_actions = False  # the current list is root causes, or (in a news report) someone's demands or pledges
    previous = ""
    for para in paragraphs:
        cuts: list[tuple[int, int, bool]] = []  # (start, marker end, not an action)
        for m in _ITEM_MARKER.finditer(para.simp):
            start = m.start()
            prev = para.simp[:start].rstrip()
            style, value = _ordinal(m)
            after_comma = bool(prev) and prev[-1] in ",,"
            if prev and prev[-1] not in _SENTENCE_END and not (after_comma and (value > 1 or _continues(para.simp, m))):
                continue
            # At a paragraph start any ordinal of the style counts (numbering may skip); inside
            # running text it must continue the sequence, allowing one skipped number.
            if prev and value != 1 and not expected.get(style, 1) <= value <= expected.get(style, 1) + 1:
                continue
            if value == 1 and style in expected and not prev and cuts:
                continue
            # "1." inside running text is too often a number in a title; trust it only if a 2. follows.
            if (style == "num" and value == 1 and prev
                    and not re.search(r"(?:^|[。;;])\s*2[.、](?!\d)", para.simp[m.end():])):
                continue
            if style not in expected or value == 1:  # a new list: its lead sentence says what the items are
                not_actions = _not_actions_lead(prev if prev else previous, from_previous=not prev)
            expected = {style: value + 1}
            cuts.append((start, m.end(), not_actions))
        previous = para.simp
        if not cuts:
            pieces.append((para, False))
            continue
        found = True
        if cuts[0][0] > 0:
            pieces.append((_cut(para, 0, cuts[0][0]), False))
        for i, (_start, marker_end, skip) in enumerate(cuts):
            end = cuts[i + 1][0] if i + 1 < len(cuts) else len(para.simp)
            pieces.append((_cut(para, marker_end, end), not skip))
    if not found:
        return paragraphs, False
    return [p for p, is_item in pieces if is_item], True


def _not_actions_lead(lead: str, *, from_previous: bool) -> bool:
    """True when the sentence that introduces a list makes its items something other than the issuer's actions.

    ``lead`` is the paragraph text before the list's first marker, or (``from_previous``) the paragraph before
    a list that opens its own paragraph, which introduces it only when it ends with a colon."""
    lead = lead.rstrip()
    if from_previous and not lead.endswith(":"):
        return False
    sentences = [s for s in re.split(r"[。;;!?]", lead) if s.strip()]
    last = sentences[-1] if sentences else ""
    speech = _SPEECH_LEAD.search(last) and not _FOLLOWING.search(last)  # "按照…工作要求" is no one's speech
    return bool(_CAUSES_LEAD.search(last) or (_NEWS_PAGE.get() and speech))


def _split_run_in_headings(lines: list[_Line]) -> list[_Line]:
    """Lines that hold several headings ("…监督。二)领导班子…") split at each heading after a sentence end.

    Pages whose paragraph breaks were lost without a trace; where a space marks the break, reading has split
    the line already (classify.notices.reading.normalise_text)."""
    out: list[_Line] = []
    for line in lines:
        starts = [m.start() for m in _RUN_IN_HEADING.finditer(line.simp) if m.start() > 0]
        bounds = [0, *starts, len(line.simp)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            part = _Line(line.pub[a:b].strip(), line.simp[a:b].strip())
            if part.simp:
                out.append(part)
    return out


MIN_MEASURE_CHARS = 12
_EDGE = re.compile(r"^[\s,,、:]+|[\s,,、:]+$")


def _cut(line: _Line, start: int, end: int) -> _Line:
    return _Line(_EDGE.sub("", line.pub[start:end]), _EDGE.sub("", line.simp[start:end]))


def _clean_measure(line: _Line) -> _Line | None:
    """Remove a trailing 整改结果 status; None when nothing substantive is left."""
    for pattern in (_RESULT_SUFFIX, _TRAILING_SUMMARY):
        m = pattern.search(line.simp)
        if m and m.start() > 0:
            line = _Line(line.pub[: m.start()].rstrip(), line.simp[: m.start()].rstrip())
    # fewer characters than any real action ("三是抓紧问题整改。" is a run-in label whose paragraph is missing)
    if len(_KEY_DROP.sub("", line.simp)) < MIN_MEASURE_CHARS:
        return None
    return line


def _prepare_body(lines: list[_Line]) -> list[_Line]:
    """Drop label lines ("整改落实情况:") and status lines; strip label prefixes."""
    out = []
    for line in lines:
        m = _LABEL_PREFIX.match(line.simp)
        if m:
            line = _Line(line.pub[m.end():], line.simp[m.end():])
            if not line.simp.strip():
                continue
        r = _RESULT_LINE.match(line.simp)
        if (r and len(r.group("rest")) <= 20) or _ADDRESS.match(line.simp):
            continue
        out.append(line)
    return out


def _is_heading_only(simp: str) -> bool:
    """A heading line's content that names a problem or section rather than reporting an action."""
    sentences = [x for x in re.split(r"[。;;]", simp) if x.strip()]
    if not sentences:
        return True
    if len(simp) < 60 and _SECTION_TITLE_END.search(simp):
        return True  # "(一)落实意识形态工作责任制有差距整改情况。" names a section, even with its full stop
    first, rest = sentences[0], "".join(sentences[1:])
    if len(rest) < 10 and _PROBLEM.search(first) and not _ACTION_START.search(first):
        return True
    if len(sentences) == 1 and _PROBLEM_SENTENCE.match(simp):
        return True
    # A title: one short clause, no sentence inside it and none closing it ("(四)巡察整改存在的问题");
    # a short item ending in 。 ("(1)修订报销管理办法,明确审批流程。") is an action.
    return len(sentences) == 1 and len(first) < 40 and not simp.rstrip().endswith(("。", ";", ";"))


def _line_pair(pub: str, simp: str) -> _Line:
    if len(pub) != len(simp):  # t2s changed the length; cut on the simplified form
        pub = simp
    return _Line(pub, simp)


def _parse_tree(lines: list[_Line]) -> _Node:
    root = _Node(level=-1, title=None)
    stack = [root]
    for line in lines:
        hm = _heading_match(line.simp)
        if hm is None:
            stack[-1].body.append(line)
            continue
        level, _ = hm
        while stack[-1].level >= level:
            stack.pop()
        node = _Node(level=level, title=line)
        stack[-1].children.append(node)
        stack.append(node)
    return root


def _measures_from(node: _Node, path: tuple[_Line, ...], out: list[tuple[tuple[_Line, ...], _Line]]) -> None:
    here = (*path, node.title) if node.title is not None else path
    body = _prepare_body(node.body)
    if node.children or node.title is None:
        # Lead-in text: only enumerated actions count (e.g. the organising part's 一是/二是).
        items, found = _split_items(body)
        if found:
            out.extend((here, item) for item in items)
        for child in node.children:
            _measures_from(child, here, out)
        return
    # A leaf heading's own text ("(一)加强组织领导。成立…") is a measure, or holds inline items, unless it
    # only names a problem or a section; it counts whether or not paragraphs follow it.
    hm = _heading_match(node.title.simp)
    marker_end = hm[1] if hm else 0
    own = _Line(node.title.pub[marker_end:], node.title.simp[marker_end:])
    own_items, own_found = _split_items([own])
    items, found = _split_items(body)
    if own_found:
        out.extend((here, item) for item in own_items)
    elif not found and not _is_heading_only(own.simp):
        # with enumerated actions below it, the heading's text is their title
        out.append((path, own))
    if found:
        out.extend((here, item) for item in items)
        return
    if not body:
        return
    if node.level == 0 and "下一步" in node.title.simp:
        return  # unnumbered closing plans are a lead-in (codebook: 下一步 items count when enumerated)
    for para in body:
        if _SUMMARY.search(para.simp) or _OPENING.search(para.simp) or _PROBLEM_SENTENCE.match(para.simp):
            continue
        # A section of unnumbered action paragraphs ("一、整改工作组织情况" then 成立…; 召开…) gives one
        # measure per paragraph, as a problem's paragraphs do.
        out.append((here, para))


def _next_steps_blocks(lines: list[_Line]) -> list[tuple[list[_Line], bool]]:
    """Split the body into (lines, is_next_steps) blocks; a non-heading paragraph opening with 下一步
    starts a 下一步 block (unless it already stands under a 下一步 section heading)."""
    blocks: list[tuple[list[_Line], bool]] = [([], False)]
    under_next_steps_heading = False
    for line in lines:
        heading = _heading_match(line.simp)
        if heading is not None and heading[0] == 0:
            under_next_steps_heading = "下一步" in line.simp
        if _NEXT_STEPS.match(line.simp) and heading is None and not under_next_steps_heading:
            blocks.append(([line], True))
        else:
            blocks[-1][0].append(line)
    return blocks


# --- the issuer ---------------------------------------------------------------------------------

# A body's name ends in what it is (…局, …党组, …医院, …镇); a bracket may follow ("(区教育局)", "(含县文联)").
_BODY_END = (r"(?:党组|党委|党工委|党总支|党支部|委员会|工委|委|局|厅|办公室|办|部|院|中心|协会|学会|联合会|联|工会|"
             r"公司|集团|学校|中学|小学|幼儿园|镇|乡|街道|社区|村|政府|站|所|馆|社|台|校|处|署|机关|"
             r"市|县|区|州|旗|盟)")  # a territory inspected as a whole: "对郑州市进行了巡视"
_NAME = (rf"(?:(?!巡[察视]|反馈|召开|会议|开展|进行|关于)[^\s,。、;:!?“”\"《》<>()\[\]]){{1,30}}?{_BODY_END}"
         r"(?:\([^()]{1,24}\))?")
# Words that make a name something else: the inspection itself, a meeting, the inspecting or disciplining body.
_NOT_A_NAME = re.compile(r"巡[察视]|整改|反馈|动员|会议|督查|调研|纪委|监委|纪检|领导小组|专题|^[我该本各全]")
_BREADCRUMB = re.compile(r"[>›»]|首页|当前位置|位置\s*:")
# Titles: "中共…党组关于…的通报", "学院“三重一大”…的通报", "XX局巡察整改情况通报".
_TITLE = re.compile(r"(?:通报|报告|公告|公示)$")
_TITLE_ISSUER = re.compile(rf"^(?:\[[^\]]*\])?(?:中共)?({_NAME})(?=关于|[“\"《]|巡[察视](?:反馈|整改)|(?:十|[一二三四五六七八九])+届)")
# The body or a news report names the rectifying body: "对市卫生健康委党组开展了巡察", "向市残联党组反馈",
# "巡察市卫健委党委情况反馈会", "市医疗保障局召开巡察整改工作领导小组会议", "…区民政局党组关于…".
_BODY_ISSUER = (
    re.compile(rf"(?:对|到)({_NAME})(?:\(以下简称[^()]*\))?(?:开展|进行)了?[^,。;]{{0,10}}?巡[察视]"),
    re.compile(rf"向({_NAME})(?:领导班子)?反馈"),
    re.compile(rf"巡[察视]({_NAME})(?:及[^,。;]{{0,12}})?(?:工作)?(?:情况)?(?:反馈|动员)"),
    re.compile(rf"(?:^|[,。;])\s*(?:中共)?({_NAME})关于"),
)
# A news report's title or lead: "[巡察整改]医院党委召开…", "9月27日,市医疗保障局召开…" (only there: in a notice's
# body a body that convenes a meeting need not be the issuer).
_LEAD_ISSUER = re.compile(rf"(?:^|[,。;])\s*(?:\[[^\]]*\])?(?:\d{{1,2}}月)?(?:\d{{1,2}}日)?(?:上午|下午|晚上)?({_NAME})"
                          rf"(?:立即|及时|专门)?(?:组织)?召开")


def _after_breadcrumb(line: str) -> str:
    """A line's text after its breadcrumb ("首页 > 中共…党组关于…" -> "中共…党组关于…")."""
    if not _BREADCRUMB.search(line):
        return line
    parts = re.split(r"[>›»]|位置\s*:", line)
    return parts[-1].strip()


def _name(candidate: str | None) -> str | None:
    """A cleaned body name, or None when the text is not one."""
    if not candidate:
        return None
    name = re.sub(r"\(以下简称[^()]*\)", "", candidate).strip()
    if not 2 <= len(name) <= 40 or _NOT_A_NAME.search(name) or _BREADCRUMB.search(name):
        return None
    return name


def notice_issuer(notice: Notice, lines: list[_Line] | None = None) -> str | None:
    """The body that issued a notice, as the page names it (simplified script); None when it names none.

    In order: the signature after the closing line, the title, the opening or a news report's lead (对…开展了
    巡察, 向…反馈, 巡察…情况反馈会, …召开, …关于…), the page's source line (信息来源:/来源:/发布机构:).
    Breadcrumbs are never read as the issuer: a title that repeats in one is read after its last separator."""
    if lines is None:
        lines = [_line_pair(p, s) for p, s in zip(notice.text.split("\n"), notice.simplified.split("\n"), strict=True)]
    end = next((i for i, line in enumerate(lines) if i > 0 and _CLOSING.search(line.simp)), len(lines))
    head, trailer = lines[:end], lines[end:]
    for line in trailer:
        s = line.simp.strip()
        if not _DATE_LINE.match(s) and len(s) <= 40 and _ISSUER_WORDS.search(s) and not re.search(r"[。,:;]", s):
            return s
    for line in head[:3]:  # a title: "中共…党组关于…"
        m = re.match(r"^(.{2,40}?)关于", _after_breadcrumb(line.simp))
        if m and _name(m.group(1)) and not re.search(r"[。,:;《“\"]", m.group(1)):
            return _name(m.group(1))
    for i, line in enumerate(head[:15]):
        s = _after_breadcrumb(line.simp.strip())
        if len(s) <= 80 and "。" not in s and _TITLE.search(s):
            name = _name((_TITLE_ISSUER.match(s) or [None, None])[1])
            if name:
                return name
        for pattern in (*_BODY_ISSUER, _LEAD_ISSUER) if i < 4 else _BODY_ISSUER:
            for m in pattern.finditer(s):
                name = _name(m.group(1))
                if name:
                    return name
    return _name(notice.meta_source) if notice.meta_source and re.search(rf"{_BODY_END}$", notice.meta_source) else None


def _issuer_and_date(notice: Notice, trailer: list[_Line], head: list[_Line]) -> tuple[str | None, str | None]:
    date = None
    for line in trailer:
        dm = _DATE_LINE.match(line.simp.strip())
        if dm:
            date = f"{int(dm.group(1)):04d}-{int(dm.group(2)):02d}-{int(dm.group(3)):02d}"
            break
    if date is None:
        date = notice.meta_date
    return notice_issuer(notice, [*head, *trailer]), date


def segment_notice(notice: Notice) -> list[MeasureRecord]:
    """Cut a notice into measures, in document order, each with its heading path."""
    lines = [_line_pair(p, s) for p, s in zip(notice.text.split("\n"), notice.simplified.split("\n"), strict=True)]
    end = len(lines)
    for i, line in enumerate(lines):
        if i > 0 and _CLOSING.search(line.simp):
            end = i
            break
    body, trailer = lines[:end], lines[end:]
    issuer, date = _issuer_and_date(notice, trailer, body)
    # A page cut off in mid-sentence (a stored opening, a page of a longer notice) ends in a fragment.
    last = next((ln.simp.rstrip() for ln in reversed(body) if ln.simp.strip()), "")
    fragment = last if last and last[-1] not in _TERMINAL and not _SIGNED.search(last) else None
    body = _split_run_in_headings(body)

    found: list[tuple[tuple[_Line, ...], _Line]] = []
    next_steps = (_Line("下一步", "下一步"),)
    news = _NEWS_PAGE.set(not any(_NOTICE_OPENING.search(ln.simp) for ln in body))
    try:
        for block_lines, is_next_steps in _next_steps_blocks(body):
            if not is_next_steps:
                _measures_from(_parse_tree(block_lines), (), found)
                continue
            # 下一步 paragraph: its enumerated items (inline or following) are the closing plans.
            lead, rest = block_lines[0], block_lines[1:]
            items, has_items = _split_items([lead])
            if has_items:
                found.extend((next_steps, item) for item in items)
            _measures_from(_parse_tree(rest), next_steps, found)
    finally:
        _NEWS_PAGE.reset(news)

    records: list[MeasureRecord] = []
    seen: set[str] = set()
    for path, line in found:
        if fragment and line.simp.strip() and fragment.endswith(line.simp.rstrip()):
            continue  # the measure the page breaks off in
        cleaned = _clean_measure(line)
        if cleaned is None:
            continue
        mid = measure_id(notice.notice_id, cleaned.simp)
        if mid in seen:  # the same sentence printed twice in one notice is one measure
            continue
        seen.add(mid)
        records.append(
            MeasureRecord(
                id=mid,
                notice_id=notice.notice_id,
                issuer=issuer,
                date=date,
                heading_path=tuple(p.pub for p in path),
                text=cleaned.pub,
                text_simplified=cleaned.simp,
                position=len(records),
            )
        )
    return records
