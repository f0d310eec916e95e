"""The Spark engine (issue 'Many notices'): on local[2] it gives the local engine's rows and labels, writes
Parquet or one CSV file, reports bad files without failing, and records a batch run. One Spark session for all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import train_subset_store
from test_bad_input import NEWS, REGISTERED

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("pyspark needs Java (17 or later)", allow_module_level=True)

from classify.cli import main  # noqa: E402
from classify.models.trained import OUTPUT_COLUMNS  # noqa: E402
from classify.predict.local import MEASURE_COLUMNS, ROW_COLUMNS, predict_notices  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
INPUTS = [REPO / "seeds", REPO / "data" / "samples"]
MODEL = f"models:/{REGISTERED}@champion"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A TF-IDF model in a temporary store, and the one Spark session (local[2]) the tests share."""
    from classify.predict.spark import spark_session

    root = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as mp:
        uri = train_subset_store(root, mp)
        with spark_session("local[2]"):  # predict_spark and the CLI use this active session
            yield {"root": root, "uri": uri}


def test_both_engines_give_the_same_rows_and_labels(store: dict, tmp_path: Path) -> None:
    from classify.predict.spark import predict_spark
    from classify.tracking import connect, load_model

    connect(store["uri"])
    local = predict_notices(load_model(MODEL), INPUTS, out=tmp_path / "local.jsonl", progress=False)
    assert not local.errors and local.rows > 300
    result = predict_spark(MODEL, INPUTS, tmp_path / "spark.parquet", tracking_uri=store["uri"])
    assert result["errors"] == [] and result["rows"] == local.rows and result["notices"] == local.notices

    a = pd.read_json(tmp_path / "local.jsonl", lines=True, dtype=False).set_index("id").sort_index()
    b = pd.read_parquet(tmp_path / "spark.parquet")
    assert list(b.columns) == ROW_COLUMNS  # the local engine's columns, in its order
    b = b.set_index("id").sort_index()
    assert a.index.tolist() == b.index.tolist()  # same measures, same ids
    assert (a["label"] == b["label"]).all()
    for col in (c for c in MEASURE_COLUMNS if c != "id"):
        assert (a[col].fillna("") == b[col].fillna("")).all(), col
    for col in (c for c in OUTPUT_COLUMNS if c.startswith("prob_") or c == "confidence"):
        assert (a[col] - b[col]).abs().max() < 1e-9, col
    assert (a["needs_review"] == b["needs_review"]).all()
    assert (a["secondary_label"].fillna("") == b["secondary_label"].fillna("")).all()
    counts = b["label"].value_counts().to_dict()
    assert result["counts"] == dict(sorted(counts.items())) and result["review"] == int(b["needs_review"].sum())


def test_cli_spark_csv_reports_bad_files_and_logs_the_batch(store: dict, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    seed = REPO / "seeds" / "001_069fa13e86ff3dc9.txt"
    shutil.copy(seed, folder / "a.txt")
    shutil.copy(REPO / "data" / "samples" / "synthetic_education_bureau.html", folder / "sub" / "b.html")  # recursive
    (folder / "empty.txt").write_bytes(b"")
    (folder / "news.txt").write_text(NEWS, encoding="utf-8")
    (folder / "notes.jsonl").write_text("{}\n", encoding="utf-8")  # not a notice suffix: not read at all
    out = tmp_path / "pred.csv"
    out.write_text("an older file, replaced\n", encoding="utf-8")

    code = main(["predict", str(folder), "--engine", "spark", "--out", str(out), "--log-run"])
    stdout, err = capsys.readouterr()
    assert code == 1  # bad files are reported and make the exit status 1, as with the local engine
    assert "measures in 2 notice(s)" in stdout and f"wrote {out}" in stdout
    assert f"error: {folder / 'empty.txt'}: empty file" in err
    assert f"error: {folder / 'news.txt'}: no rectification measure found" in err
    assert "notes.jsonl" not in err and "2 file(s) could not be used" in err

    rows = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(rows.columns) == ROW_COLUMNS
    assert set(rows["notice"]) == {"a", "b"}
    # one notice's rows are in document order, as the local engine writes them
    from classify.tracking import load_model

    expected = predict_notices(load_model(MODEL), [folder / "a.txt"], out=tmp_path / "a.jsonl", progress=False)
    want = pd.read_json(tmp_path / "a.jsonl", lines=True, dtype=False)
    got = rows[rows["notice"] == "a"]
    assert got["id"].tolist() == want["id"].tolist() and got["label"].tolist() == want["label"].tolist()
    assert got["text"].tolist() == want["text"].tolist()  # quotes and commas inside text survive the CSV
    assert expected.rows == len(got)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left

    from mlflow import MlflowClient

    client = MlflowClient(store["uri"])
    exp = client.get_experiment_by_name("classify-batch")
    (run,) = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'batch' and tags.engine = 'spark'")
    assert run.data.params["model_version"] == "1" and run.data.tags["model_uri"] == MODEL
    assert run.data.metrics["measures"] == len(rows) and run.data.metrics["bad_files"] == 2
    for lab, n in rows["label"].value_counts().items():
        assert run.data.metrics[f"measures_{lab}"] == n
    inputs = json.loads(Path(client.download_artifacts(run.info.run_id, "inputs.json", str(tmp_path))).read_text())
    from classify.fileio import file_sha256

    assert inputs["sha256"][str(folder / "a.txt")] == file_sha256(seed)
    assert len(inputs["sha256"]) == 4  # a, sub/b, empty, news
    assert [a.path for a in client.list_artifacts(run.info.run_id, "predictions")] == ["predictions/pred.csv"]


def test_spark_output_must_be_parquet_or_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["predict", str(INPUTS[0]), "--engine", "spark", "--out", str(tmp_path / "x.jsonl")])
    assert code == 2 and "writes .parquet (a folder) or .csv" in capsys.readouterr().err
    code = main(["predict", str(INPUTS[0]), "--engine", "spark"])
    assert code == 2 and "needs --out" in capsys.readouterr().err
