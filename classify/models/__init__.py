"""The registry of model families: name -> (config class, estimator class).

A family's config class is made from its estimator's constructor (types, constraints and
defaults in one place), so the config and the estimator cannot drift apart. Adding a family is a
module with a :class:`~classify.models.base.MeasureClassifier` subclass plus one entry in
``_ESTIMATORS``.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

from classify.models.base import MeasureClassifier, read_manifest
from classify.models.bert import BertMeasureClassifier
from classify.models.encoder import EncoderMeasureClassifier
from classify.models.ensemble import EnsembleMeasureClassifier
from classify.models.tfidf import TfidfMeasureClassifier

_ESTIMATORS: tuple[type[MeasureClassifier], ...] = (
    TfidfMeasureClassifier, EncoderMeasureClassifier, BertMeasureClassifier, EnsembleMeasureClassifier,
)


class StrictModel(BaseModel):
    # frozen, unknown keys are errors, and inf/nan are refused (`C: .inf` must not reach a solver)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _config_class(estimator: type[MeasureClassifier]) -> type[StrictModel]:
    hints = typing.get_type_hints(estimator.__init__, include_extras=True)
    fields: dict[str, Any] = {"family": (Literal[estimator.family], estimator.family)}  # type: ignore[valid-type]
    for name, param in inspect.signature(estimator.__init__).parameters.items():
        if name == "self" or name in estimator.config_exclude:
            continue
        fields[name] = (hints[name], param.default)
    return create_model(f"{estimator.__name__.removesuffix('MeasureClassifier')}ModelConfig",
                        __base__=StrictModel, **fields)


@dataclass(frozen=True)
class Family:
    name: str
    config: type[StrictModel]
    estimator: type[MeasureClassifier]


FAMILIES: dict[str, Family] = {e.family: Family(e.family, _config_class(e), e) for e in _ESTIMATORS}


def family_of(model_config: StrictModel) -> Family:
    """The registered family of a config's ``model`` section."""
    return FAMILIES[model_config.family]  # type: ignore[attr-defined]


def build_estimator(model_config: StrictModel, *, input_text: str = "measure", seed: int = 0,
                    progress: bool = True, label_scheme: str = "codebook") -> MeasureClassifier:
    """A fresh, unfitted estimator for a family's config section."""
    params = model_config.model_dump(exclude={"family"})
    return family_of(model_config).estimator(**params, input_text=input_text, seed=seed, progress=progress,
                                             label_scheme=label_scheme)


def load_estimator(directory: str | Path) -> MeasureClassifier:
    """Load a saved estimator of any family from its folder (the manifest names the family)."""
    from classify.errors import ModelFormatError

    manifest = read_manifest(directory)
    family = FAMILIES.get(manifest.get("family", ""))
    if family is None:
        raise ModelFormatError(f"{directory}: unknown model family {manifest.get('family')!r}")
    return family.estimator.load(directory, manifest)


__all__ = ["FAMILIES", "Family", "MeasureClassifier", "StrictModel", "build_estimator", "family_of", "load_estimator"]
