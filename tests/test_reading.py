"""classify.notices.reading: decoding, HTML stripping, chrome removal, simplified form, bad input."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import opencc
import pytest
from helpers import CHROME_MARKERS

from classify.notices.reading import (
    MAX_NOTICE_BYTES,
    NoticeError,
    decode_bytes,
    is_chrome_line,
    normalise_text,
    read_notice,
    read_notice_bytes,
    to_simplified,
)
from classify.notices.segmenting import segment_notice

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"
SEEDS = sorted(SEED_DIR.glob("*.txt"))
SIMPLIFIED_SEEDS = [p for p in SEEDS if not p.name.startswith("001")]
TRADITIONAL_SEED = next(p for p in SEEDS if p.name.startswith("001"))

# Substrings that only web-page furniture contains (checked on the simplified lines).
# Short words that are chrome when they make up a whole line (they also occur in real prose).
CHROME_WORDS = {"收藏", "关注", "招标", "业主", "微信", "微博", "首页", "分享", "打印", "关闭", "-", "|"}


def _records(measures):
    return [(m.id, m.text, m.text_simplified, m.heading_path, m.issuer, m.date) for m in measures]


def _chrome_lines(simplified: str) -> list[str]:
    return [
        line
        for line in simplified.split("\n")
        if line.strip() in CHROME_WORDS or any(marker in line for marker in CHROME_MARKERS)
    ]


def _assert_one_line_error(exc: NoticeError, path: Path, *words: str) -> None:
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg, msg
    assert str(path) in msg, msg
    assert exc.path == str(path)
    for word in words:
        assert word in msg.lower(), msg


# --- the seeds ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_seed_reads_as_utf8(path):
    notice = read_notice(path)
    assert notice.encoding == "utf-8"
    assert notice.notice_id == path.stem
    assert notice.path == str(path)
    assert notice.text and notice.simplified
    # one paragraph per line, no empty lines, line-aligned simplified form
    assert "" not in notice.lines
    assert len(notice.lines) == len(notice.simplified.split("\n"))
    assert all(line == line.strip() for line in notice.lines)
    # full-width punctuation is normalised
    assert not re.search("[\uff01-\uff5e\u3000\xa0]", notice.text)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_seed_has_no_chrome_lines(path):
    notice = read_notice(path)
    assert _chrome_lines(notice.simplified) == []
    assert not [line for line in notice.simplified.split("\n") if is_chrome_line(line)]
    # the content itself survives: the closing line and a heading
    assert any(line.startswith("欢迎") for line in notice.simplified.split("\n"))
    assert any(re.match(r"^[一二三]、", line) for line in notice.lines)


def test_seed_chrome_lines_are_really_dropped():
    """The raw seed files do contain chrome, so the test above is not vacuous."""
    raw = "\n".join(to_simplified(p.read_text(encoding="utf-8")) for p in SEEDS)
    for marker in (
        "登录",
        "返回首页",
        "上一篇",
        "友情链接",
        "ICP备",
        "公网安备",
        "点击量",
        "政务微信",
        "查看原文",
        "热门搜索",
        "电话咨询",
        "字体大小",
    ):
        assert marker in raw, marker


def test_seed_004_trailer_portal_link_dropped():
    notice = read_notice(next(p for p in SEEDS if p.name.startswith("004")))
    assert "三晋通" not in notice.lines


def test_short_lines_after_the_registration_line_are_footer_links():
    page = "一、整改措施\n1.加强理论学习,每月集中学习一次。\n京ICP备12345678号\n某某市政务服务网\n国务院客户端\n"
    notice = read_notice_bytes(page.encode(), "footer")
    assert notice.lines == ["一、整改措施", "1.加强理论学习,每月集中学习一次。"]


def test_seed_meta_date_from_page_header():
    assert read_notice(TRADITIONAL_SEED).meta_date == "2023-07-05"
    assert read_notice(next(p for p in SEEDS if p.name.startswith("002"))).meta_date == "2025-05-14"


# --- encodings ----------------------------------------------------------------------------


def _gbk_text(path: Path) -> str:
    # 000 and 002 contain U+00A0 (no-break space), which GBK cannot encode; a GBK page would carry
    # a plain or ideographic space there, and both normalise to the same text.
    return path.read_text(encoding="utf-8").replace("\xa0", " ")


@pytest.mark.parametrize("path", SIMPLIFIED_SEEDS, ids=lambda p: p.name[:3])
def test_gbk_reencoding_gives_same_notice_and_measures(path, tmp_path):
    plain = read_notice(path)
    target = tmp_path / path.name  # same stem -> same notice id -> same measure ids
    target.write_bytes(_gbk_text(path).encode("gbk"))
    gbk = read_notice(target)
    assert gbk.encoding.replace("_", "").lower() in ("gb18030", "gbk", "gb2312", "cp936")
    assert gbk.notice_id == plain.notice_id
    assert gbk.text == plain.text
    assert gbk.simplified == plain.simplified
    assert gbk.meta_date == plain.meta_date
    assert _records(segment_notice(gbk)) == _records(segment_notice(plain))


def test_gb18030_reencoding_of_000_unchanged_text(tmp_path):
    # 000 has U+00A0, not in GBK: GB18030 encodes every code point, so no substitution is needed.
    path = SEEDS[0]
    target = tmp_path / path.name
    target.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    plain, other = read_notice(path), read_notice(target)
    assert other.text == plain.text
    assert _records(segment_notice(other)) == _records(segment_notice(plain))


def test_big5_reencoding_of_traditional_seed(tmp_path):
    # Seed 001 writes 持之以恒 with U+6052 恒, which strict Big5 lacks (Big5 has 恆, U+6046; t2s maps
    # 恆 -> 恒). A Big5 page carries 恆, so both files here are made from the 恆 text.
    text = TRADITIONAL_SEED.read_text(encoding="utf-8").replace("恒", "恆")
    (tmp_path / "utf8").mkdir()
    (tmp_path / "big5").mkdir()
    utf8_path = tmp_path / "utf8" / TRADITIONAL_SEED.name
    big5_path = tmp_path / "big5" / TRADITIONAL_SEED.name
    utf8_path.write_text(text, encoding="utf-8")
    big5_path.write_bytes(text.encode("big5"))
    plain, big5 = read_notice(utf8_path), read_notice(big5_path)
    assert big5.encoding.lower().replace("_", "") in ("big5", "cp950", "big5hkscs")
    assert big5.text == plain.text
    assert big5.simplified == plain.simplified
    assert _records(segment_notice(big5)) == _records(segment_notice(plain))
    # the simplified form (and so every id) equals the original seed's, 恆/恒 notwithstanding
    original = segment_notice(read_notice(TRADITIONAL_SEED))
    got = segment_notice(big5)
    assert [(m.id, m.text_simplified, m.heading_path) for m in got] == [
        (m.id, m.text_simplified, m.heading_path) for m in original
    ]


def test_cp950_reencoding_of_traditional_seed(tmp_path):
    target = tmp_path / TRADITIONAL_SEED.name
    target.write_bytes(TRADITIONAL_SEED.read_text(encoding="utf-8").encode("cp950"))
    assert read_notice(target).text == read_notice(TRADITIONAL_SEED).text


@pytest.mark.parametrize("path", [SEEDS[0], TRADITIONAL_SEED], ids=["000", "001"])
def test_utf8_bom_and_crlf(path, tmp_path):
    plain = read_notice(path)
    target = tmp_path / path.name
    target.write_bytes(
        b"\xef\xbb\xbf" + path.read_text(encoding="utf-8").replace("\n", "\r\n").encode("utf-8")
    )
    bom = read_notice(target)
    assert bom.encoding == "utf-8-sig"
    assert bom.text == plain.text
    assert not bom.text.startswith("\ufeff")
    assert _records(segment_notice(bom)) == _records(segment_notice(plain))


def test_gbk_file_without_any_hint_decodes(tmp_path):
    text = (
        "中共某某县卫生健康局党组关于巡察整改情况的通报\n"
        "根据县委统一部署,县委第二巡察组对县卫生健康局党组开展了巡察。现将巡察整改情况予以公布。\n"
        "一、整改落实情况\n"
        "1.关于医疗机构监管不到位的问题\n"
        "整改落实情况:一是开展医疗机构依法执业专项检查,覆盖全县医疗机构。二是建立医疗机构不良执业行为记分台账。\n"
        "欢迎广大干部群众对巡察整改落实情况进行监督。\n"
        "中共某某县卫生健康局党组\n"
        "2024年3月1日\n"
    )
    target = tmp_path / "gbk_notice.txt"
    target.write_bytes(text.encode("gbk"))
    notice = read_notice(target)
    assert notice.text == normalise_text(text)
    assert "县卫生健康局" in notice.text
    assert [m.text for m in segment_notice(notice)] == [
        "开展医疗机构依法执业专项检查,覆盖全县医疗机构。",
        "建立医疗机构不良执业行为记分台账。",
    ]


def test_decode_bytes_reports_encoding():
    assert decode_bytes("整改落实情况".encode())[1] == "utf-8"
    assert decode_bytes("整改".encode("utf-16"))[1] == "utf-16"


# --- HTML ---------------------------------------------------------------------------------


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>巡察整改情况通报_某某市科学技术局</title>
<script type="text/javascript">var _hmt = _hmt || []; document.write("登录 返回首页");</script>
<style>.nav {{ color: #333; }}</style>
</head>
<body>
<div class="{nav}"><a href="/">首页</a> <a href="/login">登录</a> <a href="/">返回首页</a></div>
<div class="{crumb}">当前位置:<a href="/">首页</a> &gt; <a href="/xxgk">信息公开</a> &gt; 通知公告</div>
<div class="content">
@BODY@
</div>
<div class="{share}">分享到 微信 微博</div>
<div class="{footer}">
<p>上一篇:关于开展2024年度科技计划项目申报的通知</p>
<p>下一篇:没有了</p>
<p>友情链接:中国政府网 | 科学技术部 | 省科技厅</p>
<p>主办单位:某某市科学技术局 网站标识码:3302000001</p>
<p>浙ICP备05001234号</p>
<p>浙公网安备 33020302000123号</p>
<p>访问量:123456</p>
<p>您是本站第123456位访客</p>
</div>
</body></html>
"""


