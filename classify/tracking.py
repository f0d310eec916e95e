"""MLflow: where runs go, what a training run logs, the pyfunc model, the registry.

One parent run per ``classify train`` with the flattened config as params and a child run per
leave-one-notice-out fold; metrics have the same names for every model family, so runs sit side
by side in the MLflow UI. The model is registered only after everything else has been logged,
so an interrupted or failed run never creates a version or moves an alias.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from classify.config import TrainConfig

DEFAULT_STORE_DIR = Path("experiments")
PARENT_TAG = "classify.run_kind"


class TrackingError(RuntimeError):
    """The tracking store or registry cannot be used; the message says which and why."""


# --- Ctrl-C ---------------------------------------------------------------------------------


class InterruptHold:
    """SIGINT handler that records a Ctrl-C instead of raising it at once; see ``hold_interrupts``."""

    def __init__(self) -> None:
        self.pending = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.pending = True

    def raise_pending(self) -> None:
        """Raise the recorded Ctrl-C now (once)."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def discard(self) -> None:
        self.pending = False


@contextlib.contextmanager
def hold_interrupts() -> Iterator[InterruptHold]:
    """Hold a Ctrl-C that arrives inside the block and raise it as KeyboardInterrupt when the block ends.

    A KeyboardInterrupt raised in the middle of a SQLite write leaves the store locked for the rest of
    the process, and MLflow then reports "database is locked" instead of the interrupt; holding it
    keeps every store write whole. Nested blocks share the outermost hold. Outside the main thread, or
    where SIGINT is ignored, this does nothing.
    """
    current = signal.getsignal(signal.SIGINT)
    if isinstance(current, InterruptHold):
        yield current
        return
    if threading.current_thread() is not threading.main_thread() or current is signal.SIG_IGN:
        yield InterruptHold()
        return
    hold = InterruptHold()
    signal.signal(signal.SIGINT, hold)
    try:
        yield hold
    finally:
        signal.signal(signal.SIGINT, current)
    hold.raise_pending()


# --- store ------------------------------------------------------------------------------------


def resolve_tracking_uri(config_uri: str | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else the config's URI, else the embedded SQLite store under experiments/."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or config_uri
    if uri:
        return uri
    DEFAULT_STORE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DEFAULT_STORE_DIR / 'mlflow.db').resolve()}"


def _default_artifact_location(uri: str) -> str | None:
    if uri.startswith("sqlite:") and Path(uri.removeprefix("sqlite:///")).parent.resolve() == DEFAULT_STORE_DIR.resolve():
        return (DEFAULT_STORE_DIR / "mlartifacts").resolve().as_uri()
    return None


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and in-memory SQLite."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


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
    tmp = db_path.with_name(f".{db_path.name}.{uuid.uuid4().hex}.tmp")
    tmp_uri = f"sqlite:///{tmp}"
    try:
        SqlAlchemyStore(tmp_uri, artifact_root or DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH)
        with contextlib.suppress(FileExistsError):  # another process created it first: keep theirs
            os.link(tmp, db_path)  # unlike rename, never replaces an existing store
    finally:
        # MLflow caches one engine per URI (a private map); drop ours so it does not keep the file open
        engine = getattr(SqlAlchemyStore, "_engine_map", {}).pop(tmp_uri, None)
        if engine is not None:
            engine.dispose()
        tmp.unlink(missing_ok=True)


def connect(config_uri: str | None = None, *, timeout: float = 5.0) -> str:
    """Point MLflow at the store, failing fast with a clear message when a server cannot be reached."""
    import mlflow

    uri = resolve_tracking_uri(config_uri)
    if uri.startswith(("http://", "https://")):
        # MLflow retries unreachable servers for minutes by default; fail in seconds instead.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise TrackingError(f"cannot reach MLflow tracking server at {uri} ({reason}); is it running?") from None
    db_path = _sqlite_path(uri)
    if db_path is not None:
        create_sqlite_store(db_path, _default_artifact_location(uri))
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, uri: str) -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        exp_id = mlflow.create_experiment(name, artifact_location=_default_artifact_location(uri))
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


