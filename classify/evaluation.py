"""Grouped cross-validation and the metrics every model family reports under the same names.

Folds are grouped: by notice (a notice is never split between train and test, since measures of
one notice share wording) or by issuer kind (every science bureau in one fold), so the numbers
say how a model does on a new notice, or on a new kind of issuer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.metrics import precision_recall_fscore_support as prfs
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

from classify.labels import prob_column

# The two schemes, one vocabulary: config name -> short name, used as the metric prefix (lono_macro_f1),
# the artifact folder (evaluation/lono/), the compare column and in the README.
PREFIX = {"leave_one_notice_out": "lono", "leave_one_issuer_kind_out": "loiko"}
# what stores written before the vocabulary was unified call them (read by classify compare)
OLD_PREFIX = {"lono": "cv", "loiko": "kind"}
GROUP_COLUMN = {"leave_one_notice_out": "notice_id", "leave_one_issuer_kind_out": "issuer_kind"}


@dataclass
class FoldResult:
    scheme: str
    held_out: str
    n_train: int
    n_test: int
    metrics: dict[str, float]
    train_seconds: float
    missing_labels: list[str]


@dataclass
class CVResult:
    scheme: str
    oof: pd.DataFrame  # one row per measure: id, notice_id, issuer_kind, source, label, predicted, confidence, prob_*
    labels: tuple[str, ...]  # the label scheme's ids, the order of the prob_ columns
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def proba(self) -> np.ndarray:
        return self.oof[[prob_column(lab) for lab in self.labels]].to_numpy()

    def metrics(self) -> dict[str, float]:
        return scheme_metrics(self)


def align_proba(proba: np.ndarray, classes: Any, labels: tuple[str, ...]) -> np.ndarray:
    """Columns in the scheme's order; a class the model never saw gets probability 0."""
    out = np.zeros((proba.shape[0], len(labels)), dtype=float)
    for j, cls in enumerate(classes):
        out[:, labels.index(str(cls))] = proba[:, j]
    return out


def splits(df: pd.DataFrame, scheme: str, notice_folds: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(held-out name, train indices, test indices) for a scheme, in a fixed order."""
    groups = df[GROUP_COLUMN[scheme]].astype(str).to_numpy()
    n_groups = len(set(groups))
    if n_groups < 2:
        from classify.errors import DataError

        raise DataError(f"{scheme.replace('_', '-')} needs at least two groups, the data has {n_groups}")
    X = np.zeros(len(df))
    if scheme == "leave_one_notice_out" and notice_folds and n_groups > notice_folds:
        splitter = GroupKFold(n_splits=notice_folds)
        return [(f"notices {k + 1}/{notice_folds}", tr, te)
                for k, (tr, te) in enumerate(splitter.split(X, groups=groups))]
    return [(str(groups[te[0]]), tr, te) for tr, te in LeaveOneGroupOut().split(X, groups=groups)]


def fold_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    present = sorted(set(y_true))  # macro over the classes the held-out part has
    return {"macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
            "accuracy": float(accuracy_score(y_true, y_pred))}


def cross_validate(make_model: Callable[[], Any], X: pd.DataFrame, df: pd.DataFrame, scheme: str,
                   labels: tuple[str, ...], *, notice_folds: int | None = None, on_fold: Callable[[FoldResult], None] | None = None,
                   on_fitted: Callable[[str, Any, pd.DataFrame, np.ndarray], None] | None = None,
                   progress: bool = True) -> CVResult:
    """Train on all groups but one, predict the held-out group, for every group of the scheme.

    ``on_fitted(scheme, model, X_test, test_index)`` sees each fold's fitted model and held-out rows, so a
    caller can score variants of it (int8 inference, say) without fitting again."""
    from tqdm.auto import tqdm

    y = df["label"].to_numpy()
    proba = np.zeros((len(df), len(labels)))
    fold_of = np.empty(len(df), dtype=object)
    folds = []
    for name, train, test in tqdm(splits(df, scheme, notice_folds), desc=scheme.replace("_", "-"), unit="fold",
                                  disable=not progress):
        model = make_model()
        t0 = time.perf_counter()
        model.fit(X.iloc[train].reset_index(drop=True), y[train])
        seconds = time.perf_counter() - t0
        X_test = X.iloc[test].reset_index(drop=True)
        proba[test] = align_proba(model.predict_proba(X_test), model.classes_, labels)
        if on_fitted is not None:
            on_fitted(scheme, model, X_test, test)
        fold_of[test] = name
        pred = np.asarray(labels)[proba[test].argmax(axis=1)]
        fold = FoldResult(scheme, name, len(train), len(test), fold_metrics(y[test], pred), seconds,
                          sorted(set(labels) - set(y[train])))
        folds.append(fold)
        if on_fold is not None:
            on_fold(fold)
    return CVResult(scheme, oof_frame(df, proba, labels, fold_of), labels, folds)


def oof_frame(df: pd.DataFrame, proba: np.ndarray, labels: tuple[str, ...], fold_of: Any = None) -> pd.DataFrame:
    predicted = np.asarray(labels)[proba.argmax(axis=1)]
    oof = pd.DataFrame({
        "id": df["id"].to_numpy(), "notice_id": df["notice_id"].to_numpy(),
        "issuer_kind": df["issuer_kind"].to_numpy(), "source": df["source"].to_numpy(),
        "fold": fold_of if fold_of is not None else "", "heading": df["heading"].to_numpy(),
        "text": df["text"].to_numpy(), "label": df["label"].to_numpy(),
        "secondary_label": df["secondary_label"].to_numpy() if "secondary_label" in df else None,
        "predicted": predicted, "confidence": proba.max(axis=1), "misclassified": predicted != df["label"].to_numpy(),
    })
    for i, lab in enumerate(labels):
        oof[prob_column(lab)] = proba[:, i]
    return oof


def label_metrics(y_true: Any, y_pred: Any, prefix: str, labels: tuple[str, ...]) -> dict[str, float]:
    """Pooled macro-F1, accuracy and per-category precision/recall/F1 (every category of the scheme)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {f"{prefix}_macro_f1": f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0),
           f"{prefix}_accuracy": accuracy_score(y_true, y_pred)}
    p, r, f, _ = prfs(y_true, y_pred, labels=list(labels), zero_division=0)
    for i, lab in enumerate(labels):
        out[f"{prefix}_precision_{lab}"] = p[i]
        out[f"{prefix}_recall_{lab}"] = r[i]
        out[f"{prefix}_f1_{lab}"] = f[i]
    return {k: float(v) for k, v in out.items()}