def _html_page(lines: list[str], *, classes: dict[str, str] | None = None, traditional: bool = False) -> str:
    """A CMS-like page: the lines in <p> inside div.content, wrapped in nav, breadcrumb, share, footer."""
    c = {"nav": "nav", "crumb": "breadcrumb", "share": "share", "footer": "footer"} | (classes or {})
    body = "\n".join(f"<p>{html.escape(line)}</p>" for line in lines)
    page = _PAGE.format(**c)
    if traditional:  # a Big5 site writes its furniture in traditional characters too
        page = opencc.OpenCC("s2t").convert(page)
    return page.replace("@BODY@", body)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.name[:3])
def test_html_wrapped_seed_gives_same_measures(path, tmp_path):
    plain = read_notice(path)
    target = tmp_path / f"{path.stem}.html"
    target.write_text(_html_page(path.read_text(encoding="utf-8").splitlines()), encoding="utf-8")
    page = read_notice(target)
    assert page.notice_id == plain.notice_id
    assert _chrome_lines(page.simplified) == []
    assert "巡察整改情况通报_某某市科学技术局" not in page.text  # <title> is not body text
    assert "_hmt" not in page.text  # <script> is dropped
    assert page.text == plain.text
    assert _records(segment_notice(page)) == _records(segment_notice(plain))


