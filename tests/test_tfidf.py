"""The TF-IDF family (classify/models/tfidf.py): scikit-learn's contract, save/load, explanations, feature choices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import toy_frame
from sklearn.base import clone

from classify.models import load_estimator
from classify.models.tfidf import TfidfMeasureClassifier


def test_clone_and_params_come_from_scikit_learn() -> None:
    est = TfidfMeasureClassifier(C=2.0, classifier="linear_svm")
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    assert "C=2.0" in repr(est)
    copy.set_params(C=3.0)
    assert copy.C == 3.0 and est.C == 2.0


def test_tfidf_save_load_round_trip(tmp_path: Path) -> None:
    X, y = toy_frame()
    est = TfidfMeasureClassifier(min_df=1, classifier="logreg").fit(X, y)
    est.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "classify_model.json").read_text())
    assert manifest["family"] == "tfidf" and manifest["classes"] == sorted(set(y))
    loaded = load_estimator(tmp_path / "m")
    assert isinstance(loaded, TfidfMeasureClassifier) and loaded.get_params() == est.get_params()
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
    terms = loaded.explain_terms(X.head(1), k=3)[0]
    assert terms and all(w > 0 for _, w in terms)


@pytest.mark.parametrize("features, classifier", [("words", "logreg"), ("chars", "linear_svm"), ("both", "logreg")])
def test_each_feature_set_and_classifier_learns_the_training_rows(features: str, classifier: str) -> None:
    X, y = toy_frame()
    est = TfidfMeasureClassifier(features=features, classifier=classifier, C=10.0).fit(X, y)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (est.predict(X) == np.array(y)).mean() >= 0.8
    vectors = est.embed(X)
    assert vectors is not None and vectors.shape[0] == len(X)


def test_the_context_is_read_when_the_input_says_so() -> None:
    X, y = toy_frame()
    headed = X.assign(heading=[f"{lab}方面" for lab in y])
    plain = TfidfMeasureClassifier().fit(headed, y)
    with_heading = TfidfMeasureClassifier(input_text="heading+measure").fit(headed, y)
    probe = pd.DataFrame({"text": ["开展专项检查"], "heading": ["personnel方面"]})
    assert with_heading.predict_proba(probe)[0, list(with_heading.classes_).index("personnel")] > \
        plain.predict_proba(probe)[0, list(plain.classes_).index("personnel")]
