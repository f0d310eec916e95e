"""Training configuration: typed, validated, defaults in one place; unknown keys are errors.

A YAML file is loaded into :class:`TrainConfig`; ``--set a.b=value`` overrides are applied to the
raw mapping first (values parsed as YAML scalars), so they are validated the same way. The
``model`` section's classes come from the family registry (:mod:`classify.models`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from classify.errors import ConfigError
from classify.inputs import InputText
from classify.labels import DEFAULT_SCHEME, LabelScheme, load_scheme
from classify.models import FAMILIES, StrictModel, family_of
from classify.notices.issuers import ISSUER_KINDS

DEFAULT_FAMILY = "tfidf"

Scheme = Literal["leave_one_notice_out", "leave_one_issuer_kind_out"]


class DataConfig(StrictModel):
    path: Path = Path("data/measures.jsonl")
    # train on a part of the corpus only, e.g. issuer_kinds: [science_bureau] for the five seeds
    issuer_kinds: list[str] | None = None
    sources: list[Literal["real", "synthetic", "user"]] | None = None
    # rows of a user's validation sample (validation_sample: true) stay out of training unless this is set,
    # so that estimates made with that sample stay honest
    include_validation_samples: bool = False

    @field_validator("path", mode="before")
    @classmethod
    def _path_given(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError("is empty; give the labelled data file (JSONL)")
        return v

    @field_validator("issuer_kinds")
    @classmethod
    def _known_kinds(cls, v: list[str] | None) -> list[str] | None:
        unknown = [k for k in v or [] if k not in ISSUER_KINDS]
        if unknown:
            raise ValueError(f"unknown issuer kind(s) {', '.join(unknown)}; known: {', '.join(ISSUER_KINDS)}")
        return v


class InputConfig(StrictModel):
    # what the model reads: the measure, optionally after its issuer and/or heading path
    text: InputText = "measure"


class EvaluationConfig(StrictModel):
    # every scheme is run; the first one gives the `cv_*` metrics, leave-one-issuer-kind-out the `kind_*` ones
    schemes: list[Scheme] = ["leave_one_notice_out", "leave_one_issuer_kind_out"]
    # None: one fold per notice; a number: that many folds grouped by notice (for costly families)
    notice_folds: Annotated[int, Field(ge=2)] | None = None
    # scheme whose out-of-fold predictions fit the calibrator and the review threshold
    calibrate_on: Scheme = "leave_one_issuer_kind_out"
    # temperature (any family) | sigmoid / isotonic: scikit-learn's CalibratedClassifierCV on the same rows
    calibration: Literal["temperature", "sigmoid", "isotonic", "none"] = "temperature"
    # labels not flagged for review are right at least this often on new notices like the corpus's ...
    review_accuracy: Annotated[float, Field(gt=0, lt=1)] = 0.95
    # ... in this share of batches of new notices (the assurance of that promise; classify.review)
    review_confidence: Annotated[float, Field(gt=0, lt=1)] = 0.9

    @field_validator("schemes")
    @classmethod
    def _not_empty(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("needs at least one scheme")
        return list(dict.fromkeys(v))


class TrackingConfig(StrictModel):
    # None: $MLFLOW_TRACKING_URI, else the embedded store under experiments/
    tracking_uri: str | None = None
    experiment: str = "classify"
    registered_model: str = "measure-classifier"
    # `--promote` compares this metric of the run with the champion's, the same metric computed the same
    # way; a run without it never takes `champion`. Default: macro-F1 on real measures of issuer kinds
    # held out whole (what a user with a new kind of issuer gets).
    promote_metric: str = "loiko_real_macro_f1"
    # one MLflow child run per fold (the UI's runs table then holds ~100 rows per training); off: the
    # folds are a table artifact and step-indexed metrics of the training run
    fold_runs: bool = False


ModelConfig = Annotated[Union[tuple(f.config for f in FAMILIES.values())], Field(discriminator="family")]  # noqa: UP007


class TrainConfig(StrictModel):
    name: str = "unnamed"
    seed: int = 0
    # a shipped scheme (codebook: the five categories; coarse3) or a YAML file (classify/schemes/ shows the form)
    label_scheme: str = DEFAULT_SCHEME
    data: DataConfig = DataConfig()
    input: InputConfig = InputConfig()
    model: ModelConfig = FAMILIES[DEFAULT_FAMILY].config()
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()

    @field_validator("label_scheme")
    @classmethod
    def _scheme_loads(cls, v: str) -> str:
        load_scheme(v)  # a ConfigError naming the scheme file and the problem
        return v

    @model_validator(mode="after")
    def _local_model_exists(self) -> TrainConfig:
        from classify.pretrained import looks_like_local_path

        for pretrained in self.pretrained_sources():
            if looks_like_local_path(pretrained) and not Path(pretrained).expanduser().exists():
                raise ValueError(f"model.pretrained: model path {pretrained!r} does not exist")
        return self

    def scheme(self) -> LabelScheme:
        return load_scheme(self.label_scheme)

    def pretrained_sources(self) -> list[str]:
        """The pretrained models the family loads (hub names or folders)."""
        return family_of(self.model).estimator.pretrained_sources(self.model.model_dump())

    def fit_context(self):
        """The family's context around every fit of a run (see MeasureClassifier.fit_context)."""
        return family_of(self.model).estimator.fit_context(self.model.model_dump())

    def flat_params(self) -> dict[str, Any]:
        """Dotted keys -> values, for MLflow params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = value

        walk("", self.model_dump(mode="json"))
        return out


def _apply_override(raw: dict, item: str, source: str) -> None:
    if "=" not in item:
        raise ConfigError(f"{source}: override {item!r} must look like key.sub=value")
    key, value = item.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: override {key!r}: {part!r} is not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        node[parts[-1]] = value


def _format_error(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"] if p not in FAMILIES)
    if err["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    if err["type"] == "union_tag_invalid":
        return f"{loc}.family: unknown model family {err['input'].get('family')!r} (known: {', '.join(FAMILIES)})"
    got = err.get("input")
    message = str(err["msg"]).removeprefix("Value error, ")  # pydantic's wording for a ValueError we raised
    if err["type"] == "value_error":
        return f"{loc}: {message}" if loc else message  # our own messages name the key and show the value
    shown = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{loc}: {message}{shown}" if loc else f"{message}{shown}"


def parse_config(raw: dict | None, source: str = "<config>", overrides: list[str] | None = None) -> TrainConfig:
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a mapping of keys to values")
    raw = dict(raw or {})
    for item in overrides or []:
        _apply_override(raw, item, source)
    if isinstance(raw.get("model"), dict) and "family" not in raw["model"]:
        raw["model"] = {"family": DEFAULT_FAMILY, **raw["model"]}  # the baseline is the default family
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_format_error(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        warnings.warn(f"{path}: the config is empty; training with every default", stacklevel=2)
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    raw.setdefault("name", path.stem)
    return parse_config(raw, str(path), overrides)
