"""The training experiment without MLflow (classify/training.py): the data a config trains on, cross-validation under
every scheme, calibration and thresholds, the shipped model, the reporter's callbacks in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import corpus_rows, subset_rows, write_jsonl

from classify.config import parse_config
from classify.labels import LABELS

NOTICES = ("000_f95aa671dc7000c0", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2")


def test_run_training_reports_through_its_callbacks(tmp_path: Path) -> None:
    """Both schemes, calibration, thresholds, a shipped model, callbacks in order."""
    from classify.training import TrainingReporter, run_training

    rows = subset_rows(NOTICES, per_label=4)
    other = [r for r in corpus_rows() if r["issuer_kind"] in ("education", "hospital")][:40]
    data = write_jsonl(tmp_path / "d.jsonl", rows + other)
    calls = []

    class Recorder(TrainingReporter):
        def on_start(self, config, df):
            calls.append(("start", len(df)))

        def on_fold(self, fold):
            calls.append(("fold", fold.scheme))

        def on_cv(self, cv):
            calls.append(("cv", cv.scheme))

        def on_calibrated(self, calibrated):
            calls.append(("calibrated", calibrated.scheme))

    config = parse_config({"data": {"path": str(data)}})
    result = run_training(config, reporter=Recorder(), progress=False)
    assert calls[0] == ("start", len(rows) + len(other))
    schemes = [c[1] for c in calls if c[0] == "cv"]
    assert schemes == ["leave_one_notice_out", "leave_one_issuer_kind_out"]
    kinds = {r["issuer_kind"] for r in rows + other}
    assert sum(1 for c in calls if c == ("fold", "leave_one_issuer_kind_out")) == len(kinds)
    assert calls[-1] == ("calibrated", "leave_one_issuer_kind_out")
    m = result.metrics
    for key in ("lono_macro_f1", "loiko_macro_f1", "loiko_education_macro_f1", "loiko_real_macro_f1", "ece", "brier",
                "review_threshold", "secondary_precision", "train_seconds", "predict_measures_per_second"):
        assert key in m, key
    out = result.model.predict_frame(pd.DataFrame({"text": ["规范财务报销审批"]}))
    assert out["label"].iloc[0] in LABELS and "needs_review" in out
    assert result.model.review.threshold_ == m["review_threshold"]
    assert result.model.domain_check is not None  # the out-of-domain check travels with the model
    assert result.model.card["label_scheme"] == "codebook" and result.model.card["calibrated_on"] == \
        "leave_one_issuer_kind_out"
    assert "review below confidence" in result.calibration.guarantee


def test_scikit_learn_calibration_is_saved_inside_the_model(tmp_path: Path) -> None:
    """evaluation.calibration: sigmoid ships a fitted CalibratedClassifierCV that predictions go through."""
    from classify.calibration import ProbabilityCalibrator
    from classify.evaluation import align_proba
    from classify.inputs import model_input
    from classify.models.trained import TrainedModel
    from classify.training import run_training

    data = write_jsonl(tmp_path / "d.jsonl", subset_rows(NOTICES, per_label=4))
    config = parse_config({"data": {"path": str(data)}, "evaluation": {"calibration": "sigmoid",
                                                                      "schemes": ["leave_one_notice_out"],
                                                                      "calibrate_on": "leave_one_notice_out"}})
    result = run_training(config, progress=False)
    model = result.model
    assert isinstance(model.calibrator, ProbabilityCalibrator) and model.card["calibration"] == "sigmoid"
    probe = pd.DataFrame({"text": ["规范财务报销审批", "组织党员干部学习党的二十大精神"]})
    raw = align_proba(model.estimator.predict_proba(model_input(probe)), model.estimator.classes_, LABELS)
    np.testing.assert_allclose(model.predict_proba(probe), model.calibrator.transform(raw))
    assert not np.allclose(model.predict_proba(probe), raw)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(TrainedModel.load(tmp_path / "m").predict_proba(probe), model.predict_proba(probe))
    assert "calibrated_macro_f1" in result.metrics


def test_the_data_a_config_trains_on(tmp_path: Path) -> None:
    """Issuer-kind and source filters; a user's validation-sample rows stay out unless asked for; labels as the
    scheme reads them."""
    from classify.errors import DataError
    from classify.training import load_training_data

    rows = subset_rows(NOTICES, per_label=2)
    extra = [{**r, "source": "user", "validation_sample": True} for r in corpus_rows()
             if r["notice_id"] == "synthetic_education_01"][:5]
    data = write_jsonl(tmp_path / "d.jsonl", rows + extra)
    df = load_training_data(parse_config({"data": {"path": str(data)}}))
    assert len(df) == len(rows) and set(df["source"]) == {"real"}
    df = load_training_data(parse_config({"data": {"path": str(data), "include_validation_samples": True}}))
    assert len(df) == len(rows) + len(extra) and set(df["source"]) == {"real", "user"}
    df = load_training_data(parse_config({"data": {"path": str(data), "include_validation_samples": True,
                                                   "issuer_kinds": ["science_bureau"]}}))
    assert len(df) == len(rows)
    df = load_training_data(parse_config({"data": {"path": str(data)}, "label_scheme": "coarse3"}))
    assert set(df["label"]) == {"party_building", "internal_management", "line_work"}
    with pytest.raises(DataError, match="no measure is left after the data.issuer_kinds / data.sources filters"):
        load_training_data(parse_config({"data": {"path": str(data), "sources": ["synthetic"]}}))


def test_a_scheme_the_data_cannot_run_is_skipped_with_a_warning(tmp_path: Path) -> None:
    from classify.training import runnable_schemes

    data = write_jsonl(tmp_path / "d.jsonl", subset_rows(NOTICES, per_label=2))
    config = parse_config({"data": {"path": str(data)}})
    from classify.training import load_training_data

    df = load_training_data(config)
    with pytest.warns(UserWarning, match="leave-one-issuer-kind-out skipped: the data has one issuer kind only"):
        assert runnable_schemes(config, df) == ["leave_one_notice_out"]
