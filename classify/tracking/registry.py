"""The model registry: registering a run's model, the ``candidate`` and ``champion`` aliases, loading a model
by URI, what a model URI names (version, card), and the table of training runs.

``--promote`` compares the run with the champion on one metric (``tracking.promote_metric``), read the
same way from both runs; a run without that metric never takes ``champion``, and the decision says
which metric decided.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from classify.errors import TrackingError
from classify.evaluation import OLD_PREFIX
from classify.interrupts import hold_interrupts
from classify.tracking.store import ENV_HINT, RUN_KIND_TAG, TRAINING_RUN_KINDS

MODEL_BUNDLE = "artifacts/model_dir/trained_model.json"  # inside a logged pyfunc model


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    reason: str  # one line: which metric decided, and the numbers


def old_metric_name(metric: str) -> str | None:
    """The same metric under the names of stores written before the vocabulary was unified (cv_, kind_)."""
    prefix, _, rest = metric.partition("_")
    return f"{OLD_PREFIX[prefix]}_{rest}" if prefix in OLD_PREFIX else None


def run_metric(run_id: str, metric: str, client: Any = None) -> float | None:
    """A run's metric, read under its current name or its older one; None when the run lacks it or is gone."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = client or MlflowClient()
    try:
        metrics = client.get_run(run_id).data.metrics
    except MlflowException:
        return None
    for name in (metric, old_metric_name(metric)):
        if name and name in metrics:
            return float(metrics[name])
    return None


def decide_promotion(name: str, metric: str, value: float | None, scheme: str = "codebook") -> Promotion:
    """Whether a run whose ``metric`` is ``value`` takes ``champion`` of registered model ``name``.

    Only a run of the champion's label scheme is compared: another scheme's metric is not computed the same way,
    and its model would change the columns every user of ``@champion`` gets."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if value is None:
        return Promotion(False, f"the run has no {metric} (is its scheme configured?), so it cannot be compared; "
                                "champion unchanged")
    client = MlflowClient()
    try:
        champion = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return Promotion(True, f"no champion yet: this run takes it ({metric} {value:.3f})")
    champion_run = champion.run_id or champion.tags.get("run_id", "")
    try:
        champion_scheme = client.get_run(champion_run).data.tags.get("label_scheme", "codebook")
    except MlflowException:
        champion_scheme = None
    if champion_scheme is not None and champion_scheme != scheme:
        return Promotion(False, f"the champion (v{champion.version}) predicts the {champion_scheme!r} categories, this run "
                                f"the {scheme!r} ones: not comparable; champion unchanged (register it under another "
                                "name with tracking.registered_model)")
    best = run_metric(champion_run, metric, client)
    if best is None:
        return Promotion(False, f"the champion (v{champion.version}) has no {metric} to compare with; champion "
                                "unchanged (retrain its config, or move the alias by hand)")
    if value > best:
        return Promotion(True, f"{metric} {value:.3f} beats the champion's (v{champion.version}) {best:.3f}")
    return Promotion(False, f"{metric} {value:.3f} does not beat the champion's (v{champion.version}) {best:.3f}; "
                            "champion unchanged")


def register(model_uri: str, name: str, run_id: str, *, promote: bool, metric: str,
             value: float | None, scheme: str = "codebook") -> tuple[str, Promotion | None]:
    """Register a version with alias ``candidate``; with ``promote``, move ``champion`` if the run wins on ``metric``.

    A Ctrl-C, SIGTERM or error while registering puts the aliases back and drops the version."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    with hold_interrupts() as hold:
        try:
            before = dict(client.get_registered_model(name).aliases)
            model_existed = True
        except MlflowException:
            before, model_existed = {}, False
        mv = None
        try:
            tags = {"run_id": run_id, "promote_metric": metric}
            if value is not None:
                tags[metric] = f"{value:.4f}"
            # MLflow prints "Successfully registered model…/Created version…"; classify reports the version itself
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                mv = mlflow.register_model(model_uri, name, tags=tags)
            client.set_registered_model_alias(name, "candidate", mv.version)
            promotion = None
            if promote:
                promotion = decide_promotion(name, metric, value, scheme)
                if promotion.promoted:
                    client.set_registered_model_alias(name, "champion", mv.version)
            hold.raise_pending()  # a signal while registering undoes the registration
        except BaseException:
            for alias, version in before.items():
                client.set_registered_model_alias(name, alias, version)
            if mv is not None:
                client.delete_model_version(name, mv.version)  # also drops aliases still pointing at it
            if not model_existed:
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model(name)
            raise
    return str(mv.version), promotion


