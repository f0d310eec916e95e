"""Label audit: likely label errors in the training data, from out-of-fold probabilities (cleanlab).

Every measure is scored by a model that never saw it (leave-one-notice-out), and cleanlab's
``find_label_issues`` ranks the measures whose given label the other measures contradict. Each
flagged measure is then re-read against the codebook by a person: fixed, or kept with a note.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from classify.calibration import label_index
from classify.config import TrainConfig
from classify.labels import prob_column


def label_issues(oof: pd.DataFrame, labels: tuple[str, ...]) -> pd.DataFrame:
    """Flagged measures, most doubtful first: id, notice, given and suggested label, label quality, text."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    proba = oof[[prob_column(lab) for lab in labels]].to_numpy()
    proba = np.clip(proba, 1e-9, None)
    proba = proba / proba.sum(axis=1, keepdims=True)
    given = label_index(oof["label"], labels)
    # n_jobs=1: cleanlab's worker pool would fork this process with its SIGTERM handler (a few hundred rows need no pool)
    ranked = find_label_issues(labels=given, pred_probs=proba, return_indices_ranked_by="self_confidence", n_jobs=1)
    quality = get_label_quality_scores(given, proba)
    rows = oof.iloc[ranked]
    return pd.DataFrame({
        "id": rows["id"].to_numpy(), "notice_id": rows["notice_id"].to_numpy(),
        "issuer_kind": rows["issuer_kind"].to_numpy(), "given": rows["label"].to_numpy(),
        "suggested": np.asarray(labels)[proba[ranked].argmax(axis=1)], "quality": quality[ranked].round(4),
        "text": rows["text"].to_numpy(),
    })


def audit_labels(config: TrainConfig, *, out: str | Path | None = None, log_run: bool = True,
                 progress: bool = True) -> pd.DataFrame:
    """Cross-validate ``config`` (leave-one-notice-out), flag likely label errors, optionally log them as a run."""
    from classify.fileio import check_output_path, write_records
    from classify.training import run_training

    if out:
        check_output_path(out, [config.data.path])
    config = config.model_copy(update={"evaluation": config.evaluation.model_copy(
        update={"schemes": ["leave_one_notice_out"], "calibrate_on": "leave_one_notice_out"})})
    result = run_training(config, progress=progress, final_fit=False)
    cv = result.cvs["leave_one_notice_out"]
    issues = label_issues(cv.oof, cv.labels)
    if out:
        write_records(issues.to_dict(orient="records"), out)
    if log_run:
        _log(config, issues)
    return issues


def _log(config: TrainConfig, issues: pd.DataFrame) -> None:
    import tempfile

    import mlflow

    from classify.interrupts import hold_interrupts
    from classify.tracking import RUN_KIND_TAG, connect, ensure_experiment

    uri = connect(config.tracking.tracking_uri, create=True)
    ensure_experiment(config.tracking.experiment, uri)
    with tempfile.TemporaryDirectory() as tmp, hold_interrupts():
        path = Path(tmp) / "label_issues.csv"
        issues.to_csv(path, index=False)
        with mlflow.start_run(run_name=f"audit {config.name}", tags={RUN_KIND_TAG: "audit", "config_name": config.name}):
            mlflow.log_params({"data.path": str(config.data.path), "model.family": config.model.family})
            mlflow.log_metric("label_issues", len(issues))
            mlflow.log_artifact(str(path), artifact_path="audit")