def scheme_metrics(cv: CVResult) -> dict[str, float]:
    """Every number of one scheme: pooled, per fold, by source (real/synthetic) and by issuer kind."""
    prefix = PREFIX[cv.scheme]
    oof = cv.oof
    out = label_metrics(oof["label"], oof["predicted"], prefix, cv.labels)
    fold_f1 = [fr.metrics["macro_f1"] for fr in cv.folds]
    if fold_f1:
        out[f"{prefix}_fold_macro_f1_mean"] = float(np.mean(fold_f1))
        out[f"{prefix}_fold_macro_f1_std"] = float(np.std(fold_f1))
        out[f"{prefix}_train_seconds"] = float(sum(fr.train_seconds for fr in cv.folds))
    for source, part in oof.groupby("source"):
        out[f"{prefix}_{source}_macro_f1"] = float(
            f1_score(part["label"], part["predicted"], labels=list(cv.labels), average="macro", zero_division=0))
        out[f"{prefix}_{source}_accuracy"] = float(accuracy_score(part["label"], part["predicted"]))
        out[f"{prefix}_{source}_measures"] = float(len(part))
    for kind, part in oof.groupby("issuer_kind"):
        m = fold_metrics(part["label"], part["predicted"])
        out[f"{prefix}_{kind}_macro_f1"] = m["macro_f1"]
        out[f"{prefix}_{kind}_accuracy"] = m["accuracy"]
    return out


def fold_table(cv: CVResult) -> pd.DataFrame:
    """One row per fold: what was held out, sizes, macro-F1 and accuracy on it, fit time, labels the fold lacked."""
    return pd.DataFrame([{"step": i, "held_out": f.held_out, "n_train": f.n_train, "n_test": f.n_test, **f.metrics,
                          "train_seconds": round(f.train_seconds, 3),
                          "labels_missing_from_train": ",".join(f.missing_labels)} for i, f in enumerate(cv.folds)])


def per_kind_table(cv: CVResult) -> pd.DataFrame:
    """Per issuer kind and source: measures, accuracy, macro-F1 over present classes, per-category F1."""
    rows = []
    for (kind, source), part in cv.oof.groupby(["issuer_kind", "source"]):
        m = fold_metrics(part["label"], part["predicted"])
        f = prfs(part["label"], part["predicted"], labels=list(cv.labels), zero_division=0)[2]
        rows.append({"issuer_kind": kind, "source": source, "measures": len(part), **m,
                     **{f"f1_{lab}": float(f[i]) for i, lab in enumerate(cv.labels)}})
    return pd.DataFrame(rows)


def report_text(oof: pd.DataFrame, labels: tuple[str, ...]) -> str:
    return classification_report(oof["label"], oof["predicted"], labels=list(labels), digits=3, zero_division=0)


def plot_confusion_matrix(oof: pd.DataFrame, labels: tuple[str, ...], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(oof["label"], oof["predicted"], labels=list(labels))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("codebook label")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, cm[i, j], ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
