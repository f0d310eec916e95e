"""The loop over input files (classify/notices/files.py) and the ``segment`` command over it: a bad file is one line
naming it and the problem, the others go on, an existing ``--out`` survives a run with nothing to write; the issuer
a user names; links and names given twice."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from helpers import (
    GOOD_SEEDS,
    PLAIN_NOTICE,
    PREVIOUS,
    SIMPLIFIED_SEED,
    assert_one_line,
    big_notice,
    binary_html_notice,
    binary_notice,
    blank_notice,
    docx_notice,
    empty_notice,
    missing_notice,
    news_notice,
    read_jsonl,
    run,
)

from classify.errors import InputError
from classify.notices.files import read_issuer_map, segment_file, with_issuer

NOTICE_CASES = {
    "empty": (empty_notice, "empty file"),
    "blank": (blank_notice, "no text in the file"),
    "binary": (binary_notice, "binary file"),
    "binary-html": (binary_html_notice, "binary file"),
    "no-measure": (news_notice, "no rectification measure found"),
    "unsupported-extension": (docx_notice, "unsupported file type '.docx'"),
    "missing": (missing_notice, "file not found"),
    "20MB": (big_notice, "too large"),
}


@pytest.mark.parametrize("case", list(NOTICE_CASES))
def test_bad_notice_segment(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, problem = NOTICE_CASES[case]
    path = make(work)
    out = work / "measures.jsonl"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, _, err = run(capsys, "segment", path, "--out", out)
    assert code == 1
    assert_one_line(err, str(path), problem)
    assert out.read_text(encoding="utf-8") == PREVIOUS


def test_folder_with_other_files_names_them(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files in a folder that are not notices are skipped, but named: a .docx notice would otherwise vanish."""
    folder = work / "notices"
    folder.mkdir()
    (folder / "a.txt").write_bytes(SIMPLIFIED_SEED.read_bytes())
    (folder / "b.docx").write_bytes(b"PK\x03\x04")
    (folder / ".DS_Store").write_bytes(b"\0")
    with pytest.warns(UserWarning) as caught:
        code, out, _ = run(capsys, "segment", folder, "--out", work / "m.jsonl")
    assert code == 0
    assert "a.txt" in out
    assert [str(w.message) for w in caught] == [f"{folder}: skipped 1 file(s) that are not .txt/.html/.htm: b.docx"]


