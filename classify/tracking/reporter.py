"""The MLflow side of a training run: what :func:`classify.training.run_training` reports, logged into the
active run as it goes (the run itself is opened and closed by :func:`classify.tracking.run.train`).

Every training is one row of the UI's runs table: per-fold numbers are a table artifact per scheme
(``evaluation/lono/folds.csv``) and step-indexed metrics of the run (``lono_fold_macro_f1`` at step
k is fold k), so the table is not flooded with ~100 fold runs. ``tracking.fold_runs: true`` adds a
child run per fold as well.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from classify.config import TrainConfig
from classify.evaluation import PREFIX, CVResult, FoldResult
from classify.interrupts import checkpoint, hold_interrupts
from classify.tracking.store import RUN_KIND_TAG
from classify.training import CalibrationResult, TrainingReporter

DATA_COLUMNS = ("id", "notice_id", "issuer", "issuer_kind", "source", "heading", "text", "label")


def training_tags(config: TrainConfig) -> dict[str, str]:
    from classify.fileio import file_sha256, git_commit

    return {RUN_KIND_TAG: "training", "model_family": config.model.family, "config_name": config.name,
            "data_sha256": file_sha256(config.data.path), "git_commit": git_commit(),
            "input_text": config.input.text, "label_scheme": config.scheme().name}


class MlflowReporter(TrainingReporter):
    """Logs params and data at the start, folds (as a table and step metrics), artifacts per scheme."""

    def __init__(self, config: TrainConfig, artifacts_dir: Path, *, fold_runs: bool = False) -> None:
        self.config = config
        self.dir = artifacts_dir
        self.fold_runs = fold_runs
        self._steps: dict[str, int] = {}

    def on_start(self, config: TrainConfig, data: pd.DataFrame) -> None:
        import mlflow

        with hold_interrupts():
            mlflow.log_params(config.flat_params())
            mlflow.log_params({"data.n_measures": len(data), "data.n_notices": data["notice_id"].nunique(),
                               "data.n_issuer_kinds": data["issuer_kind"].nunique()})
            with warnings.catch_warnings():  # MLflow registers the local-file source type twice and says so
                warnings.simplefilter("ignore")
                dataset = mlflow.data.from_pandas(data[[c for c in DATA_COLUMNS if c in data]],
                                                  source=str(Path(config.data.path).resolve()),
                                                  name=Path(config.data.path).name, targets="label")
            mlflow.log_input(dataset, context="training")

    def on_fold(self, fold: FoldResult) -> None:
        import mlflow

        checkpoint()  # a Ctrl-C swallowed by a finaliser during the fold stops the run here
        prefix = PREFIX[fold.scheme]
        step = self._steps.get(prefix, 0)
        self._steps[prefix] = step + 1
        with hold_interrupts():
            mlflow.log_metrics({f"{prefix}_fold_{k}": v for k, v in fold.metrics.items()}, step=step)
            if self.fold_runs:
                with mlflow.start_run(run_name=f"{prefix}:{fold.held_out}", nested=True,
                                      tags={RUN_KIND_TAG: "fold", "scheme": fold.scheme, "held_out": fold.held_out}):
                    mlflow.log_params({"scheme": fold.scheme, "held_out": fold.held_out, "n_train": fold.n_train,
                                       "n_test": fold.n_test,
                                       "labels_missing_from_train": ",".join(fold.missing_labels) or "none"})
                    mlflow.log_metrics({**fold.metrics, "train_seconds": fold.train_seconds})

    def on_cv(self, cv: CVResult) -> None:
        import mlflow

        from classify.evaluation import fold_table, per_kind_table, plot_confusion_matrix, report_text

        prefix = PREFIX[cv.scheme]
        folder = self.dir / prefix
        folder.mkdir(parents=True, exist_ok=True)
        fold_table(cv).to_csv(folder / "folds.csv", index=False)
        cv.oof.to_csv(folder / "oof_predictions.csv", index=False)
        cv.oof[cv.oof["misclassified"]].to_csv(folder / "misclassified.csv", index=False)
        (folder / "classification_report.txt").write_text(report_text(cv.oof, cv.labels))
        per_kind_table(cv).to_csv(folder / "by_issuer_kind.csv", index=False)
        plot_confusion_matrix(cv.oof, cv.labels, str(folder / "confusion_matrix.png"),
                              f"{self.config.name}: {cv.scheme.replace('_', '-')} (n={len(cv.oof)})")
        with hold_interrupts():
            mlflow.log_artifacts(str(folder), artifact_path=f"evaluation/{prefix}")

    def on_calibrated(self, calibrated: CalibrationResult) -> None:
        import mlflow

        from classify.calibration import label_index, plot_reliability
        from classify.labels import prob_column

        labels = self.config.scheme().labels
        folder = self.dir / "calibration"
        folder.mkdir(parents=True, exist_ok=True)
        y_idx = label_index(calibrated.calibrated_oof["label"], labels)
        cal = calibrated.calibrated_oof[[prob_column(lab) for lab in labels]].to_numpy()
        plot_reliability(calibrated.raw_proba, cal, y_idx, str(folder / "reliability_diagram.png"),
                         f"{self.config.name}: {calibrated.scheme.replace('_', '-')}")
        calibrated.calibrated_oof.to_csv(folder / "calibrated_oof_predictions.csv", index=False)
        with hold_interrupts():
            mlflow.log_artifacts(str(folder), artifact_path="evaluation/calibration")