# --- pyfunc -----------------------------------------------------------------------------------


def _pyfunc_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


class MeasureClassifierPyfunc(_pyfunc_base()):
    """Input: DataFrame with ``text`` and optional ``heading``. Output: label, confidence, prob_*."""

    def load_context(self, context) -> None:
        from classify.models import load_model_dir

        self.model = load_model_dir(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from classify.models import proba_frame
        from classify.reading import to_simplified

        X = pd.DataFrame(model_input).copy()
        if "text" not in X:
            raise ValueError("model input needs a 'text' column")
        X["text"] = X["text"].fillna("").astype(str).map(to_simplified)
        X["heading"] = X["heading"].fillna("").astype(str).map(to_simplified) if "heading" in X else ""
        return proba_frame(self.model, X[["text", "heading"]])


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"classify=={version('classify')}", f"mlflow=={version('mlflow')}", f"scikit-learn=={version('scikit-learn')}",
            f"torch=={version('torch')}", f"transformers=={version('transformers')}", f"jieba=={version('jieba')}",
            f"opencc=={version('opencc')}"]


def log_pyfunc_model(model, example: pd.DataFrame) -> Any:
    """Save the fitted model to a folder and log it as the run's pyfunc model; returns ModelInfo."""
    import mlflow
    from mlflow.models import infer_signature

    from classify.models import proba_frame

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model_dir"
        model.save(model_dir)
        output = proba_frame(model, example)
        signature = infer_signature(example, output)
        return mlflow.pyfunc.log_model(
            name="model", python_model=MeasureClassifierPyfunc(), artifacts={"model_dir": str(model_dir)},
            signature=signature, input_example=example, pip_requirements=_requirements(),
        )


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


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _log_artifacts(cv, config: TrainConfig, folder: Path) -> None:
    import mlflow
    import yaml

    from classify.evaluation import plot_confusion_matrix, report_text

    folder.mkdir(parents=True, exist_ok=True)
    cv.oof.to_csv(folder / "oof_predictions.csv", index=False)
    (folder / "classification_report.txt").write_text(report_text(cv.oof))
    plot_confusion_matrix(cv.oof, str(folder / "confusion_matrix.png"),
                          f"{config.name}: leave-one-notice-out (n={len(cv.oof)})")
    (folder / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True, sort_keys=False))
    misclassified = cv.oof[cv.oof["misclassified"]]
    misclassified.to_csv(folder / "misclassified.csv", index=False)
    mlflow.log_artifacts(str(folder), artifact_path="evaluation")