@pytest.mark.parametrize("path", [SEEDS[2], TRADITIONAL_SEED], ids=["002", "001"])
def test_html_page_in_legacy_encoding(path, tmp_path):
    plain = read_notice(path)
    text = _gbk_text(path)
    enc = "big5" if path == TRADITIONAL_SEED else "gbk"
    if enc == "big5":
        text = text.replace("恒", "恆")  # see test_big5_reencoding_of_traditional_seed
    target = tmp_path / f"{path.stem}.htm"
    page_html = _html_page(text.splitlines(), traditional=enc == "big5").replace("utf-8", enc)
    target.write_bytes(page_html.encode(enc))
    page = read_notice(target)
    assert page.simplified == plain.simplified
    assert [(m.id, m.heading_path) for m in segment_notice(page)] == [
        (m.id, m.heading_path) for m in segment_notice(plain)
    ]


def test_html_with_unrecognised_class_names_still_gives_same_measures(tmp_path):
    path = SEEDS[2]
    plain = read_notice(path)
    bland = {"nav": "top", "crumb": "pos", "share": "tools", "footer": "bottom"}
    target = tmp_path / f"{path.stem}.html"
    target.write_text(
        _html_page(path.read_text(encoding="utf-8").splitlines(), classes=bland), encoding="utf-8"
    )
    assert _records(segment_notice(read_notice(target))) == _records(segment_notice(plain))