def test_big_notice_rejected_by_size_before_decoding(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = big_notice(work)
    assert path.stat().st_size >= 20 * 1024 * 1024

    def must_not_run(*args, **kwargs):
        raise AssertionError("a 20 MB file was read and decoded")

    monkeypatch.setattr("classify.notices.reading.decode_bytes", must_not_run)
    monkeypatch.setattr(Path, "read_bytes", must_not_run)
    code, _, err = run(capsys, "segment", path)
    assert code == 1
    line = assert_one_line(err, str(path), "too large")
    assert re.search(r"\(2\d\.\d MB > \d+\.\d MB limit\)", line), line


def test_unreadable_notice(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "locked.txt"
    path.write_bytes(SIMPLIFIED_SEED.read_bytes())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read a mode-000 file (root)")
        code, _, err = run(capsys, "segment", path)
        assert code == 1
        assert_one_line(err, str(path), "permission denied")
    finally:
        path.chmod(0o644)


def test_unreadable_notice_simulated(work: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The same case where the tests run as root (who reads mode-000 files): the OS refusal is simulated."""
    path = work / "locked.txt"
    path.write_bytes(SIMPLIFIED_SEED.read_bytes())
    real_read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    out = work / "measures.jsonl"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, _, err = run(capsys, "segment", path, "--out", out)
    assert code == 1
    assert_one_line(err, str(path), "permission denied")
    assert out.read_text(encoding="utf-8") == PREVIOUS


def test_gbk_without_hint_reads_like_utf8(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GBK file with no BOM, no <meta charset> and no flag gives the same measures (and ids) as UTF-8."""
    text = SIMPLIFIED_SEED.read_text(encoding="utf-8").replace("\xa0", " ")  # GBK has no NBSP
    (work / "gbk").mkdir()
    (work / "utf8").mkdir()
    name = SIMPLIFIED_SEED.name
    (work / "gbk" / name).write_bytes(text.encode("gbk"))
    (work / "utf8" / name).write_text(text, encoding="utf-8")
    with pytest.raises(UnicodeDecodeError):
        (work / "gbk" / name).read_bytes().decode("utf-8")

    code, _, err = run(capsys, "segment", work / "gbk" / name, "--out", work / "gbk.jsonl")
    assert code == 0, err
    assert run(capsys, "segment", work / "utf8" / name, "--out", work / "utf8.jsonl")[0] == 0
    gbk = read_jsonl(work / "gbk.jsonl")
    utf8 = read_jsonl(work / "utf8.jsonl")
    assert len(gbk) > 20
    assert gbk == utf8


# --- links and names ----------------------------------------------------------------------------


def test_symlink_loop_and_utf16_without_bom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    code, _, err = run(capsys, "segment", loop)
    assert code == 1
    assert_one_line(err, str(loop), "symbolic link loop")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.txt").symlink_to(folder / "x.txt")
    code, _, err = run(capsys, "segment", folder)
    assert code == 1 and "x.txt" in err and "symbolic link loop" in err
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes(GOOD_SEEDS[1].read_text(encoding="utf-8").encode("utf-16-le"))
    code, out, _ = run(capsys, "segment", utf16)
    assert code == 0 and "u16.txt" in out


def test_3000_links_to_one_file_are_3000_notices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Distinct names are distinct notices even when they link to one file (the name is the notice id): a folder
    of 3000 links is not silently merged into one notice."""
    target = tmp_path / "plain.txt"
    target.write_text(PLAIN_NOTICE, encoding="utf-8")
    folder = tmp_path / "links"
    folder.mkdir()
    for i in range(3000):
        (folder / f"n{i:04d}.txt").symlink_to(target)
    code, out, err = run(capsys, "segment", folder, "--out", tmp_path / "m.jsonl")
    assert code == 0 and err == ""
    assert out.splitlines()[-1].split() == ["9000", "measures", "in", "3000", "notice(s)"]
    rows = read_jsonl(tmp_path / "m.jsonl")
    assert len({r["notice_id"] for r in rows}) == 3000 and len({r["id"] for r in rows}) == 9000


def test_a_file_given_twice_is_read_once_and_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(PLAIN_NOTICE, encoding="utf-8")
    with pytest.warns(UserWarning, match=r"skipped 1 file\(s\) given more than once"):
        code, out, _ = run(capsys, "segment", folder, folder / "a.txt")
    assert code == 0 and out.splitlines()[-1].split() == ["3", "measures", "in", "1", "notice(s)"]


# --- the issuer a user names --------------------------------------------------------------------


def test_issuer_fills_in_a_notice_that_names_none_and_an_issuer_list_wins(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text(PLAIN_NOTICE, encoding="utf-8")
    own = GOOD_SEEDS[0]
    assert {m.issuer for m in segment_file(plain).measures} == {None}
    own_issuer = segment_file(own).measures[0].issuer
    assert own_issuer == "中共梁溪区科学技术局党组"

    given = "中共某县教育局党组"
    assert {m.issuer for m in segment_file(plain, issuer=given).measures} == {given}  # fills in
    assert {m.issuer for m in segment_file(own, issuer=given).measures} == {own_issuer}  # the page's own is kept
    listed = {own.name: "中共某市卫生健康委员会党组"}
    assert {m.issuer for m in segment_file(own, issuer=given, issuer_by_file=listed).measures} == {
        "中共某市卫生健康委员会党组"}  # the list wins over the page
    measures = segment_file(plain).measures
    assert with_issuer(measures, None, None) == measures


def test_segment_issuer_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.txt").write_text(PLAIN_NOTICE, encoding="utf-8")
    (tmp_path / "other.txt").write_text(PLAIN_NOTICE, encoding="utf-8")
    own = GOOD_SEEDS[0]
    (tmp_path / "issuers.csv").write_text(f"file,issuer\n{own.name},中共某市卫生健康委员会党组\nother.txt,某区审计局\n",
                                          encoding="utf-8")
    code, _, err = run(capsys, "segment", "plain.txt", "other.txt", own, "--issuer", "中共某县教育局党组",
                       "--issuers", "issuers.csv", "--out", "m.jsonl")
    assert code == 0, err
    by_notice = {}
    for row in read_jsonl(tmp_path / "m.jsonl"):
        by_notice.setdefault(row["notice_id"], set()).add((row["issuer"], row["issuer_kind"]))
    assert by_notice == {"plain": {("中共某县教育局党组", "education")},
                         "other": {("某区审计局", "audit")},
                         own.stem: {("中共某市卫生健康委员会党组", "health")}}


@pytest.mark.parametrize("body, problem", [
    ("name,who\na.txt,x\n", "needs a header with columns 'file' and 'issuer'"),
    ("", "needs a header with columns 'file' and 'issuer'"),
    ("file,issuer\na.txt,\n", "issuers.csv:2: 'file' and 'issuer' must both be given"),
])
def test_a_bad_issuer_list_is_one_line(body: str, problem: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "issuers.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(problem)):
        read_issuer_map(path)
    code, stdout, err = run(capsys, "segment", GOOD_SEEDS[0], "--issuers", path)
    assert code == 2 and stdout == ""
    assert_one_line(err, str(path), problem)


def test_an_issuer_list_names_files_by_their_name(tmp_path: Path) -> None:
    path = tmp_path / "issuers.csv"
    path.write_bytes("\ufefffile,issuer\nsub/a.txt, 中共某县教育局党组 \n".encode())
    assert read_issuer_map(path) == {"a.txt": "中共某县教育局党组"}
    with pytest.raises(InputError, match="cannot read the issuer list"):
        read_issuer_map(tmp_path / "nowhere.csv")


def test_segment_writes_the_corpus_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.jsonl"
    code, stdout, _ = run(capsys, "segment", GOOD_SEEDS[0], "--out", out)
    assert code == 0 and f"wrote {out}" in stdout
    rows = read_jsonl(out)
    assert set(rows[0]) >= {"id", "notice_id", "issuer", "issuer_kind", "date", "heading_path", "heading", "text",
                            "text_simplified", "position"}
    assert [r["position"] for r in rows] == list(range(len(rows)))
    assert json.loads(json.dumps(rows[0]))["notice_id"] == GOOD_SEEDS[0].stem
