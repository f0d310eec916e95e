"""A prediction request (classify/predict/__init__.py) is checked before any notice is read or model looked up; both
engines give back one result type (result.py), which ``classify predict`` prints (cli.print_batch)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import GOOD_SEEDS, assert_one_line, run

from classify.errors import InputError, OutputError
from classify.predict import ENGINES, BatchResult, check_request

REQUEST = {"inputs": [str(GOOD_SEEDS[0])], "measures": None, "out": None, "review_out": None, "engine": "local",
           "explain": False, "log_run": False, "review_below": None}

BAD_REQUESTS = {
    "nothing": ({"inputs": []}, InputError, "give notice files/folders, or --measures FILE.jsonl"),
    "both": ({"measures": "m.jsonl"}, InputError, "not both"),
    "log-run-without-out": ({"log_run": True}, InputError, "--log-run records a batch of notices and its --out file"),
    "log-run-with-measures": ({"inputs": [], "measures": "m.jsonl", "out": "p.csv", "log_run": True}, InputError,
                              "--log-run"),
    "review-below-1.5": ({"review_below": 1.5}, InputError, "--review-below: review_below must be between 0 and 1"),
    "review-below-negative": ({"review_below": -0.2}, InputError, "between 0 and 1"),
    "review-below-nan": ({"review_below": float("nan")}, InputError, "between 0 and 1"),
    "spark-measures": ({"inputs": [], "measures": "m.jsonl", "engine": "spark", "out": "p.parquet"}, InputError,
                       "--engine spark reads notices and writes --out only"),
    "spark-review-out": ({"engine": "spark", "out": "p.parquet", "review_out": "r.jsonl"}, InputError,
                         "no --measures, --review-out or --explain"),
    "spark-no-out": ({"engine": "spark"}, InputError, "--engine spark needs --out"),
    "spark-jsonl": ({"engine": "spark", "out": "p.jsonl"}, OutputError, "writes .parquet (a folder) or .csv"),
    "same-file": ({"out": "p.jsonl", "review_out": "p.jsonl"}, OutputError, "given for both --out and --review-out"),
    "out-is-input": ({"inputs": [], "measures": "m.jsonl", "out": "m.jsonl"}, OutputError, "is also an input file"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_is_refused(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    change, error, problem = BAD_REQUESTS[case]
    with pytest.raises(error) as info:
        check_request(**{**REQUEST, **change})
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_good_requests_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert ENGINES == ("local", "spark")
    check_request(**REQUEST)
    check_request(**{**REQUEST, "out": "p.csv", "review_out": "r.jsonl", "review_below": 0.0, "explain": True,
                     "log_run": True})
    check_request(**{**REQUEST, "engine": "spark", "out": "p.parquet", "review_below": 1.0})


@pytest.mark.parametrize("value", ["1.5", "-0.2", "nan"])
def test_review_below_outside_0_1_is_one_line_before_any_work(value: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")  # never looked at
    code, stdout, err = run(capsys, "predict", GOOD_SEEDS[0], f"--review-below={value}", "--out", "p.csv")
    assert code == 2 and stdout == ""
    assert_one_line(err, "--review-below", "between 0 and 1", value)
    assert list(tmp_path.iterdir()) == []


# --- the result ---------------------------------------------------------------------------------


def _result() -> BatchResult:
    result = BatchResult(("a", "b", "c"), "spark", "models:/m@champion", out="p.parquet", review_out=None)
    result.add(["n1", "n1", "n2"], ["a", "c", "c"], [True, False, False])
    result.notices = 2
    result.errors = [("bad.txt", "empty file")]
    return result


def test_batch_result_counts_and_table() -> None:
    result = _result()
    assert result.rows == 3 and result.review_total == 1
    assert result.label_counts() == {"a": 1, "b": 0, "c": 2}  # every label of the scheme, zeros kept
    table = result.table()
    assert list(table.columns) == ["a", "b", "c", "measures", "review"]
    assert table.loc["n1"].tolist() == [1, 0, 1, 2, 1] and table.loc["total"].tolist() == [1, 0, 2, 3, 1]
    assert list(BatchResult(("a", "b")).table().columns) == ["a", "b", "measures", "review"]  # empty: the header


def test_print_batch_is_the_same_for_both_engines(capsys: pytest.CaptureFixture[str]) -> None:
    from classify.cli import print_batch

    result = _result()
    result.seconds = 1.25
    assert print_batch(result) == 1  # a file could not be used
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == f"model: {result.model_uri}"
    assert out.splitlines()[1].split() == ["notice", "a", "b", "c", "measures", "review"]
    assert "wrote 3 rows to p.parquet in 1.2 s" in out
    assert err.splitlines() == ["error: bad.txt: empty file", "1 file(s) could not be used"]
    result.errors, result.review_out, result.review_written, result.run_id = [], "r.jsonl", 0, "abc"
    assert print_batch(result) == 0
    out, err = capsys.readouterr()
    assert "wrote 0 measure(s) to review to r.jsonl (none was flagged)" in out and "logged batch run abc" in err
    empty = BatchResult(("a", "b"))
    assert print_batch(empty) == 0 and "no measure found: nothing written" in capsys.readouterr().out
