"""Where runs go: the tracking URI, the embedded SQLite store (created whole or not at all), experiments.

Reading commands never create a store; ``classify train`` creates the embedded one under
``experiments/`` on first use. Every problem with a store is one line naming it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from pathlib import Path

from classify.errors import TrackingError
from classify.interrupts import hold_interrupts

DEFAULT_STORE_DIR = Path("experiments")
# the tag that says what a run is: "training" (one per classify train), "fold", "audit", "batch"
RUN_KIND_TAG = "classify.run_kind"
TRAINING_RUN_KINDS = ("training", "parent")  # "parent": stores written before the runs page showed one row per training
# the UI's "model training" view
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
ENV_HINT = "set MLFLOW_TRACKING_URI or --tracking-uri to use another store"


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
    # MLflow also exports the URI as $MLFLOW_TRACKING_URI (for its subprocesses); left there, it would read as the
    # user's choice and win over the URI of every later connect in this process (a second config, a second store)
    user_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if user_env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_env
    return uri


# A saved view of the runs page (the UI's "Views" menu; URL ?viewStateShareKey=classify): one row per training
# with the numbers that compare models as columns, best on real measures of unseen issuer kinds first.
RUNS_VIEW_KEY = "classify"
RUNS_VIEW_NAME = "classify: trainings side by side"
RUNS_VIEW_METRICS = ("loiko_real_macro_f1", "loiko_macro_f1", "lono_macro_f1", "ece", "review_flagged_fraction",
                     "train_seconds")
RUNS_VIEW_PARAMS = ("model.family", "input.text", "label_scheme")


def runs_view_state() -> dict:
    """The runs-page state of the saved view (MLflow 3's shared view state: columns, sort, filter)."""
    columns = ["attributes.`Dataset`", *(f"metrics.`{m}`" for m in RUNS_VIEW_METRICS),
               *(f"params.`{p}`" for p in RUNS_VIEW_PARAMS)]
    return {"searchFilter": f"tags.`{RUN_KIND_TAG}` != 'fold'", "orderByKey": f"metrics.`{RUNS_VIEW_METRICS[0]}`",
            "orderByAsc": False, "startTime": "ALL", "lifecycleFilter": "Active", "datasetsFilter": [],
            "modelVersionFilter": "All Runs", "selectedColumns": columns, "columnOrder": columns, "columnWidths": {},
            "runsHiddenMode": "SHOW_ALL", "viewMaximized": False, "runListHidden": False, "groupBy": None,
            "groupsExpanded": {}, "hideEmptyCharts": True, "useGroupedValuesInCharts": True}


def install_runs_view(experiment_id: str) -> None:
    """Write (or refresh) the saved view as the experiment tag the UI reads (zlib + base64 after ``deflate;``)."""
    import base64
    import json
    import time
    import zlib

    from mlflow import MlflowClient

    client = MlflowClient()
    key = f"mlflow.sharedViewState.{RUNS_VIEW_KEY}"
    state = "deflate;" + base64.b64encode(zlib.compress(json.dumps(runs_view_state()).encode())).decode()
    existing = client.get_experiment(experiment_id).tags.get(key)
    if existing and json.loads(existing).get("state") == state:
        return
    now = int(time.time() * 1000)
    created = json.loads(existing).get("createdAt", now) if existing else now
    client.set_experiment_tag(experiment_id, key, json.dumps({"name": RUNS_VIEW_NAME, "createdAt": created,
                                                              "updatedAt": now, "state": state}))


def ensure_experiment(name: str, uri: str | None = None, *, training: bool = True, activate: bool = True) -> str:
    """The id of experiment ``name``, created (artifacts beside an SQLite store) if it does not exist.

    ``training`` tags it for the UI's model-training view; ``activate`` makes it the current experiment."""
    import mlflow

    uri = uri or mlflow.get_tracking_uri()
    tags = EXPERIMENT_KIND if training else None
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        exp_id = mlflow.create_experiment(name, artifact_location=artifact_location(uri), tags=tags)
    else:
        exp_id = exp.experiment_id
        if training and exp.tags.get("mlflow.experimentKind") != EXPERIMENT_KIND["mlflow.experimentKind"]:
            for key, value in EXPERIMENT_KIND.items():
                mlflow.MlflowClient().set_experiment_tag(exp_id, key, value)
    if training:
        install_runs_view(exp_id)
    if activate:
        mlflow.set_experiment(experiment_id=exp_id)
    return exp_id
