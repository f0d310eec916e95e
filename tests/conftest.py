"""Shared fixtures: the seed notices read and segmented once, one trained store per session, a fresh work folder.

The trained store is trained once (TF-IDF, a few notices, both cross-validation schemes, registered and
promoted) and only read by the tests that take ``trained_store``; a test that changes a store takes
``store_copy``, a copy of that folder of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    REGISTERED,
    SEEDS,
    SUBSET_NOTICES,
    TFIDF_CONFIG,
    TrainedStore,
    build_tiny_bert,
    closed_port,
    copy_store,
    subset_rows,
    train_store,
    write_jsonl,
)

from classify.notices.reading import read_notice
from classify.notices.segmenting import segment_notice


@pytest.fixture(autouse=True)
def _no_tracking_uri_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without $MLFLOW_TRACKING_URI (a developer's own server never receives test runs), and whatever
    sets it during the test (``mlflow.set_tracking_uri`` exports it) is undone after it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")  # recorded, so that teardown restores the value from before
    monkeypatch.delenv("MLFLOW_TRACKING_URI")


@pytest.fixture(scope="session")
def seeds() -> dict[str, tuple]:
    """{"000": (path, Notice, [MeasureRecord, ...]), ...} for every seed."""
    out = {}
    for path in sorted(SEEDS.glob("*.txt")):
        notice = read_notice(path)
        out[path.name[:3]] = (path, notice, segment_notice(notice))
    return out


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """A TF-IDF model trained on :func:`helpers.store_rows` and promoted (version 1, ``candidate`` and ``champion``)
    in a temporary SQLite store. Read it only; take ``store_copy`` to change a store."""
    return train_store(tmp_path_factory.mktemp("trained-store"))


@pytest.fixture
def store_copy(trained_store: TrainedStore, tmp_path: Path) -> TrainedStore:
    """A copy of the trained store that this test may change (train into, log to, delete from)."""
    return copy_store(trained_store, tmp_path / "store-copy")


@pytest.fixture(scope="session")
def coarse3_store(trained_store: TrainedStore, tmp_path_factory: pytest.TempPathFactory) -> TrainedStore:
    """A copy of the trained store with a second model beside it: the same config trained with
    ``label_scheme: coarse3`` (three categories), registered and promoted as ``coarse3-classifier``."""
    store = copy_store(trained_store, tmp_path_factory.mktemp("coarse3") / "store")
    return train_store(store.root, "--set", "label_scheme=coarse3", registered="coarse3-classifier")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = a fresh tmp folder with its own (not yet created) SQLite store in ``store/``; no pulled models."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    monkeypatch.setenv("CLASSIFY_MODELS_DIR", str(tmp_path / "no-models"))
    return tmp_path


@pytest.fixture
def in_store(trained_store: TrainedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TrainedStore:
    """cwd = a fresh tmp folder, MLFLOW_TRACKING_URI = the trained store (read only)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    return trained_store


# --- a real tracking server (slow tests only) ---------------------------------------------------

SERVER_EXPERIMENT = "classify"
HEALTH_TIMEOUT_S = 150  # a cold start on a busy 2-core machine takes 15-40 s


def _stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL what is left after 20 s, reap everything."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        for p in family:  # a child that left the group still gets the signal
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)
        _, alive = psutil.wait_procs(family, timeout=grace)
        if not alive:
            break
    proc.wait(timeout=10)
    leftovers = [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not leftovers, f"mlflow server processes left behind: {leftovers}"


def _tail(path: Path, n: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on a free loopback port over a fresh SQLite store; its process group is stopped after."""
    import requests

    root = tmp_path_factory.mktemp("mlflow-server")
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner (a dozen huey workers nobody needs)
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
           "--serve-artifacts", "--artifacts-destination", (root / "artifacts").as_uri()]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{_tail(root / 'server.log')}")
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {HEALTH_TIMEOUT_S} s:\n{_tail(root / 'server.log')}")
            time.sleep(0.5)
        yield url
    finally:
        try:
            _stop_server(proc)
        finally:
            log.close()


def _cli(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "classify.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"classify {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="session")
def server_trained(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two configs of two families trained against the server in separate processes, neither promoted: the TF-IDF
    config (version 1), then a BERT config on a tiny random BERT built here (version 2)."""
    pytest.importorskip("transformers")
    work = tmp_path_factory.mktemp("e2e-work")
    tiny_bert = build_tiny_bert(work / "tiny-bert")
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    bert_config = work / "tiny_bert.yaml"
    bert_config.write_text(
        "name: tiny_bert\nseed: 0\n"
        f"data:\n  path: {data}\n"
        "input:\n  text: measure\n"
        f"model:\n  family: bert\n  pretrained: {tiny_bert}\n  max_length: 64\n  epochs: 1\n"
        "  batch_size: 16\n  learning_rate: 0.001\n  device: cpu\n"
        f"tracking:\n  experiment: {SERVER_EXPERIMENT}\n  registered_model: {REGISTERED}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=mlflow_server, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    outputs = {}
    for name, config, extra in (("tfidf", TFIDF_CONFIG, ["--set", f"data.path={data}"]), ("bert", bert_config, [])):
        outputs[name] = _cli(["train", "--config", str(config), *extra, "--quiet"], env, work).stdout
    assert not (work / "experiments").exists() and not (work / "mlruns").exists()  # all went to the server
    return {"url": mlflow_server, "work": work, "env": env, "stdout": outputs, "notices": SUBSET_NOTICES, "cli": _cli}

