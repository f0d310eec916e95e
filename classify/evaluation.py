"""Leave-one-notice-out cross-validation and the metrics every model family reports.

Folds are grouped by notice: a notice is never split between train and test, since measures
of one notice share wording and a random split would overstate quality on new notices.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from classify.dataset import model_inputs
from classify.labels import LABELS
from classify.models import MeasureClassifier, align_proba


@dataclass
class FoldResult:
    notice_id: str
    n_train: int
    n_test: int
    metrics: dict[str, float]
    train_seconds: float
    missing_labels: list[str]


@dataclass
class CVResult:
    oof: pd.DataFrame  # one row per measure: id, notice_id, label, predicted, confidence, prob_*
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        return summary_metrics(self.oof["label"], self.oof["predicted"], self.folds)


def summary_metrics(y_true, y_pred, folds: list[FoldResult] | None = None) -> dict[str, float]:
    """Stable metric names shared by both model families (pooled over all held-out measures)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {
        "cv_macro_f1": f1_score(y_true, y_pred, labels=list(LABELS), average="macro", zero_division=0),
        "cv_accuracy": accuracy_score(y_true, y_pred),
    }
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    for i, lab in enumerate(LABELS):
        out[f"cv_precision_{lab}"] = float(p[i])
        out[f"cv_recall_{lab}"] = float(r[i])
        out[f"cv_f1_{lab}"] = float(f[i])
    if folds:
        fold_f1 = [fr.metrics["macro_f1"] for fr in folds]
        out["cv_fold_macro_f1_mean"] = float(np.mean(fold_f1))
        out["cv_fold_macro_f1_std"] = float(np.std(fold_f1))
        out["cv_train_seconds"] = float(sum(fr.train_seconds for fr in folds))
    return {k: float(v) for k, v in out.items()}


def fold_metrics(y_true, y_pred) -> dict[str, float]:
    present = sorted(set(y_true))  # macro over the classes this notice has
    return {
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }


def leave_one_notice_out(
    make_model: Callable[[], MeasureClassifier],
    df: pd.DataFrame,
    *,
    on_fold: Callable[[FoldResult], None] | None = None,
    progress: bool = True,
) -> CVResult:
    """Train on all notices but one, predict the held-out one, for every notice."""
    from tqdm.auto import tqdm

    X = model_inputs(df)
    y = df["label"].to_numpy()
    groups = df["notice_id"].to_numpy()
    proba_all = np.zeros((len(df), len(LABELS)))
    folds: list[FoldResult] = []
    notices = list(dict.fromkeys(groups))
    for notice in tqdm(notices, desc="leave-one-notice-out", unit="fold", disable=not progress):
        test = groups == notice
        model = make_model()
        t0 = time.perf_counter()
        model.fit(X[~test].reset_index(drop=True), y[~test])
        seconds = time.perf_counter() - t0
        proba_all[test] = align_proba(model.predict_proba(X[test].reset_index(drop=True)), model.classes_)
        pred = np.asarray(LABELS)[proba_all[test].argmax(axis=1)]
        fold = FoldResult(
            notice_id=str(notice), n_train=int((~test).sum()), n_test=int(test.sum()),
            metrics=fold_metrics(y[test], pred), train_seconds=seconds,
            missing_labels=sorted(set(LABELS) - set(y[~test])),
        )
        folds.append(fold)
        if on_fold is not None:
            on_fold(fold)
    predicted = np.asarray(LABELS)[proba_all.argmax(axis=1)]
    oof = pd.DataFrame({
        "id": df["id"].to_numpy(), "notice_id": groups, "heading": df["heading"].to_numpy(),
        "text": df["text_simplified"].to_numpy(), "label": y, "predicted": predicted,
        "confidence": proba_all.max(axis=1), "misclassified": predicted != y,
    })
    for i, lab in enumerate(LABELS):
        oof[f"prob_{lab}"] = proba_all[:, i]
    return CVResult(oof=oof, folds=folds)


def report_text(oof: pd.DataFrame) -> str:
    return classification_report(oof["label"], oof["predicted"], labels=list(LABELS), digits=3, zero_division=0)


def plot_confusion_matrix(oof: pd.DataFrame, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(oof["label"], oof["predicted"], labels=list(LABELS))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=35, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("codebook label")
    ax.set_title(title)
    for i in range(len(LABELS)):
        for j in range(len(LABELS)):
            ax.text(j, i, cm[i, j], ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
