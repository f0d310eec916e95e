"""classify/fileio.py: JSONL reading, atomic writes, record writers, and output paths refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import GOOD_SEEDS, REPO, assert_one_line, run, write_jsonl

from classify.errors import DataError, InputError, OutputError
from classify.fileio import (
    NothingToWrite,
    atomic_write_text,
    atomic_writer,
    check_output_path,
    check_output_paths,
    iter_jsonl,
    record_writers,
    write_records,
)

# --- reading JSONL ------------------------------------------------------------------------------


def test_iter_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2}\n')  # a byte-order mark and blank lines are fine
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        list(iter_jsonl(path))
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"d.jsonl:2: expected a JSON object"):
        list(iter_jsonl(path, InputError))  # the caller chooses the error type
    path.write_bytes('{"a": "规范"}\n'.encode("gbk"))
    with pytest.raises(DataError, match="not UTF-8 text"):
        list(iter_jsonl(path))
    with pytest.raises(DataError, match="is a folder"):
        list(iter_jsonl(tmp_path))
    with pytest.raises(DataError, match="file not found"):
        list(iter_jsonl(tmp_path / "nowhere.jsonl"))


# --- writing ------------------------------------------------------------------------------------


def test_atomic_writer_leaves_the_old_file_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write("half a fi")
        raise RuntimeError("stopped")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left


def test_write_records_is_atomic_on_bad_suffix(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(ValueError):
        write_records([{"a": 1}], target)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_write_records_as_jsonl_and_csv(tmp_path: Path) -> None:
    rows = [{"id": "a", "heading_path": ["一、财务", "(一)报销"], "explanation": {"nearest": []}}, {"id": "b", "x": 1}]
    assert write_records(rows, tmp_path / "r.jsonl") == 2
    assert [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()] == rows
    write_records(rows, tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,heading_path,explanation,x"  # every key of every row
    assert lines[1] == 'a,一、财务 > (一)报销,"{""nearest"": []}",'  # a heading path as a string, a dict as JSON


def test_nothing_to_write_discards_every_file(tmp_path: Path) -> None:
    keep, fresh = tmp_path / "keep.csv", tmp_path / "fresh.jsonl"
    keep.write_text("previous\n", encoding="utf-8")
    with record_writers((keep, ["a"]), (fresh, None), (None, None)) as (w1, w2, w3):
        assert w3 is None  # a path not given
        w1.write({"a": 1})
        w2.write({"a": 1})
        raise NothingToWrite()  # not re-raised
    assert keep.read_text(encoding="utf-8") == "previous\n" and not fresh.exists()
    with record_writers((keep, ["a", "b"])) as (writer,):
        pass
    assert keep.read_text(encoding="utf-8").splitlines() == ["a,b"]  # no rows: the header alone


# --- output paths -------------------------------------------------------------------------------


def test_check_output_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert check_output_path("p.jsonl") == Path("p.jsonl")
    for path, problem in (("p.txt", "must end in .jsonl or .csv"), ("nodir/p.csv", "folder nodir does not exist"),
                          (".", "is a folder; give a file name")):
        with pytest.raises(OutputError, match=problem):
            check_output_path(path)
    with pytest.raises(OutputError, match="is also an input file"):
        check_output_path("./in.jsonl", [tmp_path / "in.jsonl"])
    (tmp_path / "p.parquet").mkdir()
    assert check_output_path("p.parquet", suffixes=(".parquet",), folder_ok=True) == Path("p.parquet")


def test_the_same_file_for_two_outputs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    check_output_paths([("--out", "p.jsonl"), ("--review-out", "r.jsonl"), ("--other", None)])
    with pytest.raises(OutputError) as info:
        check_output_paths([("--out", "p.jsonl"), ("--review-out", str(tmp_path / "sub" / ".." / "p.jsonl"))])
    assert "given for both --out and --review-out" in str(info.value)
    with pytest.raises(OutputError, match="is also an input file"):  # each path is checked as check_output_path does
        check_output_paths([("--out", "p.jsonl")], inputs=["p.jsonl"])


def test_the_same_file_for_out_and_review_out_is_refused_before_any_work(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")  # never looked at
    code, stdout, err = run(capsys, "predict", GOOD_SEEDS[0], "--out", "p.jsonl", "--review-out", "./p.jsonl")
    assert code == 2 and stdout == ""
    assert_one_line(err, "p.jsonl", "given for both --out and --review-out")
    assert list(tmp_path.iterdir()) == []  # no store, no output


@pytest.mark.parametrize("out, problem", [("o.txt", "must end in .jsonl or .csv"), ("nodir/o.csv", "does not exist"),
                                          (".", "is a folder")])
def test_bad_out_is_refused_before_any_work(out: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    code, stdout, err = run(capsys, "segment", REPO / "seeds", "--out", out)
    assert code == 2 and stdout == ""  # no notice was read
    assert_one_line(err, problem)
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0], "--out", out)
    assert code == 2
    assert_one_line(err, problem)  # before the store is even looked for


def test_out_equal_to_an_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "m.jsonl", [{"text": "规范财务报销。"}])
    code, _, err = run(capsys, "predict", "--measures", src, "--out", src)
    assert code == 2
    assert_one_line(err, "is also an input file")
    assert json.loads(src.read_text(encoding="utf-8"))["text"] == "规范财务报销。"
