"""Where runs go (classify/tracking/store.py): the tracking URI, the embedded SQLite store (created whole or not at
all, only by training, artifacts beside it), and a one-line error for every store that cannot be used."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from helpers import (
    DATA,
    GOOD_SEEDS,
    REGISTERED,
    SIMPLIFIED_SEED,
    TFIDF_CONFIG,
    assert_one_line,
    closed_port,
    run,
    subset_rows,
    write_jsonl,
)

from classify.errors import TrackingError
from classify.tracking.store import artifact_location, connect, resolve_tracking_uri, sqlite_path


def test_the_uri_comes_from_the_environment_then_the_config_then_experiments(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'experiments' / 'mlflow.db'}"
    assert resolve_tracking_uri("http://example.org:5000") == "http://example.org:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////srv/m.db")
    assert resolve_tracking_uri("http://example.org:5000") == "sqlite:////srv/m.db"
    assert sqlite_path("sqlite:////srv/m.db?timeout=5") == Path("/srv/m.db")
    assert sqlite_path("sqlite:///:memory:") is None and sqlite_path("http://x") is None
    assert artifact_location("sqlite:////srv/m.db") == "file:///srv/mlartifacts"
    assert artifact_location("http://x") is None


def test_a_later_connect_is_not_overridden_by_an_earlier_one(trained_store, store_copy) -> None:
    """MLflow exports the URI it is given as $MLFLOW_TRACKING_URI; that must not read as the user's choice and send a
    second store's runs to the first."""
    import mlflow

    assert connect(trained_store.uri) == trained_store.uri
    assert connect(store_copy.uri) == store_copy.uri and mlflow.get_tracking_uri() == store_copy.uri
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_artifacts_live_beside_the_database_not_in_the_current_folder(trained_store) -> None:
    root = trained_store.root
    assert (root / "db" / "mlartifacts").is_dir()
    assert not (root / "mlruns").exists()


def test_predict_never_creates_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, "no MLflow store at", str(tmp_path / "experiments" / "mlflow.db"), "MLFLOW_TRACKING_URI")
    assert not (tmp_path / "experiments").exists()
    code, _, err = run(capsys, "compare")
    assert code == 2 and not (tmp_path / "experiments").exists()


def test_store_faults_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{empty}")
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, str(empty), "empty file")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{corrupt}")
    code, _, err = run(capsys, "compare")
    assert code == 2
    assert_one_line(err, str(corrupt))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "ftp://example.org/store")
    code, _, err = run(capsys, "compare")
    assert code == 2
    assert_one_line(err, "unknown scheme 'ftp'")


def test_other_files_and_read_only_stores(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n", encoding="utf-8")
    with pytest.raises(TrackingError, match="is not an SQLite database"):
        connect(f"sqlite:///{text}")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(TrackingError, match="is an SQLite database but not an MLflow store"):
        connect(f"sqlite:///{other}")
    with pytest.raises(TrackingError, match=r"no MLflow store at .*nowhere.db; run classify train first"):
        connect(f"sqlite:///{tmp_path / 'nowhere.db'}")
    assert not (tmp_path / "nowhere.db").exists()


def test_a_read_only_store_is_refused_for_training(trained_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The file system's refusal is simulated: the tests may run as root, who writes read-only files."""
    import shutil

    db = tmp_path / "ro.db"
    shutil.copy(trained_store.db_dir / "mlflow.db", db)
    real_access = os.access

    def access(path, mode, *args, **kwargs) -> bool:
        return False if Path(path) == db and mode == os.W_OK else real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={trained_store.data}", "--quiet")
    assert code == 2
    assert_one_line(err, str(db), "is read-only")
    code, _, err = run(capsys, "compare")  # reading it is fine
    assert code == 0, err


def test_store_in_a_missing_folder(work: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'no-such-folder' / 'mlflow.db'}")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={DATA}", "--quiet")
    assert code == 2
    assert_one_line(err, "no-such-folder", "does not exist")


# --- tracking servers ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["config", "env"])
def test_unreachable_tracking_server_fails_fast(how: str, work: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    # connect() sets these with setdefault; set them here so they are undone after the test
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    path = work / "remote.yaml"
    if how == "config":
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        path.write_text(f"data:\n  path: {data}\ntracking:\n  tracking_uri: {uri}\n", encoding="utf-8")
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        path.write_text(f"data:\n  path: {data}\n", encoding="utf-8")
    t0 = time.perf_counter()
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert time.perf_counter() - t0 < 20
    assert code == 2
    assert_one_line(err, uri, "cannot reach MLflow tracking server")
    assert not (work / "experiments").exists() and not (work / "mlruns").exists()


@pytest.mark.slow  # it waits out the 5 s connection timeout
def test_silent_tracking_server_fails_fast(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A port that accepts connections but never answers (a hung server): a timeout, not a hang."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nobody ever reads or replies
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        t0 = time.perf_counter()
        code, _, err = run(capsys, "predict", SIMPLIFIED_SEED, "--model", f"models:/{REGISTERED}@candidate",
                           "--quiet")
        assert time.perf_counter() - t0 < 20
    assert code == 2
    assert_one_line(err, uri, "cannot reach MLflow tracking server")


# --- creating the store -------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_while_creating_the_store_leaves_no_half_built_store(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """MLflow builds a new store in ~50 migrations; cut halfway, the store is absent, not broken."""
    import mlflow.store.db.utils

    def half_initialize(engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)")
        raise KeyboardInterrupt

    write_jsonl(work / "subset.jsonl", subset_rows())
    argv = ("train", "--config", TFIDF_CONFIG, "--set", f"data.path={work / 'subset.jsonl'}", "--quiet")
    monkeypatch.setattr(mlflow.store.db.utils, "_initialize_tables", half_initialize)
    code, _, err = run(capsys, *argv)
    assert code == 130, err
    assert list((work / "store").iterdir()) == []  # neither the store nor its temporary copy
    monkeypatch.undo()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'store' / 'mlflow.db'}")
    code, _, err = run(capsys, *argv)
    assert code == 0, err  # the next run builds the store and trains
