"""MLflow: where runs go, the reporter that logs a training run, the pyfunc model, the registry.

One parent run per ``classify train`` with the flattened config as params and a child run per
fold; metrics have the same names for every model family, so runs sit side by side in the UI.
The model is registered only after everything else has been logged, so an interrupted (Ctrl-C,
SIGTERM) or failed run never creates a version or moves an alias.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from classify.config import TrainConfig
from classify.errors import InputError, TrackingError
from classify.interrupts import checkpoint, hold_interrupts
from classify.training import CalibrationResult, TrainingReporter, TrainingResult, run_training

DEFAULT_STORE_DIR = Path("experiments")
PARENT_TAG = "classify.run_kind"
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI's "model training" view
ENV_HINT = "set MLFLOW_TRACKING_URI or --tracking-uri to use another store"


# --- store ------------------------------------------------------------------------------------


def resolve_tracking_uri(config_uri: str | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else the config's URI, else the embedded SQLite store under experiments/."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or config_uri
    if uri:
        return uri
    return f"sqlite:///{(DEFAULT_STORE_DIR / 'mlflow.db').resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and in-memory SQLite."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store live beside the database (``mlartifacts/``), never in the current folder."""
    db = sqlite_path(uri)
    return (db.resolve().parent / "mlartifacts").as_uri() if db is not None else None


def create_sqlite_store(db_path: Path, artifact_root: str | None = None) -> None:
    """Create a new SQLite tracking store under a temporary name and link it into place.

    MLflow builds a new store by running its schema migrations one by one; a Ctrl-C or crash
    halfway leaves a database on which every later run fails ("duplicate column ..."). Built
    aside, the store either exists complete or not at all. Does nothing if ``db_path`` exists.
    """
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    if db_path.exists():
        return
    if not db_path.parent.is_dir():
        raise TrackingError(f"cannot create MLflow store {db_path}: folder {db_path.parent} does not exist")
    if not os.access(db_path.parent, os.W_OK):
        raise TrackingError(f"cannot create MLflow store {db_path}: folder {db_path.parent} is not writable")
    tmp = db_path.with_name(f".{db_path.name}.{uuid.uuid4().hex}.tmp")
    tmp_uri = f"sqlite:///{tmp}"
    try:
        with hold_interrupts():
            SqlAlchemyStore(tmp_uri, artifact_root or DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
            with contextlib.suppress(FileExistsError):  # another process created it first: keep theirs
                os.link(tmp, db_path)  # unlike rename, never replaces an existing store
    finally:
        # MLflow caches one engine per URI (a private map); drop ours so it does not keep the file open
        engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(tmp_uri, None)
        if engine is not None:
            engine.dispose()
        tmp.unlink(missing_ok=True)


def check_sqlite_store(db_path: Path, *, write: bool) -> None:
    """A one-line error for a store file that is empty, not SQLite, damaged, or read-only when writing."""
    if db_path.stat().st_size == 0:
        raise TrackingError(f"MLflow store {db_path} is an empty file (0 bytes), not a store; remove it or {ENV_HINT}")
    with open(db_path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise TrackingError(f"MLflow store {db_path} is not an SQLite database; {ENV_HINT}")
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"MLflow store {db_path} is damaged ({exc}); restore it from a backup or {ENV_HINT}") from None
    if ok != "ok":
        raise TrackingError(f"MLflow store {db_path} is damaged ({ok}); restore it from a backup or {ENV_HINT}")
    if "experiments" not in tables:
        raise TrackingError(f"{db_path} is an SQLite database but not an MLflow store; {ENV_HINT}")
    if write and not os.access(db_path, os.W_OK):
        raise TrackingError(f"MLflow store {db_path} is read-only; training needs to write to it ({ENV_HINT})")


def connect(config_uri: str | None = None, *, create: bool = False, timeout: float = 5.0) -> str:
    """Point MLflow at the store; ``create`` (training) makes a missing SQLite store, reading never does."""
    import mlflow

    uri = resolve_tracking_uri(config_uri)
    scheme = uri.split(":", 1)[0] if ":" in uri else "file"
    if scheme not in ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks"):
        raise TrackingError(f"tracking URI {uri!r}: unknown scheme {scheme!r} (use sqlite:///path, http(s)://host or a folder)")
    if uri.startswith(("http://", "https://")):
        # MLflow retries unreachable servers for minutes by default; fail in seconds instead.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as exc:
            raise TrackingError(f"cannot reach MLflow tracking server at {uri} ({type(exc).__name__}); "
                                "is it running?") from None
    db_path = sqlite_path(uri)
    if db_path is not None:
        if not db_path.exists():
            if not create:
                raise TrackingError(f"no MLflow store at {db_path}; run classify train first, or {ENV_HINT}")
            if db_path.parent == DEFAULT_STORE_DIR.resolve():
                db_path.parent.mkdir(parents=True, exist_ok=True)
            create_sqlite_store(db_path, artifact_location(uri))
        check_sqlite_store(db_path, write=create)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, uri: str) -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        exp_id = mlflow.create_experiment(name, artifact_location=artifact_location(uri), tags=EXPERIMENT_KIND)
    else:
        exp_id = exp.experiment_id
        if exp.tags.get("mlflow.experimentKind") != EXPERIMENT_KIND["mlflow.experimentKind"]:
            for key, value in EXPERIMENT_KIND.items():
                mlflow.MlflowClient().set_experiment_tag(exp_id, key, value)
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


