"""Grouped cross-validation with a stub model: folds, out-of-fold rows, metrics, a class missing from a fold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from classify.evaluation import align_proba, cross_validate, label_metrics, scheme_metrics, splits
from classify.labels import LABELS


class MajorityOfTrain(ClassifierMixin, BaseEstimator):
    """Predicts the commonest training label with probability 1; remembers what it was trained on."""

    seen: list[set] = []

    def fit(self, X, y):
        values, counts = np.unique(y, return_counts=True)
        self.classes_ = np.array(sorted(set(y)))
        self.best_ = values[counts.argmax()]
        MajorityOfTrain.seen.append(set(X["measure_simplified"]))
        return self

    def predict_proba(self, X):
        out = np.zeros((len(X), len(self.classes_)))
        out[:, list(self.classes_).index(self.best_)] = 1.0
        return out


def frame() -> pd.DataFrame:
    rows = []
    # notice A and B: finance-heavy education bureau; notice C: a hospital with the only personnel measure
    for notice, kind, labels in (("A", "education", ["finance", "finance", "ideology"]),
                                 ("B", "education", ["finance", "political_study"]),
                                 ("C", "hospital", ["personnel", "political_study", "political_study"])):
        for i, label in enumerate(labels):
            rows.append({"id": f"{notice}{i}", "notice_id": notice, "issuer_kind": kind, "label": label,
                         "source": "synthetic" if notice == "C" else "real", "heading": "", "text": f"{notice}-{i}",
                         "secondary_label": None})
    return pd.DataFrame(rows)


def model_input_of(df: pd.DataFrame) -> pd.DataFrame:
    from classify.inputs import model_input

    return model_input(df)


def test_splits_never_share_a_group() -> None:
    df = frame()
    for scheme, column in (("leave_one_notice_out", "notice_id"), ("leave_one_issuer_kind_out", "issuer_kind")):
        parts = splits(df, scheme)
        assert len(parts) == df[column].nunique()
        for name, train, test in parts:
            assert set(df[column].iloc[test]) == {name}
            assert name not in set(df[column].iloc[train])
        assert sorted(np.concatenate([t for _, _, t in parts]).tolist()) == list(range(len(df)))


def test_notice_folds_group_notices() -> None:
    df = frame()
    parts = splits(df, "leave_one_notice_out", notice_folds=2)
    assert len(parts) == 2
    for _, train, test in parts:
        assert not set(df["notice_id"].iloc[train]) & set(df["notice_id"].iloc[test])


def test_cross_validate_predicts_each_row_from_a_model_that_never_saw_it() -> None:
    df = frame()
    MajorityOfTrain.seen = []
    folds = []
    cv = cross_validate(MajorityOfTrain, model_input_of(df), df, "leave_one_notice_out", on_fold=folds.append,
                        progress=False)
    assert len(cv.oof) == len(df) and cv.oof["id"].tolist() == df["id"].tolist()
    for fold, seen in zip(cv.folds, MajorityOfTrain.seen, strict=True):
        held = set(df.loc[df["notice_id"] == fold.held_out, "text"])
        assert not held & seen
    # C held out: trained on A+B, whose majority is finance; personnel was never seen in that fold
    c_fold = next(f for f in cv.folds if f.held_out == "C")
    assert "personnel" in c_fold.missing_labels
    assert set(cv.oof.loc[cv.oof["notice_id"] == "C", "predicted"]) == {"finance"}
    assert folds == cv.folds


def test_scheme_metrics_names_and_values() -> None:
    df = frame()
    cv = cross_validate(MajorityOfTrain, model_input_of(df), df, "leave_one_issuer_kind_out", progress=False)
    m = scheme_metrics(cv)
    assert m["kind_accuracy"] == pytest.approx((cv.oof["label"] == cv.oof["predicted"]).mean())
    for lab in LABELS:
        assert f"kind_f1_{lab}" in m
    assert {"kind_real_macro_f1", "kind_synthetic_macro_f1", "kind_education_macro_f1", "kind_hospital_accuracy"} <= set(m)


def test_label_metrics_pool_over_all_five_labels() -> None:
    m = label_metrics(["finance", "finance"], ["finance", "ideology"], "x")
    assert m["x_accuracy"] == 0.5
    # finance F1 2/3, ideology 0, the other three 0: macro over five categories
    assert m["x_macro_f1"] == pytest.approx((2 / 3) / 5)


def test_align_proba_puts_unseen_classes_at_zero() -> None:
    proba = align_proba(np.array([[0.2, 0.8]]), ["tech_policy", "finance"])
    assert proba[0, LABELS.index("finance")] == 0.8 and proba[0, LABELS.index("tech_policy")] == 0.2
    assert proba.sum() == pytest.approx(1.0)
