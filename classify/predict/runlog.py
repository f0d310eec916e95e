"""The MLflow side of batch prediction: a batch recorded as a run.

A batch run (tag ``classify.run_kind=batch``, experiment ``classify-batch``) holds the model URI and
version, the sha256 of every input file (a JSON artifact), the measures per category as metrics,
and the predictions file itself, so a set of predictions can be traced to its model and inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from classify.predict.result import BatchResult

BATCH_EXPERIMENT = "classify-batch"


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


def log_batch_run(result: BatchResult) -> str:
    """Record one batch of predictions as an MLflow run in the current store; returns the run id.

    The predictions file (or Parquet folder) is logged as is; one on cluster storage is named by the
    run's ``predictions`` tag.
    """
    import mlflow

    from classify.tracking import RUN_KIND_TAG, ensure_experiment, model_version

    exp_id = ensure_experiment(BATCH_EXPERIMENT, training=False, activate=False)
    version = model_version(result.model_uri) or {}
    hashes = _hashes(result.files)
    tags = {RUN_KIND_TAG: "batch", "engine": result.engine, "model_uri": result.model_uri,
            "predictions": str(result.out), **version}
    predictions = Path(str(result.out))
    metrics: dict[str, float] = {f"measures_{lab}": float(n) for lab, n in result.label_counts().items()}
    metrics.update({"measures": float(result.rows), "files": float(len(hashes)), "bad_files": float(len(result.errors)),
                    "needs_review": float(result.review_total), "wall_seconds": float(result.seconds)})
    with mlflow.start_run(experiment_id=exp_id, run_name=f"batch:{predictions.name}", tags=tags) as run:
        mlflow.log_params({"model_uri": result.model_uri, "model_version": version.get("version", "none"),
                           "engine": result.engine, "predictions": predictions.name})
        mlflow.log_metrics(metrics)
        mlflow.log_dict({"sha256": hashes, "bad_files": [{"path": p, "reason": r} for p, r in result.errors]},
                        "inputs.json")
        # Parquet on cluster storage (hdfs://, s3a://) is neither here: the "predictions" tag names it
        if predictions.is_dir():  # the spark engine's Parquet folder
            mlflow.log_artifacts(str(predictions), artifact_path=f"predictions/{predictions.name}")
        elif predictions.is_file():
            mlflow.log_artifact(str(predictions), artifact_path="predictions")
        return run.info.run_id
