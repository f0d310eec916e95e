"""The local prediction engine (classify/predict/local.py) and ``classify predict`` on it: one row per measure in the
prediction schema, bad files reported while the others go on, the review queue in the corpus format, explanations,
the issuer a user names, a batch recorded as a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    DATA,
    GOOD_SEEDS,
    PLAIN_NOTICE,
    PREVIOUS,
    REGISTERED,
    SAMPLES,
    UNSEEN_SEED,
    big_notice,
    binary_html_notice,
    empty_notice,
    messages,
    news_notice,
    read_jsonl,
    run,
    write_jsonl,
)

from classify.labels import LABELS, default_scheme
from classify.schema import PredictionSchema

SCHEMA = PredictionSchema.of(default_scheme())
MODEL = f"models:/{REGISTERED}@champion"


def _segment(path: Path):
    from classify.notices.reading import read_notice
    from classify.notices.segmenting import segment_notice

    return segment_notice(read_notice(path))


@pytest.fixture(scope="module")
def model(trained_store):
    from classify.tracking import connect, load_model

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # module fixtures run before the per-test clean environment
        connect(trained_store.uri)
        return load_model(MODEL)


def test_predict_writes_one_row_per_measure(in_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "preds.csv"
    code, printed, err = run(capsys, "predict", UNSEEN_SEED, "--out", out, "--quiet")
    assert code == 0, err
    rows = pd.read_csv(out, dtype={"id": str})
    expected = _segment(UNSEEN_SEED)
    assert list(rows.columns) == SCHEMA.row_names()
    assert len(rows) == len(expected)
    assert rows["id"].tolist() == [m.id for m in expected]
    assert set(rows["label"]) <= set(LABELS)
    assert UNSEEN_SEED.stem in printed and "total" in printed and f"wrote {len(rows)} rows to {out}" in printed
    assert printed.splitlines()[0] == f"model: {MODEL}" and messages(err) == []


def test_predict_measures_keeps_order_and_ids(in_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from classify.notices.segmenting import measure_id

    items = [
        {"id": "z9", "text": "严格执行政府采购制度,10万元以上比价。"},
        {"text": "落实意识形态工作责任制,开展舆情研判。", "heading": "二、意识形态"},
        {"id": "a1", "text": "加强干部选拔任用,规范动议、推荐、考察。"},
    ]
    src = write_jsonl(tmp_path / "m.jsonl", items)
    out = tmp_path / "m_out.jsonl"
    code, _, err = run(capsys, "predict", "--measures", src, "--out", out, "--quiet")
    assert code == 0, err
    rows = read_jsonl(out)
    # given ids are kept; a measure without one gets the id the segmenter would give it (notice: the file's stem)
    assert [r["id"] for r in rows] == ["z9", measure_id("m", items[1]["text"]), "a1"]
    assert [r["text"] for r in rows] == [i["text"] for i in items]
    assert all(r["label"] in LABELS for r in rows)
    assert list(rows[0]) == SCHEMA.row_names() and rows[1]["heading"] == "二、意识形态"


def test_nonsense_measures_are_flagged_out_of_domain(in_store, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Text that is no measure gets a label (a classifier always answers) but is sent to review, and says why."""
    items = [{"text": "hello"}, {"text": "。。。,,,"}, {"text": "The committee held a meeting on rectification."},
             {"text": "xkqz wprt lmnv"}, {"text": "严格执行政府采购制度,对10万元以上的采购项目实行比价。"}]
    src = write_jsonl(tmp_path / "m.jsonl", items)
    out = tmp_path / "m_out.jsonl"
    code, _, err = run(capsys, "predict", "--measures", src, "--out", out, "--review-below", "0", "--quiet")
    assert code == 0, err
    rows = read_jsonl(out)
    assert [r["review_reason"] for r in rows[:4]] == ["out_of_domain"] * 4
    assert all(r["needs_review"] for r in rows[:4])
    assert rows[4]["review_reason"] is None and not rows[4]["needs_review"]  # a measure, with no low-confidence rule


