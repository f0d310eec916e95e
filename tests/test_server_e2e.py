"""End to end through a real ``mlflow server`` (issue 5).

The test starts ``mlflow server`` on a free loopback port over a fresh SQLite store and artifact
folder, trains two configs of different model families against it (TF-IDF, and BERT on a tiny
randomly initialised model built here) through ``MLFLOW_TRACKING_URI``, checks through MLflow's
REST API that the parent runs are comparable and the registry has versions with aliases, then
predicts with ``models:/…@candidate`` from that server. The server's whole process group is
stopped afterwards, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from helpers import build_tiny_bert
from helpers import subset_rows as shared_subset_rows

from classify.labels import LABELS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "measures.jsonl"
SEED = REPO / "seeds" / "003_e67ed025cdbe23ec.txt"  # not among the training notices below
TFIDF_CONFIG = REPO / "configs" / "tfidf_logreg.yaml"
SUBSET_NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2")
EXPERIMENT = "classify"
REGISTERED = "measure-classifier"
HEALTH_TIMEOUT_S = 150  # a cold start on a busy 2-core machine takes 15-40 s
pytestmark = pytest.mark.slow


def subset_rows(per_label: int = 3) -> list[dict]:
    return shared_subset_rows(SUBSET_NOTICES, per_label)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # No job runner (a dozen huey worker processes this test does not need).
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", (root / "artifacts").as_uri(),
    ]
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
            _stop(proc)
        finally:
            log.close()


def _tail(path: Path, n: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def _cli(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "classify.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"classify {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def trained(server: str, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The TF-IDF config, then a BERT config, trained against the server in separate processes."""
    work = tmp_path_factory.mktemp("e2e-work")
    data = work / "subset.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset_rows()), encoding="utf-8")
    bert_config = work / "tiny_bert.yaml"
    bert_config.write_text(
        "name: tiny_bert\nseed: 0\n"
        f"data:\n  path: {data}\n"
        "input:\n  text: measure\n"
        f"model:\n  family: bert\n  pretrained: {tiny_bert}\n  max_length: 64\n  epochs: 1\n"
        "  batch_size: 16\n  learning_rate: 0.001\n  device: cpu\n"
        f"tracking:\n  experiment: {EXPERIMENT}\n  registered_model: {REGISTERED}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_TRACKING_URI=server, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    outputs = {}
    for name, config, extra in (("tfidf", TFIDF_CONFIG, ["--set", f"data.path={data}"]),
                                ("bert", bert_config, [])):
        outputs[name] = _cli(["train", "--config", str(config), *extra, "--quiet"], env, work).stdout
    assert not (work / "experiments").exists() and not (work / "mlruns").exists()  # all went to the server
    return {"work": work, "env": env, "stdout": outputs}


def api(server: str, method: str, endpoint: str, **kwargs) -> dict:
    response = requests.request(method, f"{server}/api/2.0/mlflow/{endpoint}", timeout=30, **kwargs)
    assert response.ok, (endpoint, response.status_code, response.text[:500])
    return response.json()


def parent_runs(server: str) -> list[dict]:
    exp = api(server, "GET", "experiments/get-by-name", params={"experiment_name": EXPERIMENT})["experiment"]
    found = api(server, "POST", "runs/search", json={
        "experiment_ids": [exp["experiment_id"]], "filter": "tags.`classify.run_kind` = 'parent'",
        "max_results": 50})
    return found.get("runs", [])


def test_parent_runs_are_comparable(server: str, trained: dict) -> None:
    runs = parent_runs(server)
    assert len(runs) == 2
    tags = [{t["key"]: t["value"] for t in r["data"].get("tags", [])} for r in runs]
    assert sorted(t["model_family"] for t in tags) == ["bert", "tfidf"]
    assert all(r["info"]["status"] == "FINISHED" for r in runs)
    assert all(r["info"]["artifact_uri"].startswith("mlflow-artifacts:") for r in runs)  # served by the server

    keys = [{m["key"] for m in r["data"]["metrics"]} for r in runs]
    assert keys[0] == keys[1], keys[0] ^ keys[1]
    required = {"cv_macro_f1", "cv_accuracy", *(f"cv_f1_{lab}" for lab in LABELS),
                *(f"cv_precision_{lab}" for lab in LABELS), *(f"cv_recall_{lab}" for lab in LABELS),
                "train_seconds", "predict_measures_per_second"}
    assert required <= keys[0], required - keys[0]
    for run in runs:
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert 0.0 <= metrics["cv_macro_f1"] <= 1.0 and 0.0 <= metrics["cv_accuracy"] <= 1.0
    params = [{p["key"] for p in r["data"].get("params", [])} for r in runs]
    assert {"name", "seed", "model.family", "data.path", "data.n_measures", "data.n_notices"} <= params[0] & params[1]

    exp_id = runs[0]["info"]["experiment_id"]
    folds = api(server, "POST", "runs/search", json={
        "experiment_ids": [exp_id], "filter": "tags.`classify.run_kind` = 'fold'", "max_results": 50})["runs"]
    assert len(folds) == 2 * len(SUBSET_NOTICES)  # one child run per held-out notice, per config


def test_registered_versions_have_aliases(server: str, trained: dict) -> None:
    model = api(server, "GET", "registered-models/get", params={"name": REGISTERED})["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    assert aliases == {"candidate": "2"}  # neither run was promoted; the last one is the candidate

    runs = {r["info"]["run_id"]: r for r in parent_runs(server)}
    families = {}
    for version in ("1", "2"):
        mv = api(server, "GET", "model-versions/get", params={"name": REGISTERED, "version": version})
        mv = mv["model_version"]
        assert mv["status"] == "READY"
        assert mv["run_id"] in runs
        tags = {t["key"]: t["value"] for t in runs[mv["run_id"]]["data"]["tags"]}
        families[version] = tags["model_family"]
    assert families == {"1": "tfidf", "2": "bert"}

    by_alias = api(server, "GET", "registered-models/alias", params={"name": REGISTERED, "alias": "candidate"})
    assert by_alias["model_version"]["version"] == "2"
    assert "candidate" in by_alias["model_version"].get("aliases", [])


def test_predict_from_server_candidate(server: str, trained: dict) -> None:
    work, env = trained["work"], trained["env"]
    out = work / "predictions.csv"
    proc = _cli(["predict", "--model", f"models:/{REGISTERED}@candidate", str(SEED), "--out", str(out),
                 "--quiet"], env, work)
    assert f"models:/{REGISTERED}@candidate" in proc.stderr
    rows = pd.read_csv(out, dtype={"id": str})

    from classify.notices.reading import read_notice
    from classify.notices.segmenting import segment_notice

    measures = segment_notice(read_notice(SEED))
    assert len(rows) == len(measures) > 10
    assert rows["id"].tolist() == [m.id for m in measures]
    assert set(rows["label"]) <= set(LABELS)
    probs = rows[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    assert abs(probs.sum(axis=1) - 1).max() < 1e-6
    assert abs(rows["confidence"].to_numpy() - probs.max(axis=1)).max() < 1e-9
