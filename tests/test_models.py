"""The family registry and the estimator contract: clone, params, save/load round trip, old formats refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from classify.config import parse_config
from classify.errors import ModelFormatError
from classify.models import FAMILIES, build_estimator, load_estimator
from classify.models.tfidf import TfidfMeasureClassifier
from classify.models.trained import OUTPUT_COLUMNS, TrainedModel

TEXTS = {
    "political_study": ["落实第一议题制度,开展中心组学习", "召开专题民主生活会,开展批评与自我批评", "严格执行三会一课制度"],
    "finance": ["规范财务报销审批,5万元以上支出集体研究", "开展政府采购专项检查,规范招投标", "追回违规发放的津补贴"],
    "personnel": ["严格干部选拔任用程序,落实任前公示", "开展干部人事档案专项审核", "核定内设机构和编制"],
}


def frame() -> tuple[pd.DataFrame, list[str]]:
    rows = [(t, lab) for lab, ts in TEXTS.items() for t in ts]
    return pd.DataFrame({"text": [t for t, _ in rows], "heading": "", "issuer": "中共某县教育局党组"}), \
        [lab for _, lab in rows]


def test_registry_builds_each_family_from_its_config() -> None:
    assert set(FAMILIES) == {"tfidf", "encoder", "bert"}
    for name, family in FAMILIES.items():
        config = parse_config({"model": {"family": name}, "seed": 7, "input": {"text": "heading+measure"}})
        est = build_estimator(config.model, input_text=config.input.text, seed=config.seed)
        assert isinstance(est, family.estimator)
        assert est.seed == 7 and est.input_text == "heading+measure"
        # one set of defaults: the config's defaults are the constructor's
        defaults = family.estimator().get_params()
        for key, value in config.model.model_dump(exclude={"family"}).items():
            assert defaults[key] == value, (name, key)


def test_clone_and_params_come_from_scikit_learn() -> None:
    est = TfidfMeasureClassifier(C=2.0, classifier="linear_svm")
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est
    assert "C=2.0" in repr(est)
    copy.set_params(C=3.0)
    assert copy.C == 3.0 and est.C == 2.0


def test_tfidf_save_load_round_trip(tmp_path: Path) -> None:
    X, y = frame()
    est = TfidfMeasureClassifier(min_df=1, classifier="logreg").fit(X, y)
    est.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "classify_model.json").read_text())
    assert manifest["family"] == "tfidf" and manifest["classes"] == sorted(set(y))
    loaded = load_estimator(tmp_path / "m")
    assert isinstance(loaded, TfidfMeasureClassifier) and loaded.get_params() == est.get_params()
    np.testing.assert_allclose(loaded.predict_proba(X), est.predict_proba(X))
    terms = loaded.explain_terms(X.head(1), k=3)[0]
    assert terms and all(w > 0 for _, w in terms)


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


def test_trained_model_outputs_and_round_trip(tmp_path: Path) -> None:
    X, y = frame()
    est = TfidfMeasureClassifier(classifier="logreg").fit(X, y)
    from classify.inputs import model_input
    from classify.models.trained import exemplar_frame

    df = X.assign(id=[f"m{i}" for i in range(len(X))], label=y)
    model = TrainedModel(est, temperature=2.0, review_threshold=0.99, secondary_threshold=0.0,
                         exemplars=exemplar_frame(df, model_input(df)))
    out = model.predict_frame(X)
    assert list(out.columns) == OUTPUT_COLUMNS
    assert out["needs_review"].all()  # nothing reaches 0.99 after a temperature of 2
    assert out["secondary_label"].notna().all()
    assert not model.predict_frame(X, review_below=0.0)["needs_review"].any()
    raw = est.predict_proba(X).max(axis=1)
    assert (out["confidence"].to_numpy() < raw).all()  # a temperature above 1 softens
    model.save(tmp_path / "tm")
    again = TrainedModel.load(tmp_path / "tm")
    pd.testing.assert_frame_equal(again.predict_frame(X), out)
    near = again.nearest(X.head(1), k=2)[0]
    assert near[0]["id"] == "m0" and near[0]["similarity"] == pytest.approx(1.0, abs=1e-6)
