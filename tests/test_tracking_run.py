"""A training run, tracked (classify/tracking/run.py and reporter.py): one MLflow run per ``classify train`` with its
params, data, metrics under one vocabulary (lono_, loiko_), per-fold numbers as step metrics and a folds table,
evaluation artifacts, the model, and what ``train()`` returns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    REGISTERED,
    STORE_NOTICES,
    TFIDF_CONFIG,
    copy_store,
    registry_state,
    server_api,
    store_rows,
    training_runs,
)

from classify.cli import main
from classify.labels import LABELS

ARTIFACTS = ("confusion_matrix.png", "classification_report.txt", "oof_predictions.csv", "misclassified.csv",
             "by_issuer_kind.csv", "folds.csv")


def test_a_training_run_logs_metrics_folds_and_artifacts(trained_store) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(trained_store.uri)
    exp = client.get_experiment_by_name("classify")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.run_id for r in runs] == [trained_store.run_id]  # one run per training: no fold runs by default
    run_ = runs[0]
    assert run_.info.status == "FINISHED"
    tags, params, metrics = run_.data.tags, run_.data.params, run_.data.metrics
    assert tags["classify.run_kind"] == "training" and tags["model_family"] == "tfidf"
    assert tags["label_scheme"] == "codebook" and tags["input_text"] == "measure" and tags["config_name"] == "tfidf_logreg"
    assert len(tags["data_sha256"]) == 64 and "git_commit" in tags
    assert params["model.classifier"] == "logreg" and params["label_scheme"] == "codebook"
    assert params["data.n_measures"] == str(len(store_rows())) and params["data.n_notices"] == str(len(STORE_NOTICES))

    for prefix in ("lono", "loiko"):
        for key in (f"{prefix}_macro_f1", f"{prefix}_accuracy", f"{prefix}_real_macro_f1", f"{prefix}_wall_seconds",
                    *(f"{prefix}_{m}_{lab}" for lab in LABELS for m in ("precision", "recall", "f1"))):
            assert key in metrics, key
        assert 0.0 <= metrics[f"{prefix}_macro_f1"] <= 1.0
    for key in ("train_seconds", "predict_measures_per_second", "run_wall_seconds", "ece", "brier",
                "ece_uncalibrated", "review_threshold", "review_flagged_fraction", "secondary_threshold"):
        assert key in metrics, key
    assert not [k for k in metrics if k.startswith(("cv_", "kind_"))]  # the old vocabulary is gone

    # per-fold numbers: a step per fold, and a table
    lono_steps = client.get_metric_history(trained_store.run_id, "lono_fold_macro_f1")
    assert sorted(m.step for m in lono_steps) == list(range(len(STORE_NOTICES)))
    kinds = {r["issuer_kind"] for r in store_rows()}
    assert len(client.get_metric_history(trained_store.run_id, "loiko_fold_accuracy")) == len(kinds)
    for prefix in ("lono", "loiko"):
        listed = {a.path for a in client.list_artifacts(trained_store.run_id, f"evaluation/{prefix}")}
        assert {f"evaluation/{prefix}/{name}" for name in ARTIFACTS} <= listed
    folds = pd.read_csv(client.download_artifacts(trained_store.run_id, "evaluation/lono/folds.csv"))
    assert sorted(folds["held_out"]) == sorted(STORE_NOTICES) and folds["n_test"].sum() == len(store_rows())
    assert folds["macro_f1"].tolist() == [m.value for m in sorted(lono_steps, key=lambda m: m.step)]
    oof = pd.read_csv(client.download_artifacts(trained_store.run_id, "evaluation/loiko/oof_predictions.csv"))
    assert len(oof) == len(store_rows()) and oof["misclassified"].sum() == (oof["label"] != oof["predicted"]).sum()
    assert set(oof["fold"]) == kinds

    assert "evaluation/config.yaml" in {a.path for a in client.list_artifacts(trained_store.run_id, "evaluation")}
    calibration = {a.path for a in client.list_artifacts(trained_store.run_id, "evaluation/calibration")}
    assert {"evaluation/calibration/reliability_diagram.png",
            "evaluation/calibration/calibrated_oof_predictions.csv"} <= calibration

    registry = MlflowClient(trained_store.uri, trained_store.uri)
    for alias in ("candidate", "champion"):
        mv = registry.get_model_version_by_alias(REGISTERED, alias)
        assert str(mv.version) == "1" and mv.run_id == trained_store.run_id


def test_experiment_is_a_model_training_experiment_with_its_dataset(trained_store) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(trained_store.uri)
    exp = client.get_experiment_by_name("classify")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    (run_,) = training_runs(trained_store.uri)
    inputs = client.get_run(run_.info.run_id).inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest and "subset.jsonl" in inputs[0].dataset.source


def test_what_train_prints(trained_store) -> None:
    lines = trained_store.train_output.strip().splitlines()
    assert lines[0].startswith("tfidf_logreg (tfidf, input: measure, labels: codebook) on ")
    assert lines[0].endswith(f"{len(store_rows())} measures, {len(STORE_NOTICES)} notices")
    assert lines[1].split()[:2] == ["leave-one-notice-out", "macro-F1"] and "real" in lines[1]
    assert lines[2].split()[:2] == ["leave-one-issuer-kind-out", "macro-F1"]
    assert [line.split()[0] for line in lines[3:8]] == list(LABELS)
    assert f"registered {REGISTERED} v1 (candidate, champion); run {trained_store.run_id}" in lines
    assert any(line.startswith("promoted: no champion yet: this run takes it (loiko_real_macro_f1 ") for line in lines)
    assert lines[-1] == f"tracking store: {trained_store.uri}"


# --- a second training: fold runs, no promotion metric --------------------------------------------


@pytest.fixture(scope="module")
def fold_runs_training(trained_store, tmp_path_factory: pytest.TempPathFactory):
    """``classify train --promote`` with ``tracking.fold_runs: true`` and leave-one-notice-out only, into a copy of the
    store: (the store, what train() returned, what the command printed)."""
    import contextlib
    import io

    import classify.tracking

    store = copy_store(trained_store, tmp_path_factory.mktemp("fold-runs") / "store")
    returned = []
    real_train = classify.tracking.train

    def spy(*args, **kwargs):
        returned.append(real_train(*args, **kwargs))
        return returned[-1]

    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setattr(classify.tracking, "train", spy)
        mp.setenv("MLFLOW_TRACKING_URI", store.uri)
        mp.chdir(store.root)
        code = main(["train", "--config", str(TFIDF_CONFIG), "--set", f"data.path={store.data}", "--set",
                     "tracking.fold_runs=true", "--set", "evaluation.schemes=[leave_one_notice_out]", "--set",
                     "evaluation.calibrate_on=leave_one_notice_out", "--promote", "--quiet"])
    assert code == 0, printed.getvalue()
    return store, returned[0], printed.getvalue()


def test_train_returns_what_it_tracked(fold_runs_training) -> None:
    from mlflow import MlflowClient

    from classify.tracking import TrackedTraining
    from classify.training import TrainingResult

    store, result, _ = fold_runs_training
    assert isinstance(result, TrackedTraining) and isinstance(result.training, TrainingResult)
    assert result.tracking_uri == store.uri and result.registered_model == REGISTERED and result.version == "2"
    assert result.model_uri.startswith("models:/m-")  # the logged model
    assert result.metrics["lono_macro_f1"] == MlflowClient(store.uri).get_run(result.run_id).data.metrics[
        "lono_macro_f1"]
    assert "loiko_macro_f1" not in result.metrics


def test_a_run_without_the_promote_metric_never_takes_champion_and_says_why(fold_runs_training) -> None:
    """Leave-one-notice-out only: no loiko_real_macro_f1, so the run cannot be compared and never takes champion,
    however good it is."""
    store, result, printed = fold_runs_training
    assert result.promotion is not None and not result.promoted
    assert ("not promoted: the run has no loiko_real_macro_f1 (is its scheme configured?), so it cannot be compared; "
            "champion unchanged") in printed
    assert f"registered {REGISTERED} v2 (candidate); run {result.run_id}" in printed
    assert registry_state(store.uri) == (["1", "2"], {"candidate": "2", "champion": "1"})


def test_fold_runs_are_children_of_the_training_run(fold_runs_training) -> None:
    from mlflow import MlflowClient

    store, result, _ = fold_runs_training
    client = MlflowClient(store.uri)
    exp = client.get_experiment_by_name("classify")
    folds = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'fold'")
    assert {r.data.tags["mlflow.parentRunId"] for r in folds} == {result.run_id}
    assert sorted(r.data.params["held_out"] for r in folds) == sorted(STORE_NOTICES)
    assert all({"macro_f1", "accuracy", "train_seconds"} <= set(r.data.metrics) for r in folds)
    # the step metrics and the table are there as well
    assert len(client.get_metric_history(result.run_id, "lono_fold_macro_f1")) == len(STORE_NOTICES)
    assert len(training_runs(store.uri)) == 2


# --- against a tracking server --------------------------------------------------------------------


@pytest.mark.slow
def test_training_runs_on_a_server_are_comparable(server_trained: dict) -> None:
    server = server_trained["url"]
    exp = server_api(server, "GET", "experiments/get-by-name", params={"experiment_name": "classify"})["experiment"]
    runs = server_api(server, "POST", "runs/search", json={
        "experiment_ids": [exp["experiment_id"]], "filter": "tags.`classify.run_kind` = 'training'",
        "max_results": 50})["runs"]
    assert len(runs) == 2
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    assert sorted(t["model_family"] for t in tags) == ["bert", "tfidf"]
    assert all(r["info"]["status"] == "FINISHED" for r in runs)
    assert all(r["info"]["artifact_uri"].startswith("mlflow-artifacts:") for r in runs)  # served by the server

    keys = [{m["key"] for m in r["data"]["metrics"]} for r in runs]
    assert keys[0] == keys[1], keys[0] ^ keys[1]
    required = {"lono_macro_f1", "lono_accuracy", *(f"lono_f1_{lab}" for lab in LABELS),
                *(f"lono_precision_{lab}" for lab in LABELS), *(f"lono_recall_{lab}" for lab in LABELS),
                "train_seconds", "predict_measures_per_second"}
    assert required <= keys[0], required - keys[0]
    for run_ in runs:
        metrics = {m["key"]: m["value"] for m in run_["data"]["metrics"]}
        assert 0.0 <= metrics["lono_macro_f1"] <= 1.0 and 0.0 <= metrics["lono_accuracy"] <= 1.0
        # one step per held-out notice, per config
        history = server_api(server, "GET", "metrics/get-history",
                             params={"run_id": run_["info"]["run_id"], "metric_key": "lono_fold_macro_f1"})["metrics"]
        assert sorted(m["step"] for m in history) == list(range(len(server_trained["notices"])))
    params = [{p["key"] for p in r["data"].get("params", [])} for r in runs]
    assert {"name", "seed", "model.family", "data.path", "data.n_measures", "data.n_notices"} <= params[0] & params[1]
    folds = server_api(server, "POST", "runs/search", json={
        "experiment_ids": [exp["experiment_id"]], "filter": "tags.`classify.run_kind` = 'fold'", "max_results": 50})
    assert folds.get("runs", []) == []  # fold runs are off by default


def test_the_store_copy_is_independent(trained_store, tmp_path: Path) -> None:
    """What a copy of the trained store records stays in the copy (the fixtures rely on it)."""
    import mlflow

    from classify.tracking import connect

    copy = copy_store(trained_store, tmp_path / "copy")
    connect(copy.uri)
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("classify").experiment_id) as run_:
        mlflow.log_text("x", "note.txt")
    assert (copy.db_dir / "mlartifacts").is_dir() and any((copy.db_dir / "mlartifacts").rglob("note.txt"))
    assert not any((trained_store.db_dir / "mlartifacts").rglob("note.txt"))
    assert [r.info.run_id for r in training_runs(trained_store.uri)] == [trained_store.run_id]
    assert run_.info.run_id not in {r.info.run_id for r in training_runs(copy.uri)}
