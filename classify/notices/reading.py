"""Reading a notice file: bytes -> text, web chrome dropped, punctuation normalised, simplified form.

The published text keeps the issuer's script (a traditional notice stays traditional); the
simplified form, made with OpenCC t2s, is what models see. Every problem with an input file is
raised as :class:`NoticeError`, whose message names the file and the problem in one line.
"""

from __future__ import annotations

import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import charset_normalizer

from classify.errors import NoticeError

SUPPORTED_SUFFIXES = (".txt", ".html", ".htm")
MAX_NOTICE_BYTES = 5 * 1024 * 1024  # real notices are 10-100 KB; 5 MB is generous

# Only these encodings are considered: notices are published in UTF-8, GB2312/GBK/GB18030 or Big5.
# cp950 (Windows Big5) rather than strict big5: it also holds characters such as 恒 that
# traditional notices use and strict Big5 lacks.
_CANDIDATE_ENCODINGS = ["utf_8", "gb18030", "cp950"]


@dataclass(frozen=True)
class Notice:
    """A notice as read: ``text`` in the published script, ``simplified`` the t2s form (same lines)."""

    notice_id: str
    path: str
    encoding: str
    text: str
    simplified: str
    meta_date: str | None = None  # from a page's "发布时间:" line, which is dropped as chrome
    meta_source: str | None = None  # the body a page's "信息来源:/来源:/发布机构:" line names (not a publisher)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional characters to simplified (OpenCC t2s); simplified input is unchanged."""
    return _t2s().convert(text)


