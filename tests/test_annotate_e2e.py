"""Label Studio end to end: a real server on 127.0.0.1 (SQLite in a temporary folder, an admin and API token
made non-interactively), a blind sample pushed with two annotators per item, annotators who sign up and
code through Label Studio's API as the labelling page does, a pull, and a headless-Chromium screenshot of
the labelling page.

The server is ``label-studio`` from its own virtual environment (its pins do not fit the project's):
``CLASSIFY_LABEL_STUDIO_BIN`` names the executable (``.ci/run`` makes ``.venv-label-studio``), else
``.venv-label-studio/bin/label-studio`` in the repository, else ``label-studio`` on PATH.

Migrating a fresh SQLite database takes about a minute on two cores, a start from a migrated one seconds:
the first run keeps an empty migrated data folder inside the server's virtual environment
(``classify-empty-data``; ``.ci/run`` makes it right after installing), and every run starts from a copy.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from chromium_cdp import CHROMIUM, Chromium
from test_annotate import sample_rows, write_jsonl

from classify.annotate import LabelStudioError, agreement, labelling_config, pull, push
from classify.labels import load_scheme

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ADMIN = "admin@classify.test"
START_TIMEOUT = 240  # a start that migrates a fresh SQLite database takes a minute or more
TEMPLATE = "classify-empty-data"
# nothing leaves the machine: no version check against PyPI, no error reports, no analytics
QUIET_ENV = {"LATEST_VERSION_CHECK": "false", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false"}


def label_studio_bin() -> str | None:
    for candidate in (os.environ.get("CLASSIFY_LABEL_STUDIO_BIN"), REPO / ".venv-label-studio/bin/label-studio",
                      shutil.which("label-studio")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(home: Path) -> dict[str, str]:
    env = {**os.environ, **QUIET_ENV, "HOME": str(home), "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "false"}
    for key in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD",
                "LABEL_STUDIO_USER_TOKEN", "LABEL_STUDIO_BASE_DATA_DIR", "DJANGO_DB", "DATABASE_NAME"):
        env.pop(key, None)
    return env


def migrated_template(binary: str, scratch: Path) -> Path | None:
    """An empty, migrated data folder kept in the server's virtual environment, made on first use (every
    label-studio command migrates its data folder first; ``version`` then only prints). None when the server
    is not in a writable virtual environment."""
    venv = Path(binary).parent.parent
    if not (venv / "pyvenv.cfg").is_file():
        return None
    template = venv / TEMPLATE
    if (template / "label_studio.sqlite3").is_file():
        return template
    if not os.access(venv, os.W_OK):
        return None
    partial = venv / f"{TEMPLATE}.{os.getpid()}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    done = subprocess.run([binary, "version", "--data-dir", str(partial)], env=server_env(scratch),
                          capture_output=True, timeout=600, check=False, cwd=scratch)
    if done.returncode != 0 or not (partial / "label_studio.sqlite3").is_file():
        shutil.rmtree(partial, ignore_errors=True)
        return None
    try:
        partial.rename(template)
    except OSError:  # made meanwhile by another run
        shutil.rmtree(partial, ignore_errors=True)
    return template


class Server:
    def __init__(self, url: str, token: str, password: str, log: Path) -> None:
        self.url, self.token, self.password, self.log = url, token, password, log

    def session(self, email: str, password: str, *, signup: bool = False):
        """A logged-in browser-like session (cookies), after signing up when ``signup``."""
        import requests

        s = requests.Session()
        page = "/user/signup/" if signup else "/user/login/"
        s.get(self.url + page, timeout=30)
        r = s.post(self.url + page, data={"email": email, "password": password,
                                          "csrfmiddlewaretoken": s.cookies["csrftoken"]},
                   headers={"Referer": self.url + page}, allow_redirects=False, timeout=30)
        assert r.status_code == 302, f"{page} for {email}: HTTP {r.status_code}"
        return s

    def annotator(self, email: str) -> Annotator:
        """A new annotator signs up on the web form and reads their API token, as from Account & Settings."""
        s = self.session(email, "annotator-pass-1", signup=True)
        token = s.get(self.url + "/api/current-user/token", timeout=30).json()["token"]
        return Annotator(self.url, email, token)


class Annotator:
    def __init__(self, url: str, email: str, token: str) -> None:
        import requests

        self.url, self.email = url, email
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def next_task(self, project: int) -> dict | None:
        """The labelling stream's next task for this annotator (None when none is left for them)."""
        r = self.http.get(f"{self.url}/api/projects/{project}/next", timeout=30)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def submit(self, task: dict, label: str, secondary: str | None = None) -> None:
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
        if secondary:
            result.append({"from_name": "secondary_label", "to_name": "text", "type": "choices",
                           "value": {"choices": [secondary]}})
        r = self.http.post(f"{self.url}/api/tasks/{task['id']}/annotations/?project={task['project']}",
                           json={"result": result, "lead_time": 4.2, "task": task["id"]}, timeout=30)
        assert r.status_code == 201, r.text[:300]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = label_studio_bin()
    if binary is None:
        pytest.skip("label-studio is not installed (set CLASSIFY_LABEL_STUDIO_BIN, or python3 -m venv "
                    ".venv-label-studio && .venv-label-studio/bin/pip install label-studio)")
    pytest.importorskip("label_studio_sdk", reason="label-studio-sdk not installed (pip install '.[annotate]')")
    root = tmp_path_factory.mktemp("label-studio")
    port, token, password = free_port(), secrets.token_hex(20), secrets.token_urlsafe(12)
    started = time.monotonic()
    template = migrated_template(binary, root)
    if template is not None:
        shutil.copytree(template, root / "data")
    env = server_env(root)
    log = root / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(root / "data"), "--username", ADMIN, "--password", password,
             "--user-token", token, "--enable-legacy-api-token", "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        while True:
            if proc.poll() is not None:
                pytest.fail(f"label-studio exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(url + "/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"label-studio did not answer in {START_TIMEOUT} s:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(1)
        print(f"label-studio answered after {time.monotonic() - started:.0f} s "
              f"({'from a migrated template' if template else 'migrating a fresh database'})")
        yield Server(url, token, password, log)
    finally:  # always stop it, also after a failure
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def pushed(server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Ten measures pushed blind, two annotators per item."""
    rows = sample_rows(10)
    sample = write_jsonl(tmp_path_factory.mktemp("sample") / "validation_sample.jsonl", rows)
    result = push(sample, url=server.url, api_key=server.token, annotators_per_item=2)
    return {"rows": rows, "sample": sample, "result": result}


def test_push_code_pull_with_two_annotators(server: Server, pushed: dict, tmp_path: Path) -> None:
    from label_studio_sdk import LabelStudio

    rows, result = pushed["rows"], pushed["result"]
    ids = [r["id"] for r in rows]
    assert result.created and result.added == 10 and result.existing == 0 and result.purpose == "validation"
    again = push(pushed["sample"], url=server.url, api_key=server.token, annotators_per_item=2)
    assert again.project == result.project and not again.created
    assert again.added == 0 and again.existing == 10  # re-pushing the same sample adds nothing
    client = LabelStudio(base_url=server.url, api_key=server.token)
    project = client.projects.get(result.project)
    assert project.maximum_annotations == 2 and project.overlap_cohort_percentage == 100
    assert project.label_config.strip() == labelling_config().strip()
    tasks = list(client.tasks.list(project=result.project, fields="all"))
    assert sorted(t.data["id"] for t in tasks) == sorted(ids)
    for t in tasks:  # blind: the model's label and the sampling's numbers are nowhere in a task
        assert set(t.data) == {"id", "issuer", "heading", "text", "notice"} and not t.predictions
    truth = {r["id"]: r["stratum"] for r in rows}
    other = {lab: "personnel" if lab != "personnel" else "finance" for lab in load_scheme().labels}

    # annotator A codes all ten in the labelling stream; B codes four (disagreeing once, with a secondary label)
    a, b, c = (server.annotator(f"{who}@classify.test") for who in ("ann.a", "ann.b", "ann.c"))
    done_a = []
    while (task := a.next_task(result.project)) is not None:
        a.submit(task, truth[task["data"]["id"]])
        done_a.append(task["data"]["id"])
    assert sorted(done_a) == sorted(ids)
    done_b = []
    for k in range(4):
        task = b.next_task(result.project)
        mid = task["data"]["id"]
        b.submit(task, other[truth[mid]] if k == 0 else truth[mid], secondary="ideology" if k == 1 else None)
        done_b.append(mid)
    # maximum two annotations per task: C is never given B's four, only the six with one annotation
    done_c = []
    while (task := c.next_task(result.project)) is not None:
        done_c.append(task["data"]["id"])
        c.submit(task, truth[task["data"]["id"]])
    assert sorted(done_c) == sorted(set(ids) - set(done_b))
    assert a.next_task(result.project) is None and b.next_task(result.project) is None  # all coded twice

    out = tmp_path / "annotations.jsonl"
    pulled = pull(url=server.url, api_key=server.token, project=result.project, out=out)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == pulled and len(pulled) == 20
    by_annotator = {}
    for r in pulled:
        by_annotator.setdefault(r["annotator"], {})[r["id"]] = r
        datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
        assert r["lead_time"] == pytest.approx(4.2)
    assert set(by_annotator) == {"ann.a@classify.test", "ann.b@classify.test", "ann.c@classify.test"}
    assert {m: r["label"] for m, r in by_annotator["ann.a@classify.test"].items()} == truth
    assert sorted(by_annotator["ann.b@classify.test"]) == sorted(done_b)
    assert by_annotator["ann.b@classify.test"][done_b[0]]["label"] == other[truth[done_b[0]]]
    secondary = by_annotator["ann.b@classify.test"][done_b[1]]["secondary_label"]
    assert secondary == ("ideology" if truth[done_b[1]] != "ideology" else None)
    assert sorted(by_annotator["ann.c@classify.test"]) == sorted(done_c)
    agr = agreement(pulled)
    assert agr["items"] == 10 and agr["agreement"] == pytest.approx(9 / 10)
    # pulling by title gives the same rows
    assert pull(url=server.url, api_key=server.token, project=result.title) == pulled


def test_server_errors_are_one_line_and_write_nothing(server: Server, pushed: dict, tmp_path: Path) -> None:
    out = tmp_path / "annotations.jsonl"
    cases = [({"api_key": "0" * 40, "project": pushed["result"].project}, "refused the API key"),
             ({"api_key": server.token, "project": 9999}, "has no project 9999"),
             ({"api_key": server.token, "project": "no such project"}, "has no project titled 'no such project'")]
    for kwargs, message in cases:
        with pytest.raises(LabelStudioError, match=message) as info:
            pull(url=server.url, out=out, **kwargs)
        assert "\n" not in str(info.value)
        assert not out.exists()
    with pytest.raises(LabelStudioError, match="refused the API key"):
        push(pushed["sample"], url=server.url, api_key="0" * 40)


def test_review_sample_pre_annotates_and_keeps_blind_samples_out(server: Server, tmp_path: Path) -> None:
    from label_studio_sdk import LabelStudio

    rows = sample_rows(3, purpose="review")
    review = write_jsonl(tmp_path / "review_sample.jsonl", rows)
    result = push(review, url=server.url, api_key=server.token, project="classify review test")
    assert result.created and result.added == 3 and result.purpose == "review"
    client = LabelStudio(base_url=server.url, api_key=server.token)
    assert client.projects.get(result.project).show_collab_predictions
    tasks = list(client.tasks.list(project=result.project, fields="all"))
    shown = {t.data["id"]: t.predictions[0].result[0]["value"]["choices"] for t in tasks}
    assert shown == {r["id"]: [r["model_label"]] for r in rows}
    blind = write_jsonl(tmp_path / "blind.jsonl", sample_rows(3))
    with pytest.raises(LabelStudioError, match="holds model predictions"):
        push(blind, url=server.url, api_key=server.token, project=result.project)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium to run it)")
def test_labelling_page_shows_the_measure_and_the_categories(server: Server, pushed: dict, tmp_path: Path) -> None:
    """The page an annotator codes on, in headless Chromium logged in with Label Studio's session cookie."""
    from label_studio_sdk import LabelStudio
    from matplotlib.image import imread

    scheme = load_scheme()
    row = next(r for r in pushed["rows"] if r["heading"])
    client = LabelStudio(base_url=server.url, api_key=server.token)
    task = next(t for t in client.tasks.list(project=pushed["result"].project) if t.data["id"] == row["id"])
    login = server.session(ADMIN, server.password)
    png = tmp_path / "labelling.png"
    with Chromium(tmp_path / "profile", width=1280, height=1000) as browser:
        for name, value in login.cookies.items():
            browser.set_cookie(name, value, server.url)
        browser.open(f"{server.url}/projects/{pushed['result'].project}/data?task={task.id}")
        wanted = [row["text"][:30], row["heading"].split(" > ")[-1][:20], row["issuer"]]
        wanted += [c.name_zh for c in scheme.categories]
        browser.wait_for(" && ".join(f"document.body.innerText.includes({json.dumps(w)})" for w in wanted), 90)
        time.sleep(1)  # let the fonts settle
        browser.screenshot(png)
    pixels = imread(png)
    assert pixels.shape[:2] == (1000, 1280)
    assert pixels[..., :3].std() > 0.05, "the screenshot is blank"
    keep = os.environ.get("CLASSIFY_SCREENSHOT_DIR")
    if keep:
        shutil.copy(png, Path(keep) / "label_studio_labelling.png")
