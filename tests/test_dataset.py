"""Labelled data (classify/dataset.py): loading and validating a JSONL file, label coverage; bad data stops ``train``
with one line naming file:line before any MLflow run exists."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from helpers import SUBSET_NOTICES, TFIDF_CONFIG, assert_one_line, run, store_runs, subset_rows, write_jsonl

from classify.dataset import LabelCoverageWarning, check_label_coverage, load_labelled
from classify.errors import DataError, TrackingError
from classify.fileio import write_records

# --- loading ------------------------------------------------------------------------------------


def test_loader_rejects_unknown_label_and_duplicates(tmp_path):
    rows = [{"id": "a", "notice_id": "n1", "text": "内容", "label": "finance"},
            {"id": "a", "notice_id": "n2", "text": "内容二", "label": "finance"}]
    p = tmp_path / "d.jsonl"
    write_records(rows, p)
    with pytest.raises(DataError, match=r"d.jsonl: duplicate id 'a' on lines 1, 2"):
        load_labelled(p)
    write_records([{**rows[0], "label": "sports"}], p)
    with pytest.raises(DataError, match=r"d.jsonl:1: unknown label 'sports'"):
        load_labelled(p)


def test_missing_simplified_text_is_made_from_published_text(tmp_path):
    p = tmp_path / "d.jsonl"
    write_records([{"id": "a", "notice_id": "n1", "text": "黨組學習", "label": "political_study"},
                   {"id": "b", "notice_id": "n2", "text": "規範報銷", "label": "finance", "text_simplified": None,
                    "heading_path": ["一、財務管理"]}], p)
    df = load_labelled(p)
    assert df["text_simplified"].tolist() == ["党组学习", "规范报销"]
    assert df["heading"].tolist() == ["", "一、財務管理"]
    from classify.inputs import HEADING, model_input

    assert model_input(df)[HEADING].tolist() == ["", "一、财务管理"]  # the model boundary simplifies headings


def test_optional_fields_get_their_defaults(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "d.jsonl", [
        {"id": "a", "notice_id": "n1", "text": "规范报销", "label": "finance", "issuer": "中共某县教育局党组"},
        {"id": "b", "notice_id": "n2", "text": "学习党章", "label": "political_study", "source": "user",
         "secondary_label": "ideology"}])
    df = load_labelled(p)
    assert df["issuer_kind"].tolist() == ["education", "other"]  # derived from the issuer
    assert df["source"].tolist() == ["real", "user"]  # a user's own checked measures are a source
    assert df["secondary_label"].tolist() == [None, "ideology"]
    write_jsonl(p, [{"id": "a", "notice_id": "n1", "text": "规范报销", "label": "finance", "source": "web"}])
    with pytest.raises(DataError, match=r"d.jsonl:1: source must be one of real, synthetic, user, not 'web'"):
        load_labelled(p)


def test_jsonl_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "notice_id": "n", "text": "规范报销", "label": "finance"},
                                               ensure_ascii=False).encode("utf-8") + b"\n")
    assert load_labelled(p)["id"].tolist() == ["a"]


# --- label coverage -----------------------------------------------------------------------------


def test_a_category_missing_from_the_data_warns(tmp_path: Path) -> None:
    rows = [r for r in subset_rows() if r["label"] != "ideology"]
    df = load_labelled(write_jsonl(tmp_path / "d.jsonl", rows))
    with pytest.warns(LabelCoverageWarning, match="no measure is labelled 'ideology'"):
        check_label_coverage(df, "d.jsonl")


def test_coverage_is_checked_against_the_schemes_labels(tmp_path: Path) -> None:
    from classify.labels import load_scheme

    coarse = load_scheme("coarse3")
    rows = [r for r in subset_rows() if r["label"] != "tech_policy"]
    df = load_labelled(write_jsonl(tmp_path / "d.jsonl", rows), coarse)
    with pytest.warns(LabelCoverageWarning) as caught:
        thin = check_label_coverage(df, "d.jsonl", coarse.labels)
    assert thin == ["line_work"] and len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_label_coverage(load_labelled(write_jsonl(tmp_path / "all.jsonl", subset_rows())), "x") == []


# --- bad data stops train before any run --------------------------------------------------------


def _unknown_label(rows: list[dict]) -> tuple[list[dict], str]:
    rows[4]["label"] = "party_building"
    return rows, ":5: unknown label 'party_building'"


def _duplicate_ids(rows: list[dict]) -> tuple[list[dict], str]:
    rows[7]["id"] = rows[2]["id"]
    return rows, f"duplicate id '{rows[2]['id']}' on lines 3, 8"


def _empty_text(rows: list[dict]) -> tuple[list[dict], str]:
    rows[1]["text"] = "  \u3000 "
    rows[1].pop("text_simplified", None)
    return rows, f":2: empty text for id '{rows[1]['id']}'"


def _missing_field(rows: list[dict]) -> tuple[list[dict], str]:
    del rows[3]["label"]
    return rows, ":4: missing field(s) label"


def _one_notice(rows: list[dict]) -> tuple[list[dict], str]:
    return [r for r in rows if r["notice_id"] == SUBSET_NOTICES[0]], "at least two notices"


DATA_CASES = {
    "unknown-label": _unknown_label,
    "duplicate-ids": _duplicate_ids,
    "empty-text": _empty_text,
    "missing-field": _missing_field,
    "one-notice": _one_notice,
}


@pytest.mark.filterwarnings("ignore::classify.dataset.LabelCoverageWarning")  # one-notice warns, then fails
@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_fails_before_any_run(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows, problem = DATA_CASES[case](subset_rows())
    path = write_jsonl(work / f"{case}.jsonl", rows)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, str(path), problem)
    assert store_runs(work / "store") == 0


@pytest.mark.parametrize("row, problem", [({"notice_id": None}, "'notice_id' must be a non-empty string"),
                                          ({"notice_id": 7}, "'notice_id' must be a non-empty string"),
                                          ({"text": 12345}, "'text' must be a string")])
def test_bad_rows_fail_before_any_run(row: dict, problem: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = subset_rows()
    rows[2] = {**rows[2], **row}
    data = write_jsonl(work / "d.jsonl", rows)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={data}", "--quiet")
    assert code == 2
    assert_one_line(err, f"{data}:3:", problem)
    assert not (work / "store" / "mlflow.db").exists()


def test_missing_data_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "nowhere.jsonl"
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, str(path), "labelled data file not found")
    assert store_runs(work / "store") == 0


def test_data_not_json(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "broken.jsonl"
    path.write_text(json.dumps(subset_rows()[0], ensure_ascii=False) + "\n{\"id\": \"x\", \n", encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, f"{path}:2", "not valid JSON")
    assert store_runs(work / "store") == 0


def test_category_in_one_notice_warns_before_tracking(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """'finance' only in one notice: a LabelCoverageWarning naming label and notice, before any MLflow call."""
    only = SUBSET_NOTICES[1]
    rows = [r for r in subset_rows() if r["label"] != "finance" or r["notice_id"] == only]
    path = write_jsonl(work / "thin.jsonl", rows)
    seen_at_connect: list[str] = []

    def stop_at_connect(*args, **kwargs):
        seen_at_connect.extend(str(w.message) for w in caught if issubclass(w.category, LabelCoverageWarning))
        raise TrackingError("test stops here, before the tracking store is touched")

    monkeypatch.setattr("classify.tracking.run.connect", stop_at_connect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2 and "test stops here" in err
    assert seen_at_connect == [
        f"{path}: label 'finance' occurs only in notice {only}; the fold holding it out trains without it"
    ]
    assert store_runs(work / "store") == 0
