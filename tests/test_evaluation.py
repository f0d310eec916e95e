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
    cv = cross_validate(MajorityOfTrain, model_input_of(df), df, "leave_one_notice_out", LABELS, on_fold=folds.append,
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
    cv = cross_validate(MajorityOfTrain, model_input_of(df), df, "leave_one_issuer_kind_out", LABELS, progress=False)
    m = scheme_metrics(cv)
    assert m["loiko_accuracy"] == pytest.approx((cv.oof["label"] == cv.oof["predicted"]).mean())
    for lab in LABELS:
        assert f"loiko_f1_{lab}" in m
    assert {"loiko_real_macro_f1", "loiko_synthetic_macro_f1", "loiko_education_macro_f1", "loiko_hospital_accuracy",
            "loiko_fold_macro_f1_mean", "loiko_fold_macro_f1_std", "loiko_train_seconds"} <= set(m)
    assert all(k.startswith("loiko_") for k in m)  # one prefix per scheme, the same everywhere


def test_label_metrics_pool_over_all_five_labels() -> None:
    m = label_metrics(["finance", "finance"], ["finance", "ideology"], "x", LABELS)
    assert m["x_accuracy"] == 0.5
    # finance F1 2/3, ideology 0, the other three 0: macro over five categories
    assert m["x_macro_f1"] == pytest.approx((2 / 3) / 5)


def test_align_proba_puts_unseen_classes_at_zero() -> None:
    proba = align_proba(np.array([[0.2, 0.8]]), ["tech_policy", "finance"], LABELS)
    assert proba[0, LABELS.index("finance")] == 0.8 and proba[0, LABELS.index("tech_policy")] == 0.2
    assert proba.sum() == pytest.approx(1.0)
    coarse = ("party_building", "internal_management", "line_work")
    assert align_proba(np.array([[0.3, 0.7]]), ["line_work", "party_building"], coarse).tolist() == [[0.7, 0.0, 0.3]]


def test_label_metrics_cover_the_schemes_labels() -> None:
    coarse = ("party_building", "internal_management", "line_work")
    m = label_metrics(["line_work", "party_building"], ["line_work", "line_work"], "lono", coarse)
    assert set(m) == {"lono_macro_f1", "lono_accuracy", *(f"lono_{k}_{lab}" for lab in coarse
                                                          for k in ("precision", "recall", "f1"))}
    assert m["lono_macro_f1"] == pytest.approx((2 / 3) / 3)  # line_work 2/3, the other two 0


def test_folds_table_and_one_vocabulary() -> None:
    from classify.evaluation import OLD_PREFIX, PREFIX, fold_table, oof_frame, report_text

    assert PREFIX == {"leave_one_notice_out": "lono", "leave_one_issuer_kind_out": "loiko"}
    assert OLD_PREFIX == {"lono": "cv", "loiko": "kind"}  # what older stores call them
    df = frame()
    cv = cross_validate(MajorityOfTrain, model_input_of(df), df, "leave_one_notice_out", LABELS, progress=False)
    table = fold_table(cv)
    assert table["step"].tolist() == [0, 1, 2] and table["held_out"].tolist() == ["A", "B", "C"]
    assert table.loc[2, "labels_missing_from_train"] == "personnel,tech_policy"  # C held out; no notice has tech
    assert table["n_test"].sum() == len(df)
    oof = oof_frame(df, cv.proba, LABELS, cv.oof["fold"].to_numpy())
    assert oof[[f"prob_{lab}" for lab in LABELS]].columns.tolist() == [f"prob_{lab}" for lab in LABELS]
    assert (oof["predicted"] == cv.oof["predicted"]).all()
    assert "personnel" in report_text(cv.oof, LABELS)
