"""The ensemble family: member configs' calibrated probabilities combined; weights learnt out of fold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import subset_rows

from classify.inputs import ISSUER, model_input
from classify.models import load_estimator
from classify.models.ensemble import EnsembleMeasureClassifier

NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2", "000_f95aa671dc7000c0")


def _members(tmp_path: Path) -> list[str]:
    """Two fast TF-IDF member configs that err differently (characters only; words only)."""
    paths = []
    for name, features in (("chars", "chars"), ("words", "words")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: {name}\nmodel:\n  family: tfidf\n  features: {features}\n  classifier: logreg\n",
                        encoding="utf-8")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rows = subset_rows(NOTICES, per_label=6)
    frame = pd.DataFrame(rows)
    # four issuers, so the inner folds grouped by issuer have something to hold out
    return model_input(frame), frame["label"].to_numpy()


@pytest.mark.parametrize("combine", ["mean", "weights", "stack"])
def test_ensemble_probabilities_are_a_distribution_and_save_load_keeps_them(combine: str, data, tmp_path: Path) -> None:
    X, y = data
    est = EnsembleMeasureClassifier(members=_members(tmp_path), combine=combine, inner_folds=3).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), len(est.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (est.predict(X) == y).mean() > 0.8  # it learns its training data
    est.save(tmp_path / "saved")
    again = load_estimator(tmp_path / "saved")
    assert np.allclose(again.predict_proba(X), proba)
    assert set(again.requirements()) >= {"rjieba", "jieba"}


def test_learnt_weights_favour_the_better_member(data, tmp_path: Path) -> None:
    """A member that only guesses the majority gets (almost) no weight next to a real one."""
    X, y = data
    good, _ = _members(tmp_path)
    useless = tmp_path / "useless.yaml"
    # min_df above the number of rows: no feature survives but the bias: a constant prediction
    useless.write_text("name: useless\nmodel:\n  family: tfidf\n  features: chars\n  C: 0.0001\n", encoding="utf-8")
    est = EnsembleMeasureClassifier(members=[good, str(useless)], combine="weights", inner_folds=3).fit(X, y)
    assert est.weights_[0] > 0.8


def test_inner_folds_never_hold_an_issuer_on_both_sides(data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The combination is learnt on predictions for issuers the member did not see."""
    X, y = data
    seen: list[tuple[set, set]] = []
    original = EnsembleMeasureClassifier._build_members

    def spy(self):
        members = original(self)
        for m in members:
            fit = m.fit

            def recording_fit(Xf, yf, _fit=fit):
                seen.append(set(Xf[ISSUER]))
                return _fit(Xf, yf)

            m.fit = recording_fit
        return members

    monkeypatch.setattr(EnsembleMeasureClassifier, "_build_members", spy)
    EnsembleMeasureClassifier(members=_members(tmp_path), combine="stack", inner_folds=4).fit(X, y)
    issuers = set(X[ISSUER])
    inner = [s for s in seen if s != issuers]
    assert inner, "no inner fold was fitted"
    assert all(len(s) < len(issuers) for s in inner)


def test_an_ensemble_cannot_contain_an_ensemble(data, tmp_path: Path) -> None:
    X, y = data
    nested = tmp_path / "nested.yaml"
    nested.write_text(f"name: nested\nmodel:\n  family: ensemble\n  members: {_members(tmp_path)}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be a member"):
        EnsembleMeasureClassifier(members=[str(nested)], inner_folds=2).fit(X, y)


def test_ensemble_config_checks_its_members_and_their_pretrained_models(tmp_path: Path) -> None:
    from classify.config import parse_config
    from classify.errors import ConfigError

    with pytest.raises(ConfigError, match="config file not found"):
        parse_config({"model": {"family": "ensemble", "members": [str(tmp_path / "missing.yaml")]}})
    config = parse_config({"model": {"family": "ensemble", "members": ["configs/encoder_m3e_small.yaml"]}})
    assert config.pretrained_sources() == ["m3e-small"]