def test_predict_folder_with_bad_files_goes_on(in_store, work: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", in_store.uri)
    folder = work / "incoming"
    folder.mkdir()
    for seed in GOOD_SEEDS:
        (folder / seed.name).write_bytes(seed.read_bytes())
    bad = [empty_notice(folder), binary_html_notice(folder), news_notice(folder), big_notice(folder, mb=6)]
    out = work / "predictions.csv"
    out.write_text(PREVIOUS, encoding="utf-8")

    code, stdout, err = run(capsys, "predict", folder, "--model", f"models:/{REGISTERED}@candidate", "--out", out,
                            "--quiet")
    assert code == 1
    rows = pd.read_csv(out)
    expected = {seed.stem for seed in GOOD_SEEDS}
    assert set(rows["notice"]) == expected
    assert len(rows) == sum(len(_segment(seed)) for seed in GOOD_SEEDS)
    assert rows["label"].notna().all()
    assert "total" in stdout

    lines = messages(err)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == len(bad)
    for path in bad:
        assert sum(str(path) in line for line in errors) == 1, (path, errors)
    # the bad files are reported at the end, with a count; the model is named on stdout
    assert stdout.splitlines()[0] == f"model: models:/{REGISTERED}@candidate"
    assert lines[-1] == f"{len(bad)} file(s) could not be used"
    assert lines[-1 - len(bad):-1] == errors


def test_predict_only_bad_input_leaves_out_untouched(in_store, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = news_notice(tmp_path)
    out = tmp_path / "predictions.csv"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, stdout, err = run(capsys, "predict", path, "--model", f"models:/{REGISTERED}@candidate", "--out", out,
                            "--quiet")
    assert code == 1
    errors = [line for line in messages(err) if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "no rectification measure" in errors[0]
    assert out.read_text(encoding="utf-8") == PREVIOUS
    assert "no measure found: nothing written" in stdout


def test_predict_review_queue_and_explanations(in_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from classify.dataset import load_labelled

    out, review = tmp_path / "p.jsonl", tmp_path / "review.jsonl"
    # every label below confidence 1.0 needs review: all measures go to the queue
    code, printed, err = run(capsys, "predict", UNSEEN_SEED, "--out", out, "--review-out", review, "--review-below",
                             "1.0", "--explain", "--quiet")
    assert code == 0, err
    rows = read_jsonl(out)
    assert all(r["needs_review"] and r["review_reason"] == "low_confidence" for r in rows)
    first = rows[0]["explanation"]  # a JSON object in JSONL, not a string
    assert isinstance(first, dict) and list(rows[0]) == SCHEMA.row_names(explain=True)
    assert len(first["nearest"]) == 3 and all(n["label"] in LABELS for n in first["nearest"])
    assert first["terms"] and all(t["weight"] > 0 for t in first["terms"])
    assert f"wrote {len(rows)} measure(s) to review to {review}" in printed
    queue = load_labelled(review)  # the labelled-data format of data/: can be corrected and added to the corpus
    assert queue["id"].tolist() == [r["id"] for r in rows]
    assert set(queue["source"]) == {"user"} and queue["issuer_kind"].iloc[0] == "science_bureau"
    code, _, _ = run(capsys, "predict", UNSEEN_SEED, "--out", out, "--review-below", "0", "--quiet")
    assert code == 0
    assert not any(r["needs_review"] for r in read_jsonl(out))


def test_review_records_from_measures_join_the_corpus(in_store, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """``--review-out`` records from a ``--measures`` file are in the corpus format: appended to a copy of
    data/measures.jsonl, the file still loads."""
    from classify.dataset import load_labelled

    items = [{"text": "严格执行政府采购制度,10万元以上比价。", "issuer": "中共某县教育局党组"},
             {"text": "落实意识形态工作责任制,开展舆情研判。", "heading": "二、意识形态", "id": "mine-2"},
             {"text": "加强干部选拔任用,规范动议、推荐、考察。", "heading_path": ["三、选人用人", "(一)程序"]}]
    src = write_jsonl(tmp_path / "items.jsonl", items)
    review = tmp_path / "review.jsonl"
    code, printed, err = run(capsys, "predict", "--measures", src, "--review-out", review, "--review-below", "1.0",
                             "--quiet")
    assert code == 0, err
    records = read_jsonl(review)
    assert len(records) == 3 and f"wrote 3 measure(s) to review to {review}" in printed
    for record in records:
        assert record["source"] == "user" and record["review_reason"] == "low_confidence"
        assert record["model_version"] == f"{REGISTERED}/1" and record["label"] in LABELS
        assert record["notice_id"] == "items" and record["note"].startswith("model guess (low_confidence")
    assert records[1]["id"] == "mine-2" and records[2]["heading_path"] == ["三、选人用人", "(一)程序"]
    assert records[0]["issuer"] == "中共某县教育局党组" and records[0]["issuer_kind"] == "education"

    corpus = tmp_path / "measures.jsonl"
    shutil.copy(DATA, corpus)
    with corpus.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    df = load_labelled(corpus)
    assert len(df) == len(DATA.read_text(encoding="utf-8").splitlines()) + 3
    assert df.loc[df["source"] == "user", "id"].tolist() == [r["id"] for r in records]


def test_issuer_options_of_predict(in_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain.txt").write_text(PLAIN_NOTICE, encoding="utf-8")
    own = GOOD_SEEDS[0]
    code, _, err = run(capsys, "predict", "plain.txt", own, "--issuer", "中共某县教育局党组", "--out", "a.csv", "--quiet")
    assert code == 0, err
    rows = pd.read_csv(tmp_path / "a.csv")
    by_notice = rows.groupby("notice")[["issuer", "issuer_kind"]].agg(set).to_dict(orient="index")
    assert by_notice["plain"] == {"issuer": {"中共某县教育局党组"}, "issuer_kind": {"education"}}  # filled in
    assert by_notice[own.stem] == {"issuer": {"中共梁溪区科学技术局党组"}, "issuer_kind": {"science_bureau"}}
    (tmp_path / "issuers.csv").write_text(f"file,issuer\n{own.name},中共某市卫生健康委员会党组\n", encoding="utf-8")
    code, _, err = run(capsys, "predict", "plain.txt", own, "--issuer", "中共某县教育局党组", "--issuers", "issuers.csv",
                       "--out", "b.csv", "--quiet")
    assert code == 0, err
    rows = pd.read_csv(tmp_path / "b.csv")
    assert set(rows.loc[rows["notice"] == own.stem, "issuer"]) == {"中共某市卫生健康委员会党组"}  # the list wins
    assert set(rows.loc[rows["notice"] == own.stem, "issuer_kind"]) == {"health"}
    assert set(rows.loc[rows["notice"] == "plain", "issuer"]) == {"中共某县教育局党组"}


# --- the library --------------------------------------------------------------------------------


def test_predict_notices_returns_a_batch_result(model, tmp_path: Path) -> None:
    from classify.predict import BatchResult
    from classify.predict.local import predict_notices

    seen: list[int] = []
    result = predict_notices(model, [UNSEEN_SEED, tmp_path / "nowhere.txt"], out=tmp_path / "p.jsonl",
                             review_out=tmp_path / "r.jsonl", progress=False, model_uri=MODEL,
                             on_rows=lambda rows: seen.append(len(rows)))
    assert isinstance(result, BatchResult)
    n = len(_segment(UNSEEN_SEED))
    assert (result.labels, result.engine, result.model_uri) == (LABELS, "local", MODEL)
    assert (result.rows, result.notices, sum(seen)) == (n, 1, n)
    assert result.errors == [(str(tmp_path / "nowhere.txt"), "file not found")]
    assert result.files == [str(UNSEEN_SEED), str(tmp_path / "nowhere.txt")]  # in input order
    assert result.out == str(tmp_path / "p.jsonl") and result.review_out == str(tmp_path / "r.jsonl")
    assert result.review_written == result.review_total == len(read_jsonl(tmp_path / "r.jsonl"))
    assert sum(result.label_counts().values()) == n and list(result.label_counts()) == list(LABELS)
    table = result.table()
    assert list(table.columns) == [*LABELS, "measures", "review"]
    assert table.loc["total", "measures"] == n and table.loc[UNSEEN_SEED.stem, "review"] == result.review_total
    assert result.seconds > 0 and result.run_id is None


def test_predict_measures_returns_rows_and_a_batch_result(model, tmp_path: Path) -> None:
    from classify.predict.local import predict_measures, read_measures_file

    frame = read_measures_file(write_jsonl(tmp_path / "m.jsonl", [{"text": "规范财务报销。"}, {"text": "学习党章。"}]))
    rows, result = predict_measures(model, frame, model_uri=MODEL)
    assert list(rows.columns) == SCHEMA.row_names() and len(rows) == 2
    assert (result.rows, result.notices, result.out, result.review_out) == (2, 1, None, None)
    assert not (tmp_path / "out.jsonl").exists()


def test_classify_frame_explains_on_request(model) -> None:
    from classify.predict.local import classify_frame

    frame = pd.DataFrame({"text": ["规范财务报销。"], "heading": [None], "issuer": [float("nan")]})
    out = classify_frame(model, frame, explain=True)
    assert list(out.columns) == [*SCHEMA.output_names, "explanation"]
    assert set(out["explanation"].iloc[0]) == {"nearest", "terms"}
    assert list(classify_frame(model, frame.iloc[:0]).columns) == SCHEMA.output_names


def test_a_bad_measures_file_is_one_line(in_store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import assert_one_line

    for body, problem in (('{"text": "规范报销"}\n{"heading": "x"}\n', ":2: 'text' must be a non-empty string (missing)"),
                          ('{"text": "  "}\n', ":1: 'text' must be a non-empty string (empty)"),
                          ('{"text": 7}\n', ":1: 'text' must be a non-empty string (a int)"),
                          ("\n", "no measures in the file")):
        src = tmp_path / "m.jsonl"
        src.write_text(body, encoding="utf-8")
        code, stdout, err = run(capsys, "predict", "--measures", src, "--quiet")
        assert code == 2
        assert_one_line(err, str(src), problem)


# --- logging a batch ----------------------------------------------------------------------------


def test_a_batch_is_recorded_as_a_run(store_copy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    from classify.fileio import file_sha256

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy.uri)
    out = tmp_path / "p.csv"
    code, _, err = run(capsys, "predict", UNSEEN_SEED, tmp_path / "nowhere.txt", "--out", out, "--log-run", "--quiet")
    assert code == 1 and "logged batch run" in err
    client = MlflowClient(store_copy.uri)
    exp = client.get_experiment_by_name("classify-batch")
    (run_,) = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'batch'")
    rows = pd.read_csv(out)
    assert run_.data.tags["engine"] == "local" and run_.data.tags["model_uri"] == MODEL
    assert run_.data.params["model_version"] == "1" and run_.data.metrics["measures"] == len(rows)
    assert run_.data.metrics["bad_files"] == 1 and run_.data.metrics["files"] == 2
    for lab in LABELS:
        assert run_.data.metrics[f"measures_{lab}"] == (rows["label"] == lab).sum()
    inputs = json.loads(Path(client.download_artifacts(run_.info.run_id, "inputs.json", str(tmp_path))).read_text())
    assert inputs["sha256"][str(UNSEEN_SEED)] == file_sha256(UNSEEN_SEED)
    assert inputs["bad_files"] == [{"path": str(tmp_path / "nowhere.txt"), "reason": "file not found"}]
    assert [a.path for a in client.list_artifacts(run_.info.run_id, "predictions")] == ["predictions/p.csv"]
    assert len(client.search_runs([client.get_experiment_by_name("classify").experiment_id])) == 1  # not a training


# --- against a tracking server --------------------------------------------------------------------


@pytest.mark.slow
def test_predict_from_the_servers_candidate(server_trained: dict) -> None:
    work, env = server_trained["work"], server_trained["env"]
    out = work / "predictions.csv"
    proc = server_trained["cli"](["predict", "--model", f"models:/{REGISTERED}@candidate", str(UNSEEN_SEED), "--out",
                                  str(out), "--quiet"], env, work)
    assert proc.stdout.splitlines()[0] == f"model: models:/{REGISTERED}@candidate"
    rows = pd.read_csv(out, dtype={"id": str})
    measures = _segment(UNSEEN_SEED)
    assert len(rows) == len(measures) > 10
    assert rows["id"].tolist() == [m.id for m in measures]
    assert set(rows["label"]) <= set(LABELS)
    probs = rows[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    assert abs(probs.sum(axis=1) - 1).max() < 1e-6
    assert abs(rows["confidence"].to_numpy() - probs.max(axis=1)).max() < 1e-9


def test_samples_predict_in_their_file_order(model, tmp_path: Path) -> None:
    from classify.predict.local import predict_notices

    result = predict_notices(model, [SAMPLES], out=tmp_path / "p.jsonl", progress=False)
    rows = read_jsonl(tmp_path / "p.jsonl")
    assert [r["notice"] for r in rows] == sorted([r["notice"] for r in rows])  # notices in file order, rows in order
    assert result.notices == 4 and not result.errors
