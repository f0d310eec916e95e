"""The Spark engine (classify/predict/spark.py): on local[2] it gives the local engine's rows and labels in the same
result type, writes Parquet or one CSV file, reports bad files without failing, records a batch run, and follows the
model's label scheme. One Spark session for all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import NEWS, REGISTERED, REPO, SAMPLES

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("pyspark needs Java (17 or later)", allow_module_level=True)

from classify.cli import main  # noqa: E402
from classify.labels import default_scheme, load_scheme  # noqa: E402
from classify.predict import BatchResult  # noqa: E402
from classify.predict.local import predict_notices  # noqa: E402
from classify.schema import PredictionSchema  # noqa: E402

pytestmark = pytest.mark.slow

INPUTS = [REPO / "seeds", SAMPLES]
MODEL = f"models:/{REGISTERED}@champion"
SCHEMA = PredictionSchema.of(default_scheme())


@pytest.fixture(scope="module")
def spark():
    """The one Spark session (local[2]) the tests share; predict_spark and the CLI use it while it is active."""
    from classify.predict.spark import spark_session

    with spark_session("local[2]") as session:
        yield session


def _compare_engines(local_out: Path, spark_out: Path, schema: PredictionSchema) -> pd.DataFrame:
    a = pd.read_json(local_out, lines=True, dtype=False).set_index("id").sort_index()
    b = pd.read_parquet(spark_out)
    assert list(b.columns) == schema.row_names()  # the local engine's columns, in its order
    b = b.set_index("id").sort_index()
    assert a.index.tolist() == b.index.tolist()  # same measures, same ids
    assert (a["label"] == b["label"]).all()
    for col in (c for c in schema.measure_names if c != "id"):
        m = a[col].fillna("") != b[col].fillna("")
        assert not m.any(), (col, a[col][m].head(3).tolist(), b[col][m].head(3).tolist())
    for col in ("confidence", *schema.prob_columns):
        assert (a[col] - b[col]).abs().max() < 1e-9, col
    assert (a["needs_review"] == b["needs_review"]).all()
    m = a["secondary_label"].fillna("") != b["secondary_label"].fillna("")
    assert not m.any(), (a.loc[m, ["label", "secondary_label", "confidence"]].head(3).to_dict(orient="records"),
                         b.loc[m, ["label", "secondary_label", "review_reason"]].head(3).to_dict(orient="records"))
    return b


def test_both_engines_give_the_same_rows_and_labels(spark, trained_store, tmp_path: Path) -> None:
    from classify.predict.spark import predict_spark
    from classify.tracking import connect, load_model

    connect(trained_store.uri)
    local = predict_notices(load_model(MODEL), INPUTS, out=tmp_path / "local.jsonl", progress=False)
    assert not local.errors and local.rows > 300
    result = predict_spark(MODEL, INPUTS, tmp_path / "spark.parquet", tracking_uri=trained_store.uri)
    assert isinstance(result, BatchResult) and result.engine == "spark" and result.labels == SCHEMA.labels
    assert result.errors == [] and result.rows == local.rows and result.notices == local.notices
    assert result.out == str((tmp_path / "spark.parquet").resolve())
    b = _compare_engines(tmp_path / "local.jsonl", tmp_path / "spark.parquet", SCHEMA)
    assert result.label_counts() == {lab: int((b["label"] == lab).sum()) for lab in SCHEMA.labels}
    assert result.review_total == int(b["needs_review"].sum()) == local.review_total
    # what `classify predict` prints, whichever engine ran (Spark counts come back in no particular order)
    assert result.table().sort_index().equals(local.table().sort_index())


def test_a_three_category_model_on_spark(spark, coarse3_store, tmp_path: Path) -> None:
    """The Spark schema comes from the model's label scheme: coarse3's three prob_ columns, as the local engine."""
    from classify.predict.spark import predict_spark
    from classify.tracking import connect, load_model

    schema = PredictionSchema.of(load_scheme("coarse3"))
    connect(coarse3_store.uri)
    local = predict_notices(load_model(coarse3_store.model_uri), [SAMPLES], out=tmp_path / "local.jsonl",
                            progress=False)
    result = predict_spark(coarse3_store.model_uri, [SAMPLES], tmp_path / "spark.parquet",
                           tracking_uri=coarse3_store.uri)
    assert result.labels == schema.labels and result.rows == local.rows
    b = _compare_engines(tmp_path / "local.jsonl", tmp_path / "spark.parquet", schema)
    assert set(b["label"]) <= set(schema.labels)


def test_the_schema_ddl_is_sparks(spark) -> None:
    schema = PredictionSchema.of(load_scheme("coarse3"))
    frame = spark.createDataFrame([], schema.spark_output_ddl())
    assert frame.columns == schema.output_names
    assert dict(frame.dtypes)["needs_review"] == "boolean" and dict(frame.dtypes)["prob_line_work"] == "double"
    assert spark.createDataFrame([], schema.spark_measure_ddl()).columns == schema.measure_names


def test_cli_spark_csv_reports_bad_files_and_logs_the_batch(spark, store_copy, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy.uri)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    seed = REPO / "seeds" / "001_069fa13e86ff3dc9.txt"
    shutil.copy(seed, folder / "a.txt")
    shutil.copy(SAMPLES / "synthetic_education_bureau.html", folder / "sub" / "b.html")  # recursive
    (folder / "empty.txt").write_bytes(b"")
    (folder / "news.txt").write_text(NEWS, encoding="utf-8")
    (folder / "notes.jsonl").write_text("{}\n", encoding="utf-8")  # not a notice suffix: not read at all
    out = tmp_path / "pred.csv"
    out.write_text("an older file, replaced\n", encoding="utf-8")

    code = main(["predict", str(folder), "--engine", "spark", "--out", str(out), "--log-run"])
    stdout, err = capsys.readouterr()
    assert code == 1  # bad files are reported and make the exit status 1, as with the local engine
    model_line, *table = stdout.splitlines()
    assert model_line == f"model: {MODEL}"
    assert table[0].split() == ["notice", *SCHEMA.labels, "measures", "review"]
    assert {line.split()[0] for line in table[2:5]} == {"a", "b", "total"}  # two notices read
    assert table[5].startswith("wrote ") and f"rows to {out} in " in table[5]
    assert f"error: {folder / 'empty.txt'}: empty file" in err
    assert f"error: {folder / 'news.txt'}: no rectification measure found" in err
    assert "notes.jsonl" not in err and "2 file(s) could not be used" in err

    rows = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert list(rows.columns) == SCHEMA.row_names()
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

    client = MlflowClient(store_copy.uri)
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