# --- pyfunc -----------------------------------------------------------------------------------


def _pyfunc_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


class MeasureClassifierPyfunc(_pyfunc_base()):
    """Input: ``text`` and optional ``heading``, ``issuer``. Output: label, confidence, prob_*, needs_review,
    secondary_label. Empty or non-text measures are refused with a message (HTTP 400 when served)."""

    def load_context(self, context) -> None:
        from classify.models.trained import TrainedModel

        self.model = TrainedModel.load(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        review_below = (params or {}).get("review_below")
        try:
            return self.model.predict_frame(pd.DataFrame(model_input), review_below=review_below)
        except InputError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None


def _requirements() -> list[str]:
    from importlib.metadata import version

    names = ["mlflow", "scikit-learn", "torch", "transformers", "jieba", "opencc", "pandas"]
    return [f"classify=={version('classify')}", *(f"{n}=={version(n)}" for n in names)]


def _signature(output: pd.DataFrame):
    from mlflow.models import ModelSignature
    from mlflow.models.signature import infer_signature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("string", "text"), ColSpec("string", "heading", required=False),
                     ColSpec("string", "issuer", required=False)])
    outputs = infer_signature(None, output.astype({"secondary_label": str})).outputs
    params = ParamSchema([ParamSpec("review_below", "double", None)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_pyfunc_model(model: Any, example: pd.DataFrame) -> Any:
    """Save the trained model to a folder and log it as the run's pyfunc model; returns ModelInfo."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model_dir"
        model.save(model_dir)
        return mlflow.pyfunc.log_model(
            name="model", python_model=MeasureClassifierPyfunc(), artifacts={"model_dir": str(model_dir)},
            signature=_signature(model.predict_frame(example)), input_example=example,
            pip_requirements=_requirements(),
        )


# --- the MLflow reporter ----------------------------------------------------------------------


class MlflowReporter(TrainingReporter):
    """Logs a training run as it goes: params and data at the start, a child run per fold, artifacts per scheme."""

    def __init__(self, config: TrainConfig, artifacts_dir: Path) -> None:
        self.config = config
        self.dir = artifacts_dir

    def on_start(self, config: TrainConfig, data: pd.DataFrame) -> None:
        import mlflow

        from classify.fileio import file_sha256, git_commit

        tags = {PARENT_TAG: "parent", "model_family": config.model.family, "config_name": config.name,
                "data_sha256": file_sha256(config.data.path), "git_commit": git_commit(),
                "input_text": config.input.text}
        with hold_interrupts():
            self.run = mlflow.start_run(run_name=config.name, tags=tags)
            mlflow.log_params(config.flat_params())
            mlflow.log_params({"data.n_measures": len(data), "data.n_notices": data["notice_id"].nunique(),
                               "data.n_issuer_kinds": data["issuer_kind"].nunique()})
            columns = [c for c in ("id", "notice_id", "issuer", "issuer_kind", "source", "heading", "text", "label")
                       if c in data]
            with warnings.catch_warnings():  # MLflow registers the local-file source type twice and says so
                warnings.simplefilter("ignore")
                dataset = mlflow.data.from_pandas(data[columns], source=str(Path(config.data.path).resolve()),
                                                  name=Path(config.data.path).name, targets="label")
            mlflow.log_input(dataset, context="training")

    def on_fold(self, fold) -> None:
        import mlflow

        checkpoint()  # a Ctrl-C swallowed by a finaliser during the fold stops the run here
        with hold_interrupts(), mlflow.start_run(run_name=f"{fold.scheme}:{fold.held_out}", nested=True,
                                                 tags={PARENT_TAG: "fold", "scheme": fold.scheme,
                                                       "held_out": fold.held_out}):
            mlflow.log_params({"scheme": fold.scheme, "held_out": fold.held_out, "n_train": fold.n_train,
                               "n_test": fold.n_test,
                               "labels_missing_from_train": ",".join(fold.missing_labels) or "none"})
            mlflow.log_metrics({**fold.metrics, "train_seconds": fold.train_seconds})

    def on_cv(self, cv) -> None:
        import mlflow

        from classify.evaluation import PREFIX, per_kind_table, plot_confusion_matrix, report_text

        folder = self.dir / PREFIX[cv.scheme]
        folder.mkdir(parents=True, exist_ok=True)
        cv.oof.to_csv(folder / "oof_predictions.csv", index=False)
        cv.oof[cv.oof["misclassified"]].to_csv(folder / "misclassified.csv", index=False)
        (folder / "classification_report.txt").write_text(report_text(cv.oof))
        per_kind_table(cv).to_csv(folder / "by_issuer_kind.csv", index=False)
        plot_confusion_matrix(cv.oof, str(folder / "confusion_matrix.png"),
                              f"{self.config.name}: {cv.scheme.replace('_', '-')} (n={len(cv.oof)})")
        with hold_interrupts():
            mlflow.log_artifacts(str(folder), artifact_path=f"evaluation/{PREFIX[cv.scheme]}")

    def on_calibrated(self, calibrated: CalibrationResult) -> None:
        import mlflow

        from classify.calibration import label_index, plot_reliability
        from classify.labels import LABELS

        folder = self.dir / "calibration"
        folder.mkdir(parents=True, exist_ok=True)
        y_idx = label_index(calibrated.calibrated_oof["label"])
        cal = calibrated.calibrated_oof[[f"prob_{lab}" for lab in LABELS]].to_numpy()
        plot_reliability(calibrated.raw_proba, cal, y_idx, str(folder / "reliability_diagram.png"),
                         f"{self.config.name}: {calibrated.scheme.replace('_', '-')}")
        calibrated.calibrated_oof.to_csv(folder / "calibrated_oof_predictions.csv", index=False)
        with hold_interrupts():
            mlflow.log_artifacts(str(folder), artifact_path="evaluation/calibration")


# --- training run -----------------------------------------------------------------------------


@dataclass
class TrainResult:
    run_id: str
    metrics: dict[str, float]
    model_uri: str
    registered_model: str
    version: str
    promoted: bool
    tracking_uri: str
    training: TrainingResult


def train(config: TrainConfig, *, promote: bool = False, progress: bool = True) -> TrainResult:
    """Cross-validate, fit on all data, log everything, register; see the module docstring."""
    import mlflow
    import yaml

    from classify.training import load_training_data

    data = load_training_data(config)  # data errors surface before any run is created
    if hasattr(config.model, "pretrained"):
        from classify.pretrained import check_pretrained_available

        check_pretrained_available(config.model.pretrained)  # before any run exists
    uri = connect(config.tracking.tracking_uri, create=True)
    ensure_experiment(config.tracking.experiment, uri)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reporter = MlflowReporter(config, Path(tmp))
            t0 = time.perf_counter()
            result = run_training(config, reporter=reporter, progress=progress, data=data)
            metrics = dict(result.metrics)
            metrics["run_wall_seconds"] = time.perf_counter() - t0
            (Path(tmp) / "config.yaml").write_text(
                yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True, sort_keys=False))
            checkpoint()
            with hold_interrupts():
                mlflow.log_metrics(metrics)
                mlflow.log_artifact(str(Path(tmp) / "config.yaml"), artifact_path="evaluation")
                example = result.data[["text", "heading", "issuer"]].head(3).fillna("").astype(str)
                info = log_pyfunc_model(result.model, example)
        run_id = reporter.run.info.run_id
        checkpoint()
        with hold_interrupts() as hold:
            version, promoted = register(info.model_uri, config.tracking.registered_model,
                                         metrics["cv_macro_f1"] if "cv_macro_f1" in metrics else metrics["kind_macro_f1"],
                                         run_id, promote=promote)
            mlflow.end_run()
            hold.discard()  # registered and finished: a signal this late has nothing left to stop
    except BaseException as exc:
        if mlflow.active_run() is not None:
            with hold_interrupts():
                mlflow.end_run(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    return TrainResult(run_id, metrics, info.model_uri, config.tracking.registered_model, version, promoted, uri,
                       result)


# --- registry ---------------------------------------------------------------------------------


def _run_metric(client, run_id: str, key: str) -> float | None:
    try:
        return client.get_run(run_id).data.metrics.get(key)
    except Exception:  # noqa: BLE001 - a deleted run has no metric to compare with
        return None


def register(model_uri: str, name: str, macro_f1: float, run_id: str, *, promote: bool) -> tuple[str, bool]:
    """Register a version with alias ``candidate``; with ``promote``, move ``champion`` only if better."""
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
            # MLflow prints "Successfully registered model…/Created version…"; classify reports the version itself
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                mv = mlflow.register_model(model_uri, name, tags={"cv_macro_f1": f"{macro_f1:.4f}", "run_id": run_id})
            client.set_registered_model_alias(name, "candidate", mv.version)
            promoted = False
            if promote:
                best = champion_score(name)
                if best is None or macro_f1 > best:
                    client.set_registered_model_alias(name, "champion", mv.version)
                    promoted = True
            hold.raise_pending()  # a signal while registering undoes the registration
        except BaseException:
            # Ctrl-C, SIGTERM or an error: put the aliases back, drop the version, and the model if it is new.
            for alias, version in before.items():
                client.set_registered_model_alias(name, alias, version)
            if mv is not None:
                client.delete_model_version(name, mv.version)  # also drops aliases still pointing at it
            if not model_existed:
                with contextlib.suppress(MlflowException):
                    client.delete_registered_model(name)
            raise
    return str(mv.version), promoted


def champion_score(name: str) -> float | None:
    """CV macro-F1 of the run behind the current champion, or None when there is no champion."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        mv = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None
    return _run_metric(client, mv.run_id or mv.tags.get("run_id", ""), "cv_macro_f1")


def _aliases(name: str) -> dict[str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return dict(MlflowClient().get_registered_model(name).aliases)
    except MlflowException:
        return {}


def default_model_uri(name: str) -> str:
    """``models:/name@champion`` if set, else ``@candidate``."""
    import mlflow

    aliases = _aliases(name)
    for alias in ("champion", "candidate"):
        if alias in aliases:
            return f"models:/{name}@{alias}"
    raise TrackingError(f"registered model {name!r} has no 'champion' or 'candidate' version in "
                        f"{mlflow.get_tracking_uri()}; run classify train first, or {ENV_HINT}")


def load_model(uri: str):
    """A pyfunc model from anything MLflow resolves (``models:/name@alias``, ``runs:/…``, a path), with
    one-line errors for an unknown alias or a model whose files are gone."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri.removeprefix("models:/").split("@", 1)
        aliases = _aliases(name)
        if alias not in aliases:
            known = ", ".join(f"@{a}" for a in sorted(aliases)) or "none"
            raise TrackingError(f"model {uri}: no alias {alias!r} (aliases of {name!r}: {known})")
    try:
        return mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise TrackingError(f"model {uri} cannot be loaded ({first}); retrain it or choose another with --model") from None


# --- comparison -------------------------------------------------------------------------------

COMPARE_COLUMNS = {
    "tags.config_name": "config", "tags.model_family": "family", "tags.input_text": "input",
    "metrics.cv_macro_f1": "lono_f1", "metrics.kind_macro_f1": "kind_f1", "metrics.cv_accuracy": "accuracy",
    "metrics.ece": "ece", "metrics.train_seconds": "train_s", "metrics.run_wall_seconds": "run_s",
    "metrics.predict_measures_per_second": "pred_per_s", "status": "status", "start_time": "started",
    "run_id": "run_id",
}


def compare_runs(experiment: str) -> pd.DataFrame:
    """One row per training run in the experiment, best leave-one-notice-out macro-F1 first."""
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise TrackingError(f"no experiment named {experiment!r} in {mlflow.get_tracking_uri()}")
    runs = mlflow.search_runs([exp.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = 'parent'",
                              output_format="pandas")
    if runs.empty:
        return pd.DataFrame(columns=list(COMPARE_COLUMNS.values()))
    for c in COMPARE_COLUMNS:
        if c not in runs:
            runs[c] = None
    table = runs[list(COMPARE_COLUMNS)].rename(columns=COMPARE_COLUMNS)
    return table.sort_values("lono_f1", ascending=False, na_position="last").reset_index(drop=True)