def aliases(name: str) -> dict[str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return dict(MlflowClient().get_registered_model(name).aliases)
    except MlflowException:
        return {}


def default_model_uri(name: str) -> str:
    """``models:/name@champion`` if set, else ``@candidate``."""
    import mlflow

    known = aliases(name)
    for alias in ("champion", "candidate"):
        if alias in known:
            return f"models:/{name}@{alias}"
    raise TrackingError(f"registered model {name!r} has no 'champion' or 'candidate' version in "
                        f"{mlflow.get_tracking_uri()}; run classify train first, or {ENV_HINT}")


def resolve_model_uri(model: str | None, registered_model: str, tracking_uri: str | None = None) -> str:
    """The model a command uses: a folder (made absolute: Spark executors and MLflow runs get it as is), a
    ``models:/`` or ``runs:/`` URI, or the registered model's ``@champion``, else ``@candidate``."""
    from classify.tracking.store import connect

    if model and not model.startswith(("models:/", "runs:/")) and Path(model).exists():
        return str(Path(model).resolve())
    connect(tracking_uri)
    return model or default_model_uri(registered_model)


def check_model_uri(uri: str) -> None:
    """One line for a ``models:/name@alias`` whose alias does not exist (the aliases that do are listed)."""
    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri.removeprefix("models:/").split("@", 1)
        known = aliases(name)
        if alias not in known:
            shown = ", ".join(f"@{a}" for a in sorted(known)) or "none"
            raise TrackingError(f"model {uri}: no alias {alias!r} (aliases of {name!r}: {shown})")


def load_model(uri: str):
    """A pyfunc model from anything MLflow resolves (``models:/name@alias``, ``runs:/…``, a path), with
    one-line errors for an unknown alias or a model whose files are gone."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    check_model_uri(uri)
    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise TrackingError(f"model {uri} cannot be loaded ({first}); retrain it or choose another with --model") from None


def model_version(model_uri: str) -> dict[str, str] | None:
    """``{"registered_model", "version", "run_id"}`` for ``models:/name@alias`` or ``models:/name/N``, else None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    m = re.fullmatch(r"models:/([^/@]+)(?:@([^/]+)|/(\d+))", model_uri)
    if m is None:
        return None
    name, alias, number = m.groups()
    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException:
        return None
    return {"registered_model": name, "version": str(mv.version), "run_id": mv.run_id or ""}


def read_model_bundle(model_uri: str) -> dict[str, Any]:
    """The ``trained_model.json`` of a logged classify model (any URI MLflow resolves); TrackingError if none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    check_model_uri(model_uri)
    base = model_uri.rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if base.startswith("models:/"):
                # where the model's files are, for a registered version and for a logged model (models:/m-…, what
                # training returns), whose sub-paths MLflow would read as the name of a registered model
                from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

                base = ModelsArtifactRepository.get_underlying_uri(base)
            bundle_path = mlflow.artifacts.download_artifacts(artifact_uri=f"{base}/{MODEL_BUNDLE}", dst_path=tmp)
            return json.loads(Path(bundle_path).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            raise TrackingError(f"model {model_uri}: no classify model there (its trained_model.json cannot be read); "
                                "choose another with --model") from None


def model_scheme(model_uri: str):
    """The label scheme a logged model predicts (the codebook's five for models saved before schemes existed)."""
    from classify.labels import default_scheme, scheme_from_dict

    raw = read_model_bundle(model_uri).get("label_scheme")
    return scheme_from_dict(raw, model_uri) if raw else default_scheme()


def model_card(model_uri: str, *, note: str | None = None) -> dict[str, Any]:
    """What the report shows about a model: URI, registered version, family, config, label scheme, metrics.

    The metrics come from the card the model carries (``trained_model.json``), so a model folder
    without a registry has them too. A URI that names no loadable classify model is a TrackingError.
    """
    from classify.models.trained import CARD_METRICS

    inner = read_model_bundle(model_uri).get("card") or {}
    card: dict[str, Any] = {"uri": model_uri}
    if note:
        card["note"] = note
    card.update(model_version(model_uri) or {})
    card.update({k: inner[k] for k in ("family", "config", "input_text", "label_scheme", "calibrated_on", "review")
                 if k in inner})
    metrics = {}
    for key in CARD_METRICS:
        for name in (key, old_metric_name(key)):
            if name and isinstance(inner.get(name), int | float):
                metrics[key] = inner[name]
                break
    if metrics:
        card["metrics"] = metrics
    return card


# --- comparison -------------------------------------------------------------------------------

# metric -> column of `classify compare`; each metric is also read under its older name
COMPARE_METRICS = {"lono_macro_f1": "lono_f1", "loiko_macro_f1": "loiko_f1", "loiko_real_macro_f1": "loiko_real_f1",
                   "lono_accuracy": "accuracy", "ece": "ece", "train_seconds": "train_s",
                   "run_wall_seconds": "run_s", "predict_measures_per_second": "pred_per_s"}
COMPARE_TAGS = {"config_name": "config", "model_family": "family", "input_text": "input"}


def compare_runs(experiment: str, sort_by: str = "loiko_real_f1") -> pd.DataFrame:
    """One row per training run in the experiment, best ``sort_by`` first (older stores' names read too)."""
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    columns = [*COMPARE_TAGS.values(), *COMPARE_METRICS.values(), "status", "started", "run_id"]
    if exp is None:
        raise TrackingError(f"no experiment named {experiment!r} in {mlflow.get_tracking_uri()}")
    runs = mlflow.search_runs([exp.experiment_id], output_format="pandas")
    kind = f"tags.{RUN_KIND_TAG}"
    if not runs.empty:  # MLflow's filter has no IN for tags: training runs (and older stores' parents) kept here
        runs = runs[runs[kind].isin(TRAINING_RUN_KINDS)] if kind in runs else runs.iloc[0:0]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(index=runs.index)
    for tag, column in COMPARE_TAGS.items():
        table[column] = runs.get(f"tags.{tag}")
    for metric, column in COMPARE_METRICS.items():
        values = runs.get(f"metrics.{metric}", pd.Series(float("nan"), index=runs.index))
        old = old_metric_name(metric)
        if old and f"metrics.{old}" in runs:
            values = values.fillna(runs[f"metrics.{old}"]) if values is not None else runs[f"metrics.{old}"]
        table[column] = values
    table["status"], table["started"], table["run_id"] = runs["status"], runs["start_time"], runs["run_id"]
    return table[columns].sort_values(sort_by, ascending=False, na_position="last").reset_index(drop=True)
