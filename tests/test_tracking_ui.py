"""The MLflow UI as a user opens it: every training is one row of the runs page, with the numbers that compare
models as columns (the saved view classify installs in the experiment). Headless Chromium, a real `mlflow ui`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromium_cdp import CHROMIUM, Chromium
from helpers import STORE_NOTICES, subset_rows

from classify.cli import main
from classify.tracking.store import RUNS_VIEW_KEY, RUNS_VIEW_METRICS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = ("tfidf_svm", "tfidf_logreg")
RESULTS = REPO / "experiments" / "results"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_ui(store: str, port: int):
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", store, "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        import requests

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            time.sleep(1)
        else:
            raise RuntimeError("mlflow ui did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_four_trainings_are_four_rows_on_the_first_page_with_their_numbers(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "subset.jsonl"
    rows = subset_rows(STORE_NOTICES)  # three issuer kinds: both schemes run
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    names = []
    for i in range(4):  # four trainings of two configs
        config, name = CONFIGS[i % 2], f"{CONFIGS[i % 2]}_{i}"
        assert main(["train", "--config", str(REPO / "configs" / f"{config}.yaml"), "--quiet",
                     "--set", f"data.path={data}", "--set", f"name={name}"]) == 0
        names.append(name)
    with mlflow_ui(store, _free_port()) as url, Chromium(tmp_path / "profile", width=2200, height=900) as page:
        page.open(f"{url}/#/experiments/1/runs?viewStateShareKey={RUNS_VIEW_KEY}")
        page.wait_for(" && ".join(f"document.body.innerText.includes({json.dumps(n)})" for n in names), timeout=120)
        page.wait_for("document.body.innerText.includes('matching runs')")
        text = page.text()
        headers = page.evaluate("Array.from(document.querySelectorAll('[role=columnheader]')).map(e => e.innerText)")
        page.screenshot(tmp_path / "runs.png")
        if os.environ.get("CLASSIFY_UPDATE_SCREENSHOTS"):
            (RESULTS / "mlflow_ui_runs.png").write_bytes((tmp_path / "runs.png").read_bytes())
    assert "4 matching runs" in text  # no fold runs: each training is one row, all on the first page
    assert "Load more" not in text
    for metric in ("lono_macro_f1", "loiko_macro_f1", "ece", *RUNS_VIEW_METRICS):
        assert metric in headers, f"column {metric} is not on the page"
