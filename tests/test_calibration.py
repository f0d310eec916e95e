"""Temperature scaling, ECE, Brier, and the review and secondary-label thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from classify.calibration import (
    TemperatureScaler,
    apply_temperature,
    brier_score,
    cross_fitted_calibration,
    expected_calibration_error,
    label_index,
    review_threshold,
    secondary_threshold,
)
from classify.labels import LABELS


def overconfident(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that say 0.97 but are right about 70% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, n)
    pred = np.where(rng.random(n) < 0.7, y, (y + rng.integers(1, 5, n)) % 5)
    proba = np.full((n, 5), 0.03 / 4)
    proba[np.arange(n), pred] = 0.97
    return proba, y


def test_temperature_fixes_overconfidence_and_keeps_the_argmax() -> None:
    proba, y = overconfident()
    scaler = TemperatureScaler().fit(proba, y)
    assert scaler.temperature_ > 1.5  # overconfident: softened
    calibrated = scaler.transform(proba)
    assert (calibrated.argmax(axis=1) == proba.argmax(axis=1)).all()
    assert expected_calibration_error(calibrated, y) < 0.05 < expected_calibration_error(proba, y)
    assert brier_score(calibrated, y) < brier_score(proba, y)


def test_cross_fitted_calibration_uses_other_groups_only() -> None:
    proba, y = overconfident()
    groups = np.repeat(np.arange(4), 100)
    out = cross_fitted_calibration("temperature", proba, y, groups)
    t0 = TemperatureScaler().fit(proba[groups != 0], y[groups != 0]).temperature_
    np.testing.assert_allclose(out[groups == 0], apply_temperature(proba[groups == 0], t0))


def test_unseen_classes_stay_at_zero() -> None:
    proba = np.array([[0.9, 0.1, 0.0, 0.0, 0.0]])
    out = apply_temperature(proba, 2.0)
    assert out[0, 2:].sum() == 0.0 and out.sum() == pytest.approx(1.0) and out[0, 0] < 0.9


def test_ece_of_perfect_calibration_is_zero_and_brier_of_certainty() -> None:
    proba = np.eye(5)[[0, 1, 2, 3, 4]]
    y = np.arange(5)
    assert expected_calibration_error(proba, y) == 0.0 and brier_score(proba, y) == 0.0
    assert brier_score(proba, (y + 1) % 5) == pytest.approx(2.0)


def test_review_threshold_reaches_the_target_with_fewest_flags() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 1, 1, 0, 1, 0], dtype=bool)
    t = review_threshold(confidence, correct, target=0.95)
    kept = confidence >= t
    assert correct[kept].mean() >= 0.95 and t == 0.8
    assert review_threshold(confidence, np.zeros(7, dtype=bool), 0.95) == 1.0  # unreachable: flag everything


def test_secondary_threshold_matches_given_secondaries() -> None:
    proba = np.array([[0.6, 0.35, 0.05, 0, 0], [0.9, 0.05, 0.05, 0, 0], [0.55, 0.4, 0.05, 0, 0]])
    secondary = [LABELS[1], None, LABELS[1]]
    t, m = secondary_threshold(proba, secondary, LABELS)
    assert 0.05 < t <= 0.35 and m["precision"] == 1.0 and m["recall"] == 1.0
    # the labels are the scheme's: a three-category scheme names its own runner-ups
    coarse = ("party_building", "internal_management", "line_work")
    t3, m3 = secondary_threshold(proba[:, :3], ["internal_management", None, "internal_management"], coarse)
    assert (t3, m3) == (t, m)


def test_label_index_follows_the_schemes_order() -> None:
    assert label_index(["finance", "political_study", "tech_policy"], LABELS).tolist() == [2, 0, 4]
    assert label_index(["line_work", "party_building"], ("party_building", "internal_management", "line_work")).tolist() \
        == [2, 0]


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_scikit_learn_calibrator_fixes_overconfidence(method) -> None:
    from classify.calibration import ProbabilityCalibrator

    proba, y = overconfident(1000)
    calibrated = ProbabilityCalibrator(method).fit(proba, y).transform(proba)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert expected_calibration_error(calibrated, y) < 0.05 < expected_calibration_error(proba, y)


def test_cross_fitted_scikit_learn_calibration_never_sees_the_scored_group() -> None:
    from classify.calibration import ProbabilityCalibrator

    proba, y = overconfident()
    groups = np.repeat(np.arange(4), 100)
    out = cross_fitted_calibration("sigmoid", proba, y, groups)
    own = ProbabilityCalibrator("sigmoid").fit(proba[groups != 2], y[groups != 2]).transform(proba[groups == 2])
    np.testing.assert_allclose(out[groups == 2], own)
