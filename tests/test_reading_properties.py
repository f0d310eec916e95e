"""Property tests (hypothesis) for reading notices (classify/notices/reading.py): any bytes give a notice or a
one-line NoticeError naming the file, never another exception."""

from __future__ import annotations

from helpers import check_measures, read_or_none
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classify.notices.segmenting import segment_notice

FAST = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE, UTF-16 BE


@FAST
@given(data=st.one_of(st.binary(max_size=400),
                      st.tuples(st.sampled_from(BOMS), st.binary(max_size=200)).map(b"".join)))
def test_arbitrary_bytes_never_crash(tmp_path_factory, data):
    """Bytes that open with a byte-order mark and then fail to decode are a NoticeError too (they once raised
    UnicodeDecodeError, and this property left them out)."""
    path = tmp_path_factory.mktemp("bin") / "notice.txt"
    path.write_bytes(data)
    notice = read_or_none(path)
    if notice is not None:
        check_measures(notice, segment_notice(notice))


@FAST
@given(bom=st.sampled_from(BOMS), rest=st.binary(min_size=1, max_size=60))
def test_a_byte_order_mark_with_bytes_it_cannot_decode_is_a_notice_error(tmp_path_factory, bom, rest):
    path = tmp_path_factory.mktemp("bom") / "notice.txt"
    path.write_bytes(bom + rest)
    encoding = "utf-8-sig" if bom == BOMS[0] else "utf-16"
    try:
        (bom + rest).decode(encoding)
    except UnicodeDecodeError:
        assert read_or_none(path) is None  # refused, with one line
    else:
        read_or_none(path)  # decodes: a notice or a NoticeError (no text, binary), never a crash
