"""A training run, tracked: :func:`train` opens the MLflow run, runs the experiment, logs the model and
registers it, and closes the run, in that order, so the run's lifetime has one owner.

The model is registered only after everything else has been logged: an interrupted (Ctrl-C,
SIGTERM) or failed run ends KILLED or FAILED and never creates a version or moves an alias.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from classify.config import TrainConfig
from classify.interrupts import checkpoint, hold_interrupts
from classify.tracking.pyfunc import log_pyfunc_model
from classify.tracking.registry import Promotion, register
from classify.tracking.reporter import MlflowReporter, training_tags
from classify.tracking.store import connect, ensure_experiment
from classify.training import TrainingResult, load_training_data, run_training


@dataclass
class TrackedTraining:
    """A finished ``classify train``: the experiment's result and where MLflow keeps it."""

    run_id: str
    metrics: dict[str, float]
    model_uri: str
    registered_model: str
    version: str
    promotion: Promotion | None  # None without --promote
    tracking_uri: str
    training: TrainingResult

    @property
    def promoted(self) -> bool:
        return bool(self.promotion and self.promotion.promoted)


def train(config: TrainConfig, *, promote: bool = False, progress: bool = True) -> TrackedTraining:
    """Cross-validate, fit on all data, log everything into one MLflow run, register; see the module docstring."""
    import mlflow
    import yaml

    data = load_training_data(config)  # data errors surface before any run is created
    from classify.pretrained import check_pretrained_available

    for pretrained in config.pretrained_sources():
        check_pretrained_available(pretrained)  # before any run exists
    if getattr(config.model, "device", None) == "cuda":
        from classify.models.transformer_utils import select_device

        select_device("cuda")  # a GPU config on a machine without one stops here, not in the first fold's fit
    uri = connect(config.tracking.tracking_uri, create=True)
    ensure_experiment(config.tracking.experiment, uri)
    with hold_interrupts():
        run = mlflow.start_run(run_name=config.name, tags=training_tags(config))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reporter = MlflowReporter(config, Path(tmp), fold_runs=config.tracking.fold_runs)
            t0 = time.perf_counter()
            result = run_training(config, reporter=reporter, progress=progress, data=data)
            metrics = dict(result.metrics)
            metrics["run_wall_seconds"] = time.perf_counter() - t0
            (Path(tmp) / "config.yaml").write_text(
                yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True, sort_keys=False))
            checkpoint()
            with hold_interrupts():
                mlflow.log_metrics(metrics)
                mlflow.log_artifact(str(Path(tmp) / "config.yaml"), artifact_path="evaluation")
                example = result.data[["text", "heading", "issuer"]].head(3).fillna("").astype(str)
                info = log_pyfunc_model(result.model, example)
        checkpoint()
        with hold_interrupts() as hold:
            metric = config.tracking.promote_metric
            version, promotion = register(info.model_uri, config.tracking.registered_model, run.info.run_id,
                                          promote=promote, metric=metric, value=metrics.get(metric),
                                          scheme=config.scheme().name)
            mlflow.end_run()
            hold.discard()  # registered and finished: a signal this late has nothing left to stop
    except BaseException as exc:
        if mlflow.active_run() is not None:
            with hold_interrupts():
                mlflow.end_run(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    return TrackedTraining(run.info.run_id, metrics, info.model_uri, config.tracking.registered_model, version,
                           promotion, uri, result)