def train(config: TrainConfig, *, promote: bool = False, progress: bool = True) -> TrainResult:
    """Cross-validate, fit on all data, log everything, register; see the module docstring."""
    import mlflow

    from classify.dataset import check_label_coverage, file_sha256, load_labelled, model_inputs
    from classify.evaluation import leave_one_notice_out
    from classify.models import build_model

    df = load_labelled(config.data.path)  # data errors surface before any run is created
    check_label_coverage(df, config.data.path)
    if config.model.family == "bert":
        from classify.pretrained import check_pretrained_available

        check_pretrained_available(config.model.pretrained)  # before any run exists
    uri = connect(config.tracking.tracking_uri)
    ensure_experiment(config.tracking.experiment, uri)

    tags = {
        PARENT_TAG: "parent", "model_family": config.model.family, "config_name": config.name,
        "data_sha256": file_sha256(config.data.path), "git_commit": git_commit(),
        "input_text": config.input.text,
    }
    # Every store write runs under hold_interrupts(): a Ctrl-C there takes effect when the write is done.
    try:
        with hold_interrupts():
            parent = mlflow.start_run(run_name=config.name, tags=tags)
            mlflow.log_params(config.flat_params())
            mlflow.log_params({"data.n_measures": len(df), "data.n_notices": df["notice_id"].nunique()})

        def log_fold(fold) -> None:
            with hold_interrupts(), mlflow.start_run(run_name=f"fold-{fold.notice_id}", nested=True,
                                                     tags={PARENT_TAG: "fold", "held_out_notice": fold.notice_id}):
                mlflow.log_params({"held_out_notice": fold.notice_id, "n_train": fold.n_train,
                                   "n_test": fold.n_test,
                                   "labels_missing_from_train": ",".join(fold.missing_labels) or "none"})
                mlflow.log_metrics({**fold.metrics, "train_seconds": fold.train_seconds})

        t0 = time.perf_counter()
        cv = leave_one_notice_out(lambda: build_model(config, progress=progress), df, on_fold=log_fold,
                                  progress=progress)
        metrics = cv.metrics
        metrics["cv_wall_seconds"] = time.perf_counter() - t0
        with hold_interrupts(), tempfile.TemporaryDirectory() as tmp:
            _log_artifacts(cv, config, Path(tmp) / "evaluation")

        # final model on all measures
        X, y = model_inputs(df), df["label"].to_numpy()
        t0 = time.perf_counter()
        model = build_model(config, progress=progress).fit(X, y)
        metrics["train_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.predict_proba(X)
        metrics["predict_measures_per_second"] = len(X) / (time.perf_counter() - t0)
        with hold_interrupts():
            mlflow.log_metrics(metrics)
            info = log_pyfunc_model(model, X.head(3))
        with hold_interrupts() as hold:
            version, promoted = register(info.model_uri, config.tracking.registered_model,
                                         metrics["cv_macro_f1"], parent.info.run_id, promote=promote)
            mlflow.end_run()
            hold.discard()  # registered and finished: a Ctrl-C this late has nothing left to stop
    except BaseException as exc:
        if mlflow.active_run() is not None:
            with hold_interrupts():
                mlflow.end_run(status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    return TrainResult(parent.info.run_id, metrics, info.model_uri, config.tracking.registered_model,
                       version, promoted, uri)


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
            mv = mlflow.register_model(model_uri, name, tags={"cv_macro_f1": f"{macro_f1:.4f}", "run_id": run_id})
            client.set_registered_model_alias(name, "candidate", mv.version)
            promoted = False
            if promote:
                best = champion_score(name)
                if best is None or macro_f1 > best:
                    client.set_registered_model_alias(name, "champion", mv.version)
                    promoted = True
            hold.raise_pending()  # a Ctrl-C while registering undoes the registration
        except BaseException:
            # Ctrl-C or an error: put the aliases back, drop the version, and the model if it is new.
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


def default_model_uri(name: str) -> str:
    """``models:/name@champion`` if set, else ``@candidate``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    for alias in ("champion", "candidate"):
        try:
            client.get_model_version_by_alias(name, alias)
            return f"models:/{name}@{alias}"
        except MlflowException:
            continue
    raise TrackingError(f"registered model {name!r} has no 'champion' or 'candidate' version; run `classify train` first")


# --- comparison -------------------------------------------------------------------------------


def compare_runs(experiment: str) -> pd.DataFrame:
    """One row per training run in the experiment, best CV macro-F1 first."""
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise TrackingError(f"no experiment named {experiment!r} in {mlflow.get_tracking_uri()}")
    runs = mlflow.search_runs([exp.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = 'parent'",
                              output_format="pandas")
    cols = {
        "tags.config_name": "config", "tags.model_family": "family", "tags.input_text": "input",
        "metrics.cv_macro_f1": "macro_f1", "metrics.cv_accuracy": "accuracy",
        "metrics.train_seconds": "train_s", "metrics.cv_wall_seconds": "cv_s",
        "metrics.predict_measures_per_second": "pred_per_s", "status": "status", "start_time": "started",
        "run_id": "run_id",
    }
    if runs.empty:
        return pd.DataFrame(columns=list(cols.values()))
    for c in cols:
        if c not in runs:
            runs[c] = None
    table = runs[list(cols)].rename(columns=cols)
    return table.sort_values("macro_f1", ascending=False, na_position="last").reset_index(drop=True)


__all__ = ["InterruptHold", "MeasureClassifierPyfunc", "TrackingError", "TrainResult", "compare_runs", "connect",
           "create_sqlite_store", "default_model_uri", "hold_interrupts", "register", "resolve_tracking_uri", "train"]
