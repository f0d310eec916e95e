"""Training configuration: typed, validated, with defaults; unknown keys are errors.

A YAML file is loaded into :class:`TrainConfig`; ``--set a.b=value`` overrides are applied to the
raw mapping first (values parsed as YAML scalars), so they are validated the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """A configuration cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    path: Path = Path("data/measures.jsonl")


class InputConfig(_Strict):
    # "measure": the measure text alone; "heading+measure": the heading path as context too.
    text: Literal["measure", "heading+measure"] = "measure"

    @property
    def use_heading(self) -> bool:
        return self.text == "heading+measure"


class TfidfModelConfig(_Strict):
    family: Literal["tfidf"] = "tfidf"
    # jieba words, character n-grams, or both (a union of the two vectorisers)
    tokenizer: Literal["jieba", "char", "both"] = "both"
    word_ngram_range: tuple[int, int] = (1, 2)
    char_ngram_range: tuple[int, int] = (1, 3)
    min_df: int = Field(1, ge=1)
    max_df: float = Field(1.0, gt=0, le=1)
    sublinear_tf: bool = True
    max_features: int | None = Field(None, ge=1)
    heading_weight: float = Field(0.5, ge=0)
    classifier: Literal["logreg", "linear_svm"] = "logreg"
    C: float = Field(10.0, gt=0)
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: int = Field(2000, ge=1)

    @field_validator("word_ngram_range", "char_ngram_range")
    @classmethod
    def _ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1]:
            raise ValueError("must be [low, high] with 1 <= low <= high")
        return v


class BertModelConfig(_Strict):
    family: Literal["bert"] = "bert"
    # a short name pulled with `classify models pull`, a local folder, or a hub name
    pretrained: str = "m3e-small"
    max_length: int = Field(256, ge=8, le=512)
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(6, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    class_weight: Literal["balanced"] | None = "balanced"
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("pretrained")
    @classmethod
    def _path_exists(cls, v: str) -> str:
        from classify.pretrained import looks_like_local_path

        if looks_like_local_path(v) and not Path(v).expanduser().exists():
            raise ValueError(f"model path {v!r} does not exist")
        return v


ModelConfig = Annotated[TfidfModelConfig | BertModelConfig, Field(discriminator="family")]


class EvaluationConfig(_Strict):
    scheme: Literal["leave_one_notice_out"] = "leave_one_notice_out"


class TrackingConfig(_Strict):
    # None: $MLFLOW_TRACKING_URI, else the embedded store under experiments/
    tracking_uri: str | None = None
    experiment: str = "classify"
    registered_model: str = "measure-classifier"


class TrainConfig(_Strict):
    name: str = "unnamed"
    seed: int = 0
    data: DataConfig = DataConfig()
    input: InputConfig = InputConfig()
    model: ModelConfig = TfidfModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    tracking: TrackingConfig = TrackingConfig()

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
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""


def _format_error(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in ("tfidf", "bert")))
    if err["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{loc}: {err['msg']}{shown}"


def parse_config(raw: dict | None, source: str = "<config>", overrides: list[str] | None = None) -> TrainConfig:
    raw = dict(raw or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config must be a mapping of keys to values")
    for item in overrides or []:
        _apply_override(raw, item, source)
    if isinstance(raw.get("model"), dict) and "family" not in raw["model"]:
        raw["model"] = {"family": "tfidf", **raw["model"]}  # the baseline is the default family
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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values")
    raw.setdefault("name", path.stem)
    return parse_config(raw, str(path), overrides)
