"""Ensemble family: the calibrated probabilities of member configs combined into one model.

Each member is a training config (``configs/tfidf_svm.yaml``, ``configs/encoder_m3e_small.yaml`` …) whose
``model`` and ``input.text`` build the member estimator. Fitting the ensemble:

1. out-of-fold member probabilities from an inner K-fold grouped by issuer (the model input has no
   notice id; an issuer's notices stay together, so no notice informs its own weights — and inside an
   outer cross-validation fold the held-out notices are not in the data at all);
2. one temperature per member fitted on its out-of-fold probabilities (members are calibrated before
   they are combined, so an under-confident member is not drowned by a sharp one);
3. the combiner fitted on the same out-of-fold rows: ``mean`` (the average of the calibrated
   probabilities), ``weights`` (a weighted average, weights minimising the log-loss) or ``stack`` (a
   multinomial logistic regression on the members' calibrated log-probabilities);
4. each member fitted once on all the rows: the shipped members.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from classify.inputs import InputText
from classify.models.base import MeasureClassifier


def _member_config(path: str):
    from classify.config import load_config

    return load_config(path)


def _align(proba: np.ndarray, classes: Any, labels: list[str]) -> np.ndarray:
    out = np.zeros((len(proba), len(labels)))
    for j, c in enumerate(classes):
        out[:, labels.index(str(c))] = proba[:, j]
    return out


class EnsembleMeasureClassifier(MeasureClassifier):
    """Member configs' calibrated probabilities, combined by a mean, weights or a stacked logistic regression."""

    family = "ensemble"

    @classmethod
    def fit_context(cls, params) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        for path in params.get("members") or ():
            stack.enter_context(_member_config(path).fit_context())
        return stack

    @classmethod
    def pretrained_sources(cls, params) -> list[str]:
        return [s for path in params.get("members") or () for s in _member_config(path).pretrained_sources()]

    def __init__(
        self,
        members: list[str] = ["configs/tfidf_svm.yaml", "configs/encoder_m3e_small.yaml"],  # noqa: B006 - a config default, never mutated
        combine: Literal["mean", "weights", "stack"] = "mean",
        # 0: no inner folds: the members' own probabilities are averaged as they are (each member fitted once)
        inner_folds: Annotated[int, Field(ge=0, le=20)] = 5,
        stack_C: Annotated[float, Field(gt=0)] = 1.0,
        input_text: InputText = "measure",
        seed: int = 0,
        progress: bool = False,
        label_scheme: str = "codebook",
    ) -> None:
        self.members = members
        self.combine = combine
        self.inner_folds = inner_folds
        self.stack_C = stack_C
        self.input_text = input_text
        self.seed = seed
        self.progress = progress
        self.label_scheme = label_scheme

    # -- members ---------------------------------------------------------------------------------

    def _build_members(self) -> list[MeasureClassifier]:
        from classify.models import build_estimator

        out = []
        for path in self.members:
            config = _member_config(path)
            if config.model.family == self.family:
                raise ValueError(f"{path}: an ensemble cannot be a member of an ensemble")
            out.append(build_estimator(config.model, input_text=config.input.text, seed=self.seed,
                                       progress=False, label_scheme=self.label_scheme))
        return out

    def _member_proba(self, estimators: list[MeasureClassifier], X: Any) -> list[np.ndarray]:
        labels = list(self.classes_)
        return [_align(est.predict_proba(X), est.classes_, labels) for est in estimators]

    # -- fit / predict ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> EnsembleMeasureClassifier:
        from sklearn.model_selection import GroupKFold

        from classify.calibration import TemperatureScaler
        from classify.inputs import ISSUER

        if not self.members:
            raise ValueError("an ensemble needs at least one member config")
        X = self._inputs(X)
        y = np.asarray([str(v) for v in y])
        self.classes_ = np.array(sorted(set(y)))
        labels = list(self.classes_)
        y_idx = np.array([labels.index(v) for v in y])
        groups = X[ISSUER].to_numpy()
        n_groups = len(set(groups))
        if self.inner_folds == 0 and self.combine != "mean":
            raise ValueError(f"combine: {self.combine} learns from out-of-fold probabilities: it needs inner_folds >= 2")
        folds = min(self.inner_folds, n_groups)
        oof = [np.zeros((len(X), len(labels))) for _ in self.members]
        if folds >= 2:
            for train, test in GroupKFold(n_splits=folds).split(X, y, groups):
                for m, est in enumerate(self._build_members()):
                    est.fit(X.iloc[train].reset_index(drop=True), y[train])
                    oof[m][test] = _align(est.predict_proba(X.iloc[test].reset_index(drop=True)), est.classes_, labels)
        else:  # no inner folds, or one issuer only: nothing held out to learn from; plain average, no scaling
            oof = None
        self.scalers_ = [TemperatureScaler().fit(p, y_idx) if oof is not None else None for p in (oof or self.members)]
        calibrated = None if oof is None else [s.transform(p) for s, p in zip(self.scalers_, oof, strict=True)]
        self.weights_ = np.full(len(self.members), 1.0 / len(self.members))
        self.stacker_ = None
        if calibrated is not None and self.combine == "weights":
            self.weights_ = self._fit_weights(calibrated, y_idx)
        elif calibrated is not None and self.combine == "stack":
            from sklearn.linear_model import LogisticRegression

            self.stacker_ = LogisticRegression(C=self.stack_C, max_iter=2000, random_state=self.seed)
            self.stacker_.fit(self._stack_features(calibrated), y_idx)
        self.members_ = [est.fit(X, y) for est in self._build_members()]
        return self

    @staticmethod
    def _fit_weights(calibrated: list[np.ndarray], y_idx: np.ndarray) -> np.ndarray:
        """Non-negative weights summing to one that minimise the log-loss of the weighted average."""
        from scipy.optimize import minimize

        def loss(z: np.ndarray) -> float:
            w = np.exp(z) / np.exp(z).sum()
            p = sum(wi * pi for wi, pi in zip(w, calibrated, strict=True))
            return float(-np.mean(np.log(np.clip(p[np.arange(len(y_idx)), y_idx], 1e-12, 1.0))))

        z = minimize(loss, np.zeros(len(calibrated)), method="Nelder-Mead").x
        return np.exp(z) / np.exp(z).sum()

    @staticmethod
    def _stack_features(calibrated: list[np.ndarray]) -> np.ndarray:
        return np.hstack([np.log(np.clip(p, 1e-6, 1.0)) for p in calibrated])

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = self._inputs(X)
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        raw = self._member_proba(self.members_, X)
        calibrated = [p if s is None else s.transform(p) for s, p in zip(self.scalers_, raw, strict=True)]
        if self.stacker_ is not None:
            proba = np.zeros((len(X), len(self.classes_)))
            proba[:, self.stacker_.classes_] = self.stacker_.predict_proba(self._stack_features(calibrated))
            return proba
        return sum(w * p for w, p in zip(self.weights_, calibrated, strict=True))

    def embed(self, X: Any) -> Any:
        """The first member's dense embeddings (the encoder's), else the first member's embeddings."""
        found = None
        for est in self.members_:
            vectors = est.embed(X)
            if isinstance(vectors, np.ndarray):
                return vectors
            found = vectors if found is None else found
        return found

    def explain_terms(self, X: Any, k: int = 5):
        for est in self.members_:
            terms = est.explain_terms(X, k)
            if terms is not None:
                return terms
        return None

    def requirements(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for est in self.members_ for r in est.requirements()))

    def predict_context(self) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        for est in self.members_:
            stack.enter_context(est.predict_context())
        return stack

    # -- saving ----------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        import joblib

        for i, est in enumerate(self.members_):
            est.save(directory / f"member_{i}")
        joblib.dump({"scalers": self.scalers_, "weights": self.weights_, "stacker": self.stacker_},
                    directory / "combiner.joblib")

    def _load_state(self, directory: Path) -> None:
        import joblib

        from classify.models import load_estimator

        self.members_ = [load_estimator(directory / f"member_{i}") for i in range(len(self.members))]
        state = joblib.load(directory / "combiner.joblib")
        self.scalers_, self.weights_, self.stacker_ = state["scalers"], state["weights"], state["stacker"]