def test_html_with_unrecognised_class_names_has_no_chrome(tmp_path):
    path = SEEDS[2]
    bland = {"nav": "top", "crumb": "pos", "share": "tools", "footer": "bottom"}
    target = tmp_path / f"{path.stem}.html"
    target.write_text(
        _html_page(path.read_text(encoding="utf-8").splitlines(), classes=bland), encoding="utf-8"
    )
    assert _chrome_lines(read_notice(target).simplified) == []


# --- traditional script -------------------------------------------------------------------


def test_traditional_seed_simplified_form():
    notice = read_notice(TRADITIONAL_SEED)
    assert "区科学技术局党组" in notice.simplified
    assert "整改" in notice.simplified
    for trad in "區黨術與國學習對會關":
        assert trad not in notice.simplified, trad
    # the published text keeps the issuer's script
    assert "區科學技術局黨組" in notice.text
    for trad in "區黨術與":
        assert trad in notice.text, trad
    assert len(notice.text) == len(notice.simplified)


def test_simplified_input_unchanged_by_t2s():
    notice = read_notice(SEEDS[0])
    assert notice.simplified == notice.text


# --- bad input ----------------------------------------------------------------------------


def test_empty_file(tmp_path):
    target = tmp_path / "empty.txt"
    target.write_bytes(b"")
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target, "empty")


def test_whitespace_only_file(tmp_path):
    target = tmp_path / "blank.txt"
    target.write_text(" \n\t\r\n\u3000\n", encoding="utf-8")
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target)


def test_binary_file(tmp_path):
    target = tmp_path / "image.txt"
    target.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4)
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target, "binary")


def test_too_large_with_small_limit(tmp_path):
    target = tmp_path / SEEDS[0].name
    target.write_bytes(SEEDS[0].read_bytes())
    with pytest.raises(NoticeError) as ei:
        read_notice(target, max_bytes=1000)
    _assert_one_line_error(ei.value, target, "too large")
    assert read_notice(target, max_bytes=10**6).text  # the same file under a larger limit reads


def test_too_large_default_limit_sparse_file(tmp_path):
    target = tmp_path / "huge.txt"
    with open(target, "wb") as f:
        f.truncate(20 * 1024 * 1024)  # sparse: no 20 MB written
    assert target.stat().st_size > MAX_NOTICE_BYTES
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target, "too large")


@pytest.mark.parametrize("suffix", [".pdf", ".docx", ".doc", ""])
def test_unsupported_extension(tmp_path, suffix):
    target = tmp_path / f"notice{suffix}"
    target.write_text("中共某某局党组关于巡察整改情况的通报", encoding="utf-8")
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target, "unsupported")


