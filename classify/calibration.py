"""Honest confidence: calibrators fitted on out-of-fold predictions, their error measures, and the
thresholds that turn probabilities into review flags and secondary labels.

Every family's probabilities go through a calibrator fitted on the out-of-fold predictions of the
training run and saved inside the model. Temperature scaling (the default, and the neural
families') divides the log-probabilities by one number, so it never changes which label wins, only
how sure the model says it is. The linear families can use scikit-learn's own calibration instead
(``CalibratedClassifierCV``, sigmoid or isotonic, one-vs-rest): one curve per category, which can
change the winning label of a close call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

_EPS = 1e-12


def _log(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, _EPS, 1.0))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TemperatureScaler(BaseEstimator):
    """p -> softmax(log p / T), with T chosen to minimise the negative log-likelihood."""

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds

    def fit(self, proba: np.ndarray, y: np.ndarray) -> TemperatureScaler:
        from scipy.optimize import minimize_scalar

        logp, idx = _log(proba), np.asarray(y)

        def nll(log_t: float) -> float:
            p = _softmax(logp / np.exp(log_t))
            return float(-np.mean(np.log(np.clip(p[np.arange(len(idx)), idx], _EPS, 1.0))))

        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        self.temperature_ = float(np.exp(minimize_scalar(nll, bounds=(lo, hi), method="bounded").x))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        return apply_temperature(proba, self.temperature_)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    if len(proba) == 0 or temperature == 1.0:
        return proba
    # classes the model never saw keep probability 0
    zero = proba <= 0
    out = _softmax(np.where(zero, -np.inf, _log(proba)) / temperature)
    return np.where(zero, 0.0, out)


class _GivenProbabilities(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose input is already its probabilities: lets scikit-learn calibrate out-of-fold rows."""

    def fit(self, proba: np.ndarray, y: np.ndarray | None = None) -> _GivenProbabilities:
        self.classes_ = np.arange(np.asarray(proba).shape[1])
        return self

    def predict_proba(self, proba: np.ndarray) -> np.ndarray:
        return np.asarray(proba, dtype=float)

    def predict(self, proba: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(proba, axis=1)]


class ProbabilityCalibrator(BaseEstimator):
    """scikit-learn's ``CalibratedClassifierCV`` (``method`` sigmoid or isotonic) fitted on out-of-fold probabilities."""

    def __init__(self, method: str = "sigmoid") -> None:
        self.method = method

    def fit(self, proba: np.ndarray, y_idx: np.ndarray) -> ProbabilityCalibrator:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator

        given = FrozenEstimator(_GivenProbabilities().fit(proba))
        self.calibrator_ = CalibratedClassifierCV(given, method=self.method).fit(proba, np.asarray(y_idx))
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        if len(proba) == 0:
            return proba
        out = np.zeros((len(proba), proba.shape[1]))
        out[:, self.calibrator_.classes_] = self.calibrator_.predict_proba(proba)
        return out


def fit_calibrator(method: str, proba: np.ndarray, y_idx: np.ndarray) -> Any:
    """A fitted calibrator with ``transform(proba)``: TemperatureScaler, or ProbabilityCalibrator(method)."""
    if method == "temperature":
        return TemperatureScaler().fit(proba, y_idx)
    return ProbabilityCalibrator(method).fit(proba, y_idx)


def cross_fitted_calibration(method: str, proba: np.ndarray, y_idx: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Calibrated out-of-fold probabilities without leakage: each group's rows go through a calibrator fitted on
    the other groups' rows (the model's own calibrator is fitted on all of them)."""
    out = np.empty_like(proba)
    for g in np.unique(groups):
        mask = groups == g
        if mask.all():
            return fit_calibrator(method, proba, y_idx).transform(proba)
        out[mask] = fit_calibrator(method, proba[~mask], y_idx[~mask]).transform(proba[mask])
    return out


def label_index(values: Any, labels: tuple[str, ...]) -> np.ndarray:
    """Each label's position in the scheme (the column of its probability)."""
    position = {lab: i for i, lab in enumerate(labels)}
    return np.array([position[str(v)] for v in values], dtype=int)


def expected_calibration_error(proba: np.ndarray, y_idx: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE over equal-width confidence bins: sum over bins of |accuracy - confidence| * share."""
    if len(proba) == 0:
        return 0.0
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_idx
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def brier_score(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """Multi-class Brier score: mean over rows of the squared distance to the one-hot label."""
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y_idx)), y_idx] = 1.0
    return float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


def review_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = 0.95) -> float:
    """The lowest confidence threshold at which the labels at or above it are right at least ``target`` of the
    time (so the fewest measures are flagged); 1.0 when no threshold reaches it."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(float)
    running = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    best = 1.0
    for i in range(len(conf)):
        # a threshold must keep every row with the same confidence together
        if (i + 1 == len(conf) or conf[i + 1] < conf[i]) and running[i] >= target:
            best = float(conf[i])
    return best


def secondary_threshold(proba: np.ndarray, secondary: list[str | None],
                        labels: tuple[str, ...]) -> tuple[float, dict[str, float]]:
    """Runner-up probability above which a secondary label is given, chosen for the best F1 against the data's
    ``secondary_label``; returns the threshold and its precision, recall and F1."""
    runner = np.argsort(-proba, axis=1)[:, 1]
    runner_p = proba[np.arange(len(proba)), runner]
    truth = np.array([s is not None and isinstance(s, str) for s in secondary])
    match = np.array([bool(s) and isinstance(s, str) and labels.index(s) == r for s, r in zip(secondary, runner, strict=True)])
    best = (1.01, {"precision": 0.0, "recall": 0.0, "f1": 0.0})
    for t in np.unique(np.round(runner_p, 3)):
        given = runner_p >= t
        tp = float((given & match).sum())
        precision = tp / given.sum() if given.sum() else 0.0
        recall = tp / truth.sum() if truth.sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best[1]["f1"]:
            best = (float(t), {"precision": precision, "recall": recall, "f1": f1})
    return best


def plot_reliability(proba_raw: np.ndarray, proba_cal: np.ndarray, y_idx: np.ndarray, path: str, title: str,
                     bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    edges = np.linspace(0, 1, bins + 1)
    for proba, name in ((proba_raw, "uncalibrated"), (proba_cal, "calibrated")):
        conf = proba.max(axis=1)
        correct = proba.argmax(axis=1) == y_idx
        which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
        xs, ys = [], []
        for b in range(bins):
            m = which == b
            if m.any():
                xs.append(conf[m].mean())
                ys.append(correct[m].mean())
        ece = expected_calibration_error(proba, y_idx, bins)
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