# --- decoding -------------------------------------------------------------------------------


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control > len(sample) * 0.05


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the bytes look like UTF-16 text without a byte-order mark.

    In UTF-16 every ASCII character (newlines, digits, punctuation) carries a zero byte, always on
    the same side of the pair; other text files have no zero bytes at all.
    """
    sample = data[: 8192 - (len(data[:8192]) % 2)]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    for encoding, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros >= max(2, 5 * other):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
            if printable >= 0.98 * len(text):
                return encoding
    return None


def decode_bytes(data: bytes, path: str | Path = "<bytes>") -> tuple[str, str]:
    """Decode notice bytes, detecting the encoding; returns (text, encoding name)."""
    boms = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise NoticeError(path, f"starts with a {encoding} byte-order mark but is not valid {encoding}") from None
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        return data.decode(utf16), utf16
    if _looks_binary(data):
        raise NoticeError(path, "binary file, not a text or HTML notice (UTF-16 text needs a byte-order mark)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data, cp_isolation=_CANDIDATE_ENCODINGS).best()
    if best is None:
        raise NoticeError(path, "cannot detect the text encoding (tried UTF-8, GB18030/GBK, Big5)")
    return str(best), best.encoding


# --- HTML -----------------------------------------------------------------------------------

_CHROME_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "button")
_CHROME_ATTR = re.compile(
    r"nav|menu|breadcrumb|crumb|footer|header|sidebar|share|login|search|toolbar|friend|links?$|copyright",
    re.I,
)
_BLOCK_TAGS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table")


def html_to_text(html: str) -> str:
    """Visible text of an HTML page, one block element per line, navigation and footers removed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    for tag in soup(_CHROME_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.name in ("html", "body"):
            continue
        attrs = " ".join([*tag.get("class", []), tag.get("id", "") or ""])
        if attrs and _CHROME_ATTR.search(attrs):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    body = soup.body or soup
    return body.get_text()


# --- normalisation --------------------------------------------------------------------------

# Full-width ASCII forms become ASCII so that "(一)" and "(一)", ":" and ":" read alike.
# NFKC would also do this but turns ①② into 1 2, which are list markers we need to keep.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH.update({0x3000: 0x20, 0x00A0: 0x20, 0x2002: 0x20, 0x2003: 0x20, 0x2009: 0x20, 0x200B: None})
_FULLWIDTH.update({0xFEFF: None, 0x2028: 0x0A, 0x2029: 0x0A})
_INLINE_SPACE = re.compile(r"[ \t\f\v]+")
# A space between two CJK characters is layout, not content (HTML indentation, justified text).
_CJK_SPACE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef,.;:!?()]) +(?=[\u3000-\u9fff\uff00-\uffef(])")


# Paragraphs a page ran into one line, a space where the break was: "…予以通报。 一、提高政治站位 学院党委…。 二、…".
_RUN_IN_HEADING = re.compile(r"(?<=[。!?])\s+(?=[一二三四五六七八九十]{1,3}、|\(?[一二三四五六七八九十]{1,3}\))")
_RUN_IN_TITLE = re.compile(r"^((?:[一二三四五六七八九十]{1,3}、|\(?[一二三四五六七八九十]{1,3}\))[^。;!?\s]{1,40}?)\s+(?=\S)")


def _paragraphs(line: str) -> list[str]:
    """A line split where a page ran paragraphs together: at each heading after a sentence end and a space,
    and after such a heading's title (the text up to the next space)."""
    parts = _RUN_IN_HEADING.split(line)
    out = parts[:1]
    for part in parts[1:]:
        m = _RUN_IN_TITLE.match(part)
        out.extend((m.group(1), part[m.end():]) if m else (part,))
    return out


def normalise_text(text: str) -> str:
    """Punctuation and white space normalised; one paragraph per line; no empty lines."""
    text = unicodedata.normalize("NFC", text).translate(_FULLWIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for raw in text.split("\n"):
        for paragraph in _paragraphs(_INLINE_SPACE.sub(" ", raw).strip()):
            line = _CJK_SPACE.sub("", paragraph.strip())
            if line:
                lines.append(line)
    return "\n".join(lines)


# Pinyin that a page printed after its characters, where its ruby markup was lost: "根據(jù)區(qū)委部署".
_RUBY = re.compile(r"(?<=[\u3400-\u9fff])\((?=[a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ])[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]{1,6}\)")


def drop_ruby(text: str) -> str:
    """Remove pinyin printed in brackets after Chinese characters (lost ruby annotations)."""
    return _RUBY.sub("", text)


# --- web chrome -----------------------------------------------------------------------------

# Registration and copyright lines: page furniture, and the start of a page's footer.
_FOOTER_START_PATTERN = r"ICP\s*备|ICP证|公网安备|网站标识码|网站识别码|版权所有|Copyright|©"
# Lines that are page furniture wherever they stand. Checked against the simplified line.
_CHROME_LINE = re.compile(
    r"^(登录|注册|返回首页|首页|收藏|打印|关闭|关闭窗口|分享|分享到|关注|相关推荐|最近搜索|扫一扫|"
    r"政务微信|政务微博|微信|微博|无障碍|繁体|简体|繁體|English|招标|业主|热门搜索|-|\|)$"
    r"|^(上一篇|下一篇|上一条|下一条)\s*[::]"
    r"|字体(大小)?\s*[::]|字号\s*[::]|【?\s*字体\s*[::]|^\[?\s*(大|中|小)\s*(大|中|小)?\s*\]?$"
    r"|^友情链接|^备案号|" + _FOOTER_START_PATTERN +
    r"|^(点击量|点击数|浏览次数|访问量|阅读量|浏览量)\s*[::]|^\d+人觉得有用$|^标签\s*[::]|^关注我们"
    r"|^查看原文|电话咨询\s*[::]|QQ咨询|在线客服|客服系统|技术支持\s*[::]|主办单位\s*[::]|承办单位\s*[::]"
    r"|^(本站|当前位置|所在位置)\s*[::]|^您(现在)?的?位置\s*[::]",
    re.I,
)
# Metadata lines ("时间:2023-07-05 来源:区委巡察办", "来源:东莞市科技局 发布时间:…").
_META_LINE = re.compile(r"^(发布)?(时间|日期)\s*[::].{0,40}(来源|作者|点击|浏览|字体)|^来源\s*[::].{0,60}(时间|日期)")
# Contact lines in the closing block.
_CONTACT_LINE = re.compile(
    r"^(联系电话|联系方式|电话|电子邮箱|邮箱|邮政编码|邮编|联系地址|通信地址|通讯地址|传真|地址)\s*[::]"
)


# A line made of nothing but navigation words ("首页 登录 返回首页", joined or not) is a nav bar.
_NAV_WORDS = re.compile(r"返回首页|首页|登录|注册|收藏|打印|关闭窗口|关闭|分享到|分享|微信|微博|无障碍|繁体|简体|"
                        r"网站地图|联系我们|English|[|/·>\s]")


def is_chrome_line(simplified_line: str) -> bool:
    """True for web-page furniture and contact lines that are never part of a notice's content."""
    line = simplified_line.strip()
    if line and not _NAV_WORDS.sub("", line):
        return True
    return bool(_CHROME_LINE.search(line) or _META_LINE.search(line) or _CONTACT_LINE.search(line))


# The short lines after a footer's first line are footer links ("政务微信", "三晋通", a portal's
# name) however they are worded.
_FOOTER_START = re.compile(_FOOTER_START_PATTERN, re.I)
_FOOTER_LINK_MAX_CHARS = 20


def drop_chrome(text: str, simplified: str) -> tuple[str, str]:
    """Remove chrome lines from both forms, keeping them line-aligned."""
    kept_t, kept_s = [], []
    in_footer = False
    for line_t, line_s in zip(text.split("\n"), simplified.split("\n"), strict=True):
        in_footer = in_footer or bool(_FOOTER_START.search(line_s))
        footer_link = in_footer and len(line_s.strip()) <= _FOOTER_LINK_MAX_CHARS and "。" not in line_s
        if not (footer_link or is_chrome_line(line_s)):
            kept_t.append(line_t)
            kept_s.append(line_s)
    return "\n".join(kept_t), "\n".join(kept_s)


_META_DATE = re.compile(r"(?:时间|日期)\s*[::]\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")


def _meta_date(simplified: str) -> str | None:
    for line in simplified.split("\n")[:15]:
        if _META_LINE.search(line) or len(line) < 60:
            m = _META_DATE.search(line)
            if m:
                return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return None


# A page's source line names the body that published it ("信息来源:市卫生健康委", "发布机构:\n区文旅体局"); a
# discipline commission, an inspection office or a news outlet that publishes for others is not the issuer.
_META_SOURCE = re.compile(r"(?:信息来源|来源|发布机构|发布单位|发文机关|发文单位)\s*[::]\s*([^\s:]*)")
_PUBLISHER = re.compile(r"纪委|监委|纪检|巡察|巡视|本网|本站|网站|网$|日报|晚报|报社|新闻|电视|广播|融媒|在线|客户端|"
                        r"记者|通讯员|编辑|admin|^\W*$|\d")


def _meta_source(simplified: str) -> str | None:
    lines = simplified.split("\n")[:20]
    for i, line in enumerate(lines):
        for m in _META_SOURCE.finditer(line):
            value = m.group(1)
            if not value and i + 1 < len(lines) and len(lines[i + 1].strip()) <= 30 and ":" not in lines[i + 1]:
                value = lines[i + 1].strip()  # the label on one line, the body on the next
            value = re.split(r"(?:发布|更新|成文)?(?:日期|时间)|作者|浏览|点击|访问|阅读|字号|来源", value)[0].strip(" •·-")
            if 2 <= len(value) <= 30 and not _PUBLISHER.search(value):
                return value
    return None


# --- public API -----------------------------------------------------------------------------


def read_notice_bytes(data: bytes, notice_id: str, *, path: str | Path = "<bytes>", html: bool = False) -> Notice:
    """Build a :class:`Notice` from raw bytes (``html`` strips markup first)."""
    raw, encoding = decode_bytes(data, path)
    if html:
        raw = html_to_text(raw)
    text = drop_ruby(normalise_text(raw))
    if not text:
        raise NoticeError(path, "no text in the file")
    simplified = to_simplified(text)
    # OpenCC maps characters one to one on these texts, but guard the line alignment anyway.
    if simplified.count("\n") != text.count("\n"):
        simplified = "\n".join(to_simplified(line) for line in text.split("\n"))
    meta_date, meta_source = _meta_date(simplified), _meta_source(simplified)
    text, simplified = drop_chrome(text, simplified)
    if not text.strip():
        raise NoticeError(path, "nothing but page chrome in the file")
    return Notice(notice_id, str(path), encoding, text, simplified, meta_date, meta_source)


def read_notice(path: str | Path, *, max_bytes: int = MAX_NOTICE_BYTES) -> Notice:
    """Read a ``.txt``/``.html``/``.htm`` notice; the notice id is the file name without suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise NoticeError(path, f"unsupported file type '{suffix or '(none)'}' (expected .txt, .html or .htm)")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise NoticeError(
                path, f"file is too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB limit); is it a notice?"
            )
        data = path.read_bytes()
    except PermissionError:
        raise NoticeError(path, "permission denied") from None
    except FileNotFoundError:
        raise NoticeError(path, "file not found") from None
    except IsADirectoryError:
        raise NoticeError(path, "is a directory") from None
    if not data.strip():
        raise NoticeError(path, "empty file")
    return read_notice_bytes(data, path.stem, path=path, html=suffix in (".html", ".htm"))


def iter_notice_paths(inputs: list[str | Path]) -> tuple[list[Path], list[NoticeError]]:
    """Expand files and folders into notice paths, and the inputs that cannot be used.

    A folder gives its .txt/.html/.htm files, sorted; its other files (hidden ones aside) are named
    in a warning rather than skipped silently. A missing path or a symlink loop is an error.
    """
    paths: list[Path] = []
    errors: list[NoticeError] = []
    for item in inputs:
        p = Path(item)
        try:
            is_dir = p.is_dir()
            if not is_dir and not p.exists() and p.is_symlink():
                p.resolve(strict=True)  # raises for a loop, names a dangling link
        except (RuntimeError, OSError) as exc:
            loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == 40
            errors.append(NoticeError(p, "symbolic link loop" if loop else "broken symbolic link"))
            continue
        if is_dir:
            try:
                entries = sorted(p.iterdir())
            except PermissionError:
                errors.append(NoticeError(p, "permission denied (folder)"))
                continue
            files, skipped = [], []
            for q in entries:
                if q.name.startswith("."):
                    continue
                try:
                    if q.is_file():
                        files.append(q)
                    elif q.is_symlink():
                        q.resolve(strict=True)
                except (RuntimeError, OSError):
                    errors.append(NoticeError(q, "symbolic link loop or broken link"))
            paths.extend(q for q in files if q.suffix.lower() in SUPPORTED_SUFFIXES)
            skipped = [q.name for q in files if q.suffix.lower() not in SUPPORTED_SUFFIXES]
            if skipped:
                shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
                warnings.warn(f"{p}: skipped {len(skipped)} file(s) that are not .txt/.html/.htm: {shown}",
                              stacklevel=2)
        else:
            paths.append(p)
    # A path named twice (directly and through its folder) is read once. Distinct names are distinct
    # notices even when they link to one file: the name is the notice id, and a batch keeps every input name.
    seen: set[str] = set()
    unique = []
    for p in paths:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if len(unique) < len(paths):
        warnings.warn(f"skipped {len(paths) - len(unique)} file(s) given more than once", stacklevel=2)
    return unique, errors