def test_unreadable_file(tmp_path):
    target = tmp_path / "secret.txt"
    target.write_text("整改落实情况", encoding="utf-8")
    target.chmod(0)
    try:
        if os.access(target, os.R_OK):
            pytest.skip("running as a user whom chmod 000 does not deny (root)")
        with pytest.raises(NoticeError) as ei:
            read_notice(target)
        _assert_one_line_error(ei.value, target, "permission")
    finally:
        target.chmod(0o600)


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(NoticeError) as ei:
        read_notice(missing)
    _assert_one_line_error(ei.value, missing, "not found")
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(NoticeError) as ei:
        read_notice(folder)
    _assert_one_line_error(ei.value, folder, "directory")


def test_chrome_only_page(tmp_path):
    target = tmp_path / "chrome.html"
    target.write_text(_html_page(["返回首页", "上一篇:没有了"]), encoding="utf-8")
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target)


def test_undecodable_bytes(tmp_path):
    target = tmp_path / "latin.txt"
    target.write_bytes("Résumé, café, naïve, façade".encode("latin-1") * 3)
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target, "encoding")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xef\xbb\xbf" + "巡察整改情况通报".encode("gbk"), id="utf8-bom-then-gbk"),
        pytest.param(b"\xff\xfe" + "整改".encode("utf-16-le") + b"a", id="utf16-odd-length"),
        pytest.param(b"\xff\xfe\x00\xd8a\x00", id="utf16-lone-surrogate"),
    ],
)
def test_bad_bytes_after_bom(tmp_path, data):
    target = tmp_path / "bom.txt"
    target.write_bytes(data)
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    _assert_one_line_error(ei.value, target)


def test_error_message_one_line_even_for_odd_file_name(tmp_path):
    target = tmp_path / "bad\nname.txt"
    target.write_bytes(b"")
    with pytest.raises(NoticeError) as ei:
        read_notice(target)
    assert "\n" not in str(ei.value)


def test_read_notice_bytes_errors_name_the_given_path():
    with pytest.raises(NoticeError) as ei:
        read_notice_bytes(b"\x00\x01\x02", "x", path="upload/x.txt")
    assert str(ei.value).startswith("upload/x.txt: ")
    assert "\n" not in str(ei.value)


def test_source_line_names_the_publishing_body_not_a_discipline_office_or_outlet():
    def source(text: str) -> str | None:
        return read_notice_bytes(text.encode("utf-8"), "n").meta_source

    assert source("标题\n信息来源:中山市审计局 发布日期:2023年04月03日\n正文。") == "中山市审计局"
    assert source("标题\n• 发布机构:\n婺城区文旅体局\n正文。") == "婺城区文旅体局"  # label and value on two lines
    assert source("标题\n- 信息来源:市卫生健康委\n正文。") == "市卫生健康委"
    assert source("标题\n信息来源:市委巡察办\n来源:区纪委区监委\n正文。") is None  # publishers for others
    assert source("标题\n来源: 中国教育在线\n正文。") is None


def test_pinyin_printed_after_characters_is_dropped():
    from classify.notices.reading import drop_ruby

    assert drop_ruby("根據(jù)區(qū)委部署,巡察組(zǔ)反饋(size)") == "根據區委部署,巡察組反饋(size)"
    n = read_notice_bytes("區(qū)委第二巡察組向區(qū)教育局反饋巡察情況。".encode(), "n")
    assert n.text == "區委第二巡察組向區教育局反饋巡察情況。"


def test_paragraphs_run_into_one_line_are_split_at_their_headings():
    text = ("现对我院巡察整改落实情况予以通报。 一、提高政治站位,强化组织领导 学院党委成立整改工作领导小组。 "
            "(二)查找问题根源 党委班子成员认真学习讨 论。")
    assert normalise_text(text).split("\n") == [
        "现对我院巡察整改落实情况予以通报。", "一、提高政治站位,强化组织领导", "学院党委成立整改工作领导小组。",
        "(二)查找问题根源", "党委班子成员认真学习讨论。"]
    assert normalise_text("一、 整改工作开展情况") == "一、整改工作开展情况"  # a heading at a line start stays
