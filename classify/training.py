"""The training experiment, with no tracking: load and check data, cross-validate under every scheme,
calibrate on out-of-fold predictions, choose the review and secondary-label thresholds, fit the final
model, time it. Progress goes to a :class:`TrainingReporter`; :mod:`classify.tracking` plugs an
MLflow reporter in, the benchmark none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from classify.calibration import (
    brier_score,
    cross_fitted_calibration,
    expected_calibration_error,
    fit_calibrator,
    label_index,
    secondary_threshold,
)
from classify.config import TrainConfig
from classify.dataset import check_label_coverage, load_labelled
from classify.errors import DataError
from classify.evaluation import PREFIX, CVResult, FoldResult, cross_validate, oof_frame
from classify.inputs import model_input
from classify.models import build_estimator, family_of
from classify.models.trained import CARD_METRICS, TrainedModel, exemplar_frame


class TrainingReporter:
    """Callbacks of a training run; every method is optional (the base does nothing)."""

    def on_start(self, config: TrainConfig, data: pd.DataFrame) -> None: ...
    def on_fold(self, fold: FoldResult) -> None: ...
    def on_cv(self, cv: CVResult) -> None: ...
    def on_calibrated(self, calibrated: CalibrationResult) -> None: ...


@dataclass
class CalibrationResult:
    scheme: str
    method: str  # temperature | sigmoid | isotonic | none
    calibrator: Any  # fitted, with transform(proba); None for "none"
    temperature: float  # 1.0 unless method is temperature
    raw_proba: np.ndarray
    calibrated_oof: pd.DataFrame  # the scheme's out-of-fold rows with calibrated (cross-fitted) probabilities
    metrics: dict[str, float]
    review: Any  # the fitted classify.review.ReviewPolicy
    secondary_threshold: float

    @property
    def guarantee(self) -> str:
        """What the review flag promises, in words a user reads."""
        return self.review.summary()


@dataclass
class TrainingResult:
    config: TrainConfig
    data: pd.DataFrame
    cvs: dict[str, CVResult]
    calibration: CalibrationResult | None
    model: TrainedModel | None
    metrics: dict[str, float] = field(default_factory=dict)


def load_training_data(config: TrainConfig) -> pd.DataFrame:
    """The labelled measures a config trains on (labels read by its scheme, its issuer-kind and source filters
    applied, a user's validation-sample rows left out unless asked for), checked."""
    scheme = config.scheme()
    df = load_labelled(config.data.path, scheme)
    if config.data.issuer_kinds is not None:
        df = df[df["issuer_kind"].isin(config.data.issuer_kinds)]
    if config.data.sources is not None:
        df = df[df["source"].isin(config.data.sources)]
    if not config.data.include_validation_samples and "validation_sample" in df:
        df = df[[v is not True for v in df["validation_sample"]]]
    if df.empty:
        raise DataError(f"{config.data.path}: no measure is left after the data.issuer_kinds / data.sources filters")
    df = df.reset_index(drop=True)
    check_label_coverage(df, config.data.path, scheme.labels)
    return df


def runnable_schemes(config: TrainConfig, df: pd.DataFrame) -> list[str]:
    """The configured schemes the data allows; one with a single group (one issuer kind) is skipped with a warning."""
    import warnings

    from classify.evaluation import GROUP_COLUMN

    schemes = []
    for scheme in config.evaluation.schemes:
        n = df[GROUP_COLUMN[scheme]].nunique()
        if n >= 2:
            schemes.append(scheme)
        else:
            warnings.warn(f"{config.data.path}: {scheme.replace('_', '-')} skipped: the data has one "
                          f"{GROUP_COLUMN[scheme].replace('_', ' ')} only", stacklevel=2)
    if not schemes:
        raise DataError(f"{config.data.path}: no cross-validation scheme can run on this data")
    return schemes


def calibrate(cv: CVResult, config: TrainConfig) -> CalibrationResult:
    """The configured calibrator on the scheme's out-of-fold predictions; ECE/Brier before and after
    (cross-fitted, so the calibrated numbers are not fitted on the rows they score); review and
    secondary thresholds."""
    from sklearn.metrics import f1_score

    labels = cv.labels
    raw = cv.proba
    y_idx = label_index(cv.oof["label"], labels)
    method = config.evaluation.calibration
    calibrator, temperature, calibrated = None, 1.0, raw
    if method != "none":
        calibrator = fit_calibrator(method, raw, y_idx)
        temperature = getattr(calibrator, "temperature_", 1.0)
        calibrated = cross_fitted_calibration(method, raw, y_idx, cv.oof["fold"].astype(str).to_numpy())
    oof = oof_frame(cv.oof, calibrated, labels, cv.oof["fold"].to_numpy())
    # the review threshold whose promise holds on new notices: chosen on these out-of-fold rows with notices as
    # the unit (classify.review; experiments/results/review_guarantee.md)
    from classify.review import ReviewPolicy

    review = ReviewPolicy(accuracy=config.evaluation.review_accuracy,
                          confidence=config.evaluation.review_confidence, seed=config.seed).fit_oof(oof)
    flagged = review.low_confidence(oof["confidence"].to_numpy(), oof["predicted"].to_numpy())
    correct = (oof["predicted"] == oof["label"]).to_numpy()
    estimate = review.estimate_.get("all", {})
    sec_t, sec_m = secondary_threshold(calibrated, cv.oof["secondary_label"].tolist(), labels)
    metrics = {
        "ece_uncalibrated": expected_calibration_error(raw, y_idx), "ece": expected_calibration_error(calibrated, y_idx),
        "brier_uncalibrated": brier_score(raw, y_idx), "brier": brier_score(calibrated, y_idx),
        "calibration_temperature": temperature,
        "review_threshold": review.threshold_ if review.threshold_ is not None else float("nan"),
        # temperature keeps every argmax; a per-category calibrator may move close calls
        "calibrated_macro_f1": float(f1_score(y_idx, calibrated.argmax(axis=1), labels=list(range(len(labels))),
                                              average="macro", zero_division=0)),
        "review_flagged_fraction": float(flagged.mean()),
        "review_unflagged_accuracy": float(correct[~flagged].mean()) if (~flagged).any() else 0.0,
        "review_accuracy_lower_bound": estimate.get("lower_bound") or float("nan"),
        **{f"review_{src}_flagged_fraction": est["flagged_share"] for src, est in review.estimate_.items()
           if src != "all" and est.get("flagged_share") is not None},
        "secondary_threshold": sec_t, "secondary_precision": sec_m["precision"],
        "secondary_recall": sec_m["recall"], "secondary_f1": sec_m["f1"],
    }
    oof["needs_review"] = flagged
    return CalibrationResult(cv.scheme, method, calibrator, temperature, raw, oof, metrics, review, sec_t)


def fit_domain_check(estimator: Any, X: pd.DataFrame, df: pd.DataFrame) -> tuple[Any, Any]:
    """The out-of-domain check of a fitted model, from its training measures (each compared with the measures
    of other notices), and their vectors in the model's space (None where the family's check uses none)."""
    from classify.inputs import MEASURE
    from classify.review import DomainCheck

    vectors = estimator.embed(X) if estimator.domain_similarity else None
    check = DomainCheck(similarity=vectors is not None).fit(X[MEASURE].tolist(), df["notice_id"].to_numpy(), vectors)
    return check, vectors


def oof_rates(oof: pd.DataFrame, labels: tuple[str, ...], cv_scheme: str) -> dict[str, Any]:
    """Per true label, the mean calibrated probability vector of its out-of-fold rows, and the label shares."""
    from classify.labels import prob_column

    proba = oof[[prob_column(lab) for lab in labels]].to_numpy()
    truth = oof["label"].to_numpy()
    rates = [proba[truth == lab].mean(axis=0).round(6).tolist() if (truth == lab).any() else [0.0] * len(labels)
             for lab in labels]
    prior = [round(float((truth == lab).mean()), 6) for lab in labels]
    return {"labels": list(labels), "rates": rates, "prior": prior, "rows": int(len(oof)), "cv_scheme": cv_scheme}


def run_training(config: TrainConfig, *, reporter: TrainingReporter | None = None, progress: bool = True,
                 final_fit: bool = True, data: pd.DataFrame | None = None,
                 on_fitted: Any = None) -> TrainingResult:
    """Cross-validate under every configured scheme, calibrate, and (with ``final_fit``) fit the shipped model.

    ``on_fitted`` is passed to :func:`classify.evaluation.cross_validate` (the benchmark scores int8 folds with it)."""
    reporter = reporter or TrainingReporter()
    family = family_of(config.model)
    scheme = config.scheme()
    df = load_training_data(config) if data is None else data
    X = model_input(df, source=str(config.data.path))
    y = df["label"].to_numpy()
    reporter.on_start(config, df)

    def make() -> Any:
        return build_estimator(config.model, input_text=config.input.text, seed=config.seed,
                               progress=progress and family.estimator.fit_progress, label_scheme=config.label_scheme)

    metrics: dict[str, float] = {"n_measures": float(len(df)), "n_notices": float(df["notice_id"].nunique())}
    cvs: dict[str, CVResult] = {}
    with config.fit_context():  # e.g. the encoder embeds each measure once for all folds and the final fit
        for cv_scheme in runnable_schemes(config, df):
            t0 = time.perf_counter()
            cv = cross_validate(make, X, df, cv_scheme, scheme.labels, notice_folds=config.evaluation.notice_folds,
                                on_fold=reporter.on_fold, on_fitted=on_fitted, progress=progress)
            cvs[cv_scheme] = cv
            metrics.update(cv.metrics())
            metrics[f"{PREFIX[cv_scheme]}_wall_seconds"] = time.perf_counter() - t0
            reporter.on_cv(cv)
        calibrated_on = config.evaluation.calibrate_on if config.evaluation.calibrate_on in cvs else next(iter(cvs))
        calibration = calibrate(cvs[calibrated_on], config)
        metrics.update(calibration.metrics)
        reporter.on_calibrated(calibration)
        model = None
        if final_fit:
            t0 = time.perf_counter()
            estimator = make().fit(X, y)
            metrics["train_seconds"] = time.perf_counter() - t0
            card = {"config": config.name, "family": config.model.family, "input_text": config.input.text,
                    "label_scheme": scheme.name, "calibrated_on": calibrated_on, "calibration": calibration.method,
                    "review": calibration.review.guarantee(),
                    **{k: metrics[k] for k in CARD_METRICS if k in metrics}}
            domain_check, vectors = fit_domain_check(estimator, X, df)
            model = TrainedModel(estimator, scheme=scheme, temperature=calibration.temperature,
                                 calibrator=calibration.calibrator if calibration.method not in ("temperature", "none")
                                 else None,
                                 review=calibration.review, domain_check=domain_check,
                                 secondary_threshold=calibration.secondary_threshold,
                                 exemplars=exemplar_frame(df, X), card=card,
                                 oof_rates=oof_rates(calibration.calibrated_oof, scheme.labels, calibration.scheme))
            model._exemplar_vectors = vectors  # the exemplars are the training rows: embedded once
    if model is not None:
        t0 = time.perf_counter()
        model.estimator.predict_proba(X)  # a warm cache would flatter the encoder: outside embedding_cache
        metrics["predict_measures_per_second"] = len(X) / (time.perf_counter() - t0)
    return TrainingResult(config, df, cvs, calibration, model, metrics)

