"""The family registry (classify/models/__init__.py), the estimator contract and its class hooks (base.py), and the
shipped model (trained.py): calibrated outputs in the label scheme's columns, save/load, old formats refused."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, toy_frame

from classify.config import parse_config
from classify.errors import ModelFormatError
from classify.labels import load_scheme
from classify.models import FAMILIES, build_estimator, family_of, load_estimator
from classify.models.tfidf import TfidfMeasureClassifier
from classify.models.trained import CARD_METRICS, TrainedModel, exemplar_frame
from classify.review import ReviewPolicy


def test_registry_builds_each_family_from_its_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the ensemble's default members are configs/… paths
    assert {"tfidf", "encoder", "bert"} <= set(FAMILIES)
    for name, family in FAMILIES.items():
        config = parse_config({"model": {"family": name}, "seed": 7, "input": {"text": "heading+measure"}})
        assert family_of(config.model) is family
        est = build_estimator(config.model, input_text=config.input.text, seed=config.seed)
        assert isinstance(est, family.estimator)
        assert est.seed == 7 and est.input_text == "heading+measure" and est.label_scheme == "codebook"
        # one set of defaults: the config's defaults are the constructor's
        defaults = family.estimator().get_params()
        for key, value in config.model.model_dump(exclude={"family"}).items():
            assert defaults[key] == value, (name, key)
        # what comes from the config's top level is not a key of its model section
        assert not {"input_text", "seed", "progress", "label_scheme"} & set(config.model.model_dump())


def test_the_label_scheme_reaches_the_estimator() -> None:
    config = parse_config({"label_scheme": "coarse3"})
    est = build_estimator(config.model, label_scheme=config.label_scheme)
    assert est.label_scheme == "coarse3" and est.get_params()["label_scheme"] == "coarse3"


def test_family_hooks() -> None:
    """What training, tracking and the config ask of a family comes from its class, not from its name."""
    tfidf, bert, encoder = FAMILIES["tfidf"].estimator, FAMILIES["bert"].estimator, FAMILIES["encoder"].estimator
    with tfidf.fit_context({}) as entered:  # nothing to set up around the fits
        assert entered is None
    assert isinstance(encoder.fit_context({}), contextlib.AbstractContextManager)
    assert tfidf.pretrained_sources({}) == []
    assert bert.pretrained_sources({"pretrained": "m3e-small"}) == ["m3e-small"]
    assert encoder.pretrained_sources({"pretrained": "./models/m3e-small"}) == ["./models/m3e-small"]
    assert bert.fit_progress and not tfidf.fit_progress
    assert set(tfidf.pip_requirements) == {"rjieba", "jieba"} and "torch" in bert.pip_requirements
    assert TfidfMeasureClassifier().requirements() == tfidf.pip_requirements
    config = parse_config({"model": {"family": "bert", "pretrained": "m3e-small"}})
    assert config.pretrained_sources() == ["m3e-small"] and parse_config({}).pretrained_sources() == []


def test_older_saved_models_fail_with_one_line(tmp_path: Path) -> None:
    old_bert = tmp_path / "bert"
    old_bert.mkdir()
    (old_bert / "classify_bert.json").write_text("{}")
    with pytest.raises(ModelFormatError, match="older classify.*retrain"):
        load_estimator(old_bert)
    old_tfidf = tmp_path / "tfidf"
    old_tfidf.mkdir()
    (old_tfidf / "classify_model.json").write_text(json.dumps({"family": "tfidf", "classes": [], "params": {}}))
    with pytest.raises(ModelFormatError, match="older classify"):
        load_estimator(old_tfidf)
    with pytest.raises(ModelFormatError, match="older classify"):
        TrainedModel.load(old_tfidf)


def test_newer_and_unknown_saved_models_fail_with_one_line(tmp_path: Path) -> None:
    X, y = toy_frame()
    TfidfMeasureClassifier().fit(X, y).save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "classify_model.json").read_text())
    (tmp_path / "m" / "classify_model.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ModelFormatError, match="saved by a newer classify"):
        load_estimator(tmp_path / "m")
    (tmp_path / "m" / "classify_model.json").write_text(json.dumps({**manifest, "family": "forest"}))
    with pytest.raises(ModelFormatError, match="unknown model family 'forest'"):
        load_estimator(tmp_path / "m")
    with pytest.raises(ModelFormatError, match="not a saved classify model"):
        load_estimator(tmp_path)


def test_trained_model_outputs_and_round_trip(tmp_path: Path) -> None:
    X, y = toy_frame()
    est = TfidfMeasureClassifier(classifier="logreg").fit(X, y)
    from classify.inputs import model_input

    df = X.assign(id=[f"m{i}" for i in range(len(X))], label=y)
    model = TrainedModel(est, temperature=2.0, review=ReviewPolicy.fixed(0.99), secondary_threshold=0.0,
                         exemplars=exemplar_frame(df, model_input(df)))
    out = model.predict_frame(X)
    assert list(out.columns) == model.schema.output_names
    assert model.scheme.name == "codebook"  # the default scheme
    assert out["needs_review"].all()  # nothing reaches 0.99 after a temperature of 2
    assert (out["review_reason"] == "low_confidence").all()
    assert out["secondary_label"].notna().all()
    reviewed = model.predict_frame(X, review_below=0.0)
    assert not reviewed["needs_review"].any() and reviewed["review_reason"].isna().all()
    raw = est.predict_proba(X).max(axis=1)
    assert (out["confidence"].to_numpy() < raw).all()  # a temperature above 1 softens
    assert (out["prob_tech_policy"] == 0).all()  # a class the estimator never saw
    model.save(tmp_path / "tm")
    again = TrainedModel.load(tmp_path / "tm")
    pd.testing.assert_frame_equal(again.predict_frame(X), out)
    near = again.nearest(X.head(1), k=2)[0]
    assert near[0]["id"] == "m0" and near[0]["similarity"] == pytest.approx(1.0, abs=1e-6)


def test_a_trained_model_keeps_its_label_scheme(tmp_path: Path) -> None:
    coarse = load_scheme("coarse3")
    X, y = toy_frame()
    y3 = coarse.map_labels(y)
    model = TrainedModel(TfidfMeasureClassifier(label_scheme="coarse3").fit(X, y3), scheme=coarse)
    out = model.predict_frame(X)
    assert list(out.columns) == ["label", "confidence", *coarse.prob_columns, "needs_review", "review_reason",
                                 "secondary_label"]
    assert set(out["label"]) <= set(coarse.labels) and (out["prob_line_work"] == 0).all()
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    model.save(tmp_path / "tm")
    assert json.loads((tmp_path / "tm" / "trained_model.json").read_text(encoding="utf-8"))["label_scheme"]["name"] \
        == "coarse3"
    again = TrainedModel.load(tmp_path / "tm")
    assert again.scheme == coarse and again.schema == model.schema
    pd.testing.assert_frame_equal(again.predict_frame(X), out)


def test_a_model_saved_before_schemes_predicts_the_codebooks_five(tmp_path: Path) -> None:
    X, y = toy_frame()
    TrainedModel(TfidfMeasureClassifier().fit(X, y)).save(tmp_path / "tm")
    bundle = json.loads((tmp_path / "tm" / "trained_model.json").read_text(encoding="utf-8"))
    del bundle["label_scheme"]
    (tmp_path / "tm" / "trained_model.json").write_text(json.dumps(bundle), encoding="utf-8")
    assert TrainedModel.load(tmp_path / "tm").scheme.name == "codebook"


def test_card_metrics_use_the_one_vocabulary() -> None:
    assert "loiko_real_macro_f1" in CARD_METRICS and "lono_macro_f1" in CARD_METRICS
    assert not [m for m in CARD_METRICS if m.startswith(("cv_", "kind_"))]
