"""What every model family shares: the scikit-learn contract, the saved-model manifest, loading.

An estimator takes a :func:`classify.inputs.model_input` frame (anything else is converted at
that one boundary), derives from scikit-learn's ``BaseEstimator`` and ``ClassifierMixin`` (so
``clone``, ``get_params`` and ``repr`` come from there), and saves itself to a folder whose
``classify_model.json`` names its family; :func:`classify.models.load_estimator` dispatches on it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from classify.errors import ModelFormatError
from classify.inputs import model_input

MANIFEST = "classify_model.json"
FORMAT = "classify-model"
FORMAT_VERSION = 2


class MeasureClassifier(ClassifierMixin, BaseEstimator):
    """Base class: subclasses implement ``fit``, ``predict_proba``, ``_save_state`` and ``_load_state``.

    What training, tracking and the config need to know about a family comes from the class-level
    hooks below, so no code outside ``classify/models/`` tests a family's name.
    """

    family: ClassVar[str] = ""
    # constructor parameters that come from the top level of a config, not from its `model` section
    config_exclude: ClassVar[tuple[str, ...]] = ("input_text", "seed", "progress", "label_scheme")
    # per-step progress bars inside every cross-validation fold (worth it only where a fit takes minutes)
    fit_progress: ClassVar[bool] = False
    # distributions a served model of this family imports, beyond classify's own (pip names)
    pip_requirements: ClassVar[tuple[str, ...]] = ()
    # the out-of-domain check compares a measure with the training measures in the space of `embed`; off where
    # that costs a second pass through the model (fine-tuned BERT) or cannot separate topics (sparse TF-IDF)
    domain_similarity: ClassVar[bool] = True

    @classmethod
    def fit_context(cls, params: Mapping[str, Any]) -> contextlib.AbstractContextManager:
        """Entered once around all the fits of a training run (the encoder embeds each text once there)."""
        return contextlib.nullcontext()

    @classmethod
    def pretrained_sources(cls, params: Mapping[str, Any]) -> list[str]:
        """The pretrained models (hub names or folders) a config of this family loads, checked before training."""
        return []

    def requirements(self) -> tuple[str, ...]:
        """What a served model of this estimator imports (pip names), beyond classify's own."""
        return self.pip_requirements

    def predict_context(self) -> contextlib.AbstractContextManager:
        """Entered around one prediction call that needs both ``predict_proba`` and ``embed`` (the encoder
        embeds each text once there)."""
        return contextlib.nullcontext()

    @staticmethod
    def _inputs(X: Any) -> pd.DataFrame:
        return model_input(X, source="X")

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def embed(self, X: Any) -> np.ndarray | None:
        """Unit-length vectors for nearest-neighbour explanations; None when the family has none."""
        return None

    def explain_terms(self, X: Any, k: int = 5) -> list[list[tuple[str, float]]] | None:
        """Per row, the ``k`` input terms that pushed the decision most; None when the family has none."""
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit or load first")

    # -- saving --------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> None:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_state(directory)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": self.family,
                    "classes": [str(c) for c in self.classes_], "params": params}
        (directory / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                          encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path, manifest: dict | None = None) -> MeasureClassifier:
        directory = Path(directory)
        manifest = manifest or read_manifest(directory)
        names = set(cls._get_param_names())
        est = cls(**{k: (tuple(v) if isinstance(v, list) else v)
                     for k, v in manifest.get("params", {}).items() if k in names})
        est.classes_ = np.array(manifest["classes"])
        est._load_state(directory)
        return est

    def _save_state(self, directory: Path) -> None:
        raise NotImplementedError

    def _load_state(self, directory: Path) -> None:
        raise NotImplementedError


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a saved model folder; a folder from an older classify gets a one-line error."""
    directory = Path(directory)
    path = directory / MANIFEST
    old_bert = (directory / "classify_bert.json").is_file()
    if not path.is_file():
        if old_bert:
            raise ModelFormatError(f"{directory}: saved by an older classify (format 1); retrain it with classify train")
        raise ModelFormatError(f"{directory}: not a saved classify model (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{path}: unreadable model manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise ModelFormatError(f"{directory}: saved by an older classify (format 1); retrain it with classify train")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFormatError(f"{directory}: saved by a newer classify (format {manifest['format_version']}); "
                               "upgrade classify to load it")
    return manifest
