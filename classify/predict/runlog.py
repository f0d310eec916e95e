"""The MLflow side of batch prediction: which model a URI names, and a batch recorded as a run.

A batch run (tag ``classify.run_kind=batch``, experiment ``classify-batch``) holds the model URI and
version, the sha256 of every input file (a JSON artifact), the measures per category as metrics,
and the predictions file itself, so a set of predictions can be traced to its model and inputs.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BATCH_EXPERIMENT = "classify-batch"
MODEL_BUNDLE = "artifacts/model_dir/trained_model.json"  # inside a pyfunc model logged by classify.tracking
CARD_METRICS = ("cv_macro_f1", "cv_accuracy", "kind_macro_f1", "kind_accuracy", "ece", "brier",
                "review_threshold", "review_flagged_fraction", "n_measures", "n_notices")


def model_version(model_uri: str) -> dict[str, str] | None:
    """``{"registered_model", "version", "run_id"}`` for ``models:/name@alias`` or ``models:/name/N``, else None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    m = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", model_uri)
    if m is None:
        return None
    name, alias, number = m.groups()
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException:
        return None
    return {"registered_model": name, "version": str(mv.version), "run_id": mv.run_id or ""}


def model_card(model_uri: str, *, note: str | None = None) -> dict[str, Any]:
    """What the report shows about a model: URI, registered version, family, config and its CV metrics.

    The metrics come from the card the model carries (``trained_model.json``), so a model folder
    without a registry has them too; what cannot be found is left out.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    card: dict[str, Any] = {"uri": model_uri}
    if note:
        card["note"] = note
    card.update(model_version(model_uri) or {})
    with tempfile.TemporaryDirectory() as tmp:
        try:
            bundle_path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{model_uri.rstrip('/')}/{MODEL_BUNDLE}", dst_path=tmp)
            inner = json.loads(Path(bundle_path).read_text(encoding="utf-8")).get("card") or {}
        except (MlflowException, OSError, ValueError):  # not a classify model, or its files are gone
            inner = {}
    card.update({k: inner[k] for k in ("family", "config", "input_text", "calibrated_on") if k in inner})
    metrics = {k: inner[k] for k in CARD_METRICS if isinstance(inner.get(k), int | float)}
    if metrics:
        card["metrics"] = metrics
    return card


def _hashes(files: Iterable[str | Path]) -> dict[str, str | None]:
    """sha256 per input file; None for one that is not on this machine (hdfs://, s3a://) or is gone."""
    from classify.fileio import file_sha256

    out: dict[str, str | None] = {}
    for f in files:
        try:
            out[str(f)] = None if "://" in str(f) else file_sha256(f)
        except OSError:
            out[str(f)] = None
    return out


def log_batch_run(model_uri: str, files: Iterable[str | Path], predictions: str | Path,
                  counts: Mapping[str, int], *, engine: str, errors: Iterable[tuple[str, str]] = (),
                  review: int | None = None, seconds: float | None = None) -> str:
    """Record one batch of predictions as an MLflow run in the current store; returns the run id.

    ``files`` are the notice files read, ``counts`` the measures per category, ``errors`` the files
    that could not be used ((path, reason)). The predictions file (or Parquet folder) is logged as is;
    one on cluster storage is named by the run's ``predictions`` tag.
    """
    import mlflow

    from classify.labels import LABELS
    from classify.tracking import PARENT_TAG, artifact_location

    exp = mlflow.get_experiment_by_name(BATCH_EXPERIMENT)
    exp_id = exp.experiment_id if exp is not None else mlflow.create_experiment(
        BATCH_EXPERIMENT, artifact_location=artifact_location(mlflow.get_tracking_uri()))
    version = model_version(model_uri) or {}
    errors = list(errors)
    hashes = _hashes(files)
    tags = {PARENT_TAG: "batch", "engine": engine, "model_uri": model_uri, "predictions": str(predictions), **version}
    predictions = Path(predictions)
    metrics: dict[str, float] = {f"measures_{lab}": float(counts.get(lab, 0)) for lab in LABELS}
    metrics.update({"measures": float(sum(counts.values())), "files": float(len(hashes)),
                    "bad_files": float(len(errors))})
    if review is not None:
        metrics["needs_review"] = float(review)
    if seconds is not None:
        metrics["wall_seconds"] = float(seconds)
    with mlflow.start_run(experiment_id=exp_id, run_name=f"batch:{predictions.name}", tags=tags) as run:
        mlflow.log_params({"model_uri": model_uri, "model_version": version.get("version", "none"),
                           "engine": engine, "predictions": predictions.name})
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"sha256": hashes, "bad_files": [{"path": p, "reason": r} for p, r in errors]},
                        "inputs.json")
        # Parquet on cluster storage (hdfs://, s3a://) is neither here: the "predictions" tag names it
        if predictions.is_dir():  # the spark engine's Parquet folder
            mlflow.log_artifacts(str(predictions), artifact_path=f"predictions/{predictions.name}")
        elif predictions.is_file():
            mlflow.log_artifact(str(predictions), artifact_path="predictions")
        return run.info.run_id
