"""The Spark engine off local mode, and stopping it (issues "the cluster path is documented but never run" and
"Ctrl-C during a Spark run prints pages of py4j tracebacks").

* The README's spark-submit command, as written, against a standalone Spark cluster on 127.0.0.1 (a master and
  two one-core workers started with the pyspark wheel's own launch classes), the model in a registry served over
  HTTP (an ``mlflow server`` that it was trained against, artifacts proxied through the server): the local
  engine's rows. The workers are set up like other machines: their PATH has no Python with classify (the command
  must name one), and where the kernel allows it (a private mount namespace) the driver's own folder is hidden
  from them, so that nothing works by reading the driver's disk.
* One driver session on the same cluster: a .csv lands on the driver's disk; a .parquet path or inputs that only
  the driver sees are one-line errors.
* Ctrl-C (SIGINT to the foreground process group, as a terminal sends it) while Spark starts and while the job
  runs: stderr holds "interrupted: nothing was written" only, exit 130, nothing written, no JVM or
  Python worker left behind.
* check_java: one line when JAVA_HOME points nowhere, when no java is on PATH, and for a Java too old (fast).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from helpers import REPO, subset_rows

SEEDS = REPO / "seeds"
SAMPLES = REPO / "data" / "samples"
MODEL = "models:/measure-classifier@champion"
# the training subset: three seed bureaus (all five categories each) and two synthetic notices of two more issuer
# kinds, so that both cross-validation schemes run and --promote has its metric
NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2", "synthetic_education_01",
           "synthetic_health_01")
START_TIMEOUT = 180  # a server or a Spark daemon; a cold start on a busy 2-core machine takes 15-60 s
RUN_TIMEOUT = 420  # one spark-submit or classify run


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and (Path(java_home) / "bin" / "java").is_file()) and shutil.which("java") is None:
        return "no Java for Spark (JAVA_HOME/bin/java or java on PATH; 17 or later)"
    return None


needs_spark = pytest.mark.skipif(_spark_missing() is not None, reason=_spark_missing() or "")


# --- processes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else "(no log)"


def _family(pid: int) -> list:
    """The process and all its descendants (psutil), those that can still be seen."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _stop(procs: list) -> list[int]:
    """SIGTERM, then SIGKILL after 20 s, to every process given; the pids still alive after that."""
    import psutil

    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)
        _, procs = psutil.wait_procs(procs, timeout=grace)
        if not procs:
            return []
    return [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


class Daemons:
    """Background processes (each in a session of its own, output in a log file), all stopped by :meth:`close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}
        self.seen: dict[str, list] = {}  # every descendant seen, so that a re-parented one is stopped too

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> Path:
        log = self.root / f"{name}.log"
        with log.open("wb") as fh:
            self.procs[name] = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
        return log

    def wait(self, name: str, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            proc = self.procs[name]
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{_tail(self.root / f'{name}.log')}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name}: not {what} after {START_TIMEOUT} s:\n{_tail(self.root / f'{name}.log')}")
            time.sleep(0.5)
        self.note()

    def note(self) -> None:
        for name, proc in self.procs.items():
            known = {p.pid for p in self.seen.setdefault(name, [])}
            self.seen[name].extend(p for p in _family(proc.pid) if p.pid not in known)

    def close(self) -> None:
        self.note()
        left = []
        for name in reversed(list(self.procs)):  # workers before the master, the master before the server
            left += _stop(self.seen.get(name) or _family(self.procs[name].pid))
            self.procs[name].wait(timeout=10)
        assert not left, f"processes left behind: {left}"


def _log_has(path: Path, *texts: str) -> Callable[[], bool]:
    return lambda: path.exists() and all(t in path.read_text(errors="replace") for t in texts)


def _client_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow's, pyspark's or Spark's variables (what a command needs is given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYSPARK_", "SPARK_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # an activated venv
    env.update(extra)
    return env


def _classify(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "classify.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, check=False)


# --- the registry: an MLflow server with a model trained against it ------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """``mlflow server`` on a free loopback port (SQLite, artifacts proxied: clients read them over HTTP), and a
    TF-IDF model trained against it and promoted: ``models:/measure-classifier@champion``."""
    import requests

    root = tmp_path_factory.mktemp("registry")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    daemons = Daemons(root)
    try:
        server_log = daemons.start("mlflow-server", [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", (root / "artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"], _client_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))

        def healthy() -> bool:
            try:
                return requests.get(f"{url}/health", timeout=2).ok
            except requests.RequestException:
                return False

        daemons.wait("mlflow-server", healthy, "healthy")
        work = root / "work"
        work.mkdir()
        data = work / "subset.jsonl"
        data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset_rows(NOTICES)),
                        encoding="utf-8")
        env = _client_env(MLFLOW_TRACKING_URI=url)
        trained = _classify(["train", "--config", str(REPO / "configs" / "tfidf_logreg.yaml"), "--set",
                             f"data.path={data}", "--promote", "--quiet"], env, work)
        assert trained.returncode == 0, trained.stderr[-3000:]
        assert "promoted" in trained.stdout, trained.stdout
        assert not (work / "mlruns").exists() and not (work / "mlartifacts").exists()  # all of it on the server
        yield {"url": url, "log": server_log, "env": env, "root": root}
    finally:
        daemons.close()


@pytest.fixture(scope="module")
def local_rows(registry: dict, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """``classify predict`` (the local engine) on the seeds and samples with the registry's champion."""
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    proc = _classify(["predict", str(SEEDS), str(SAMPLES), "--out", str(out), "--quiet"], registry["env"], out.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_json(out, lines=True, dtype=False)
    assert len(rows) > 300 and rows["id"].is_unique
    return rows


def _same_rows(local: pd.DataFrame, other: pd.DataFrame) -> None:
    """Every row of the local engine, by id: notice, text, label, confidence and probabilities (1e-6), review."""
    a = local.set_index("id").sort_index()
    b = other.set_index("id").sort_index()
    assert a.index.tolist() == b.index.tolist()  # the same measures, the same ids
    for col in ("notice", "text", "label"):
        assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    probs = [c for c in a.columns if c == "confidence" or c.startswith("prob_")]
    assert len(probs) > 2
    for col in probs:
        assert (a[col] - pd.to_numeric(b[col])).abs().max() < 1e-6, col
    assert [bool(v) for v in a["needs_review"]] == [str(v).lower() == "true" for v in b["needs_review"]]
    for col in ("review_reason", "secondary_label"):  # missing in some rows: missing, not the text "nan"
        assert a[col].fillna("").tolist() == b[col].fillna("").tolist(), col


# --- the cluster --------------------------------------------------------------------------------


def _hiding_prefix(probe: Path) -> list[str] | None:
    """A command prefix that runs a program in a private mount namespace with the folder given as its first
    argument covered by an empty tmpfs (the program does not see what is in it); None where this is not allowed."""
    script = 'mount -t tmpfs -o size=1m classify-hidden "$1" && shift && exec "$@"'
    if shutil.which("unshare") is None:
        return None
    probe.mkdir(exist_ok=True)
    (probe / "seen").write_text("driver only\n")
    for namespaces in (["--mount"], ["--user", "--map-root-user", "--mount"]):
        prefix = ["unshare", *namespaces, "--propagation", "private", "sh", "-c", script, "sh"]
        check = subprocess.run([*prefix, str(probe), "ls", "-A", str(probe)], capture_output=True, text=True,
                               timeout=30, check=False)
        if check.returncode == 0 and check.stdout.strip() == "":
            return prefix
    return None


@pytest.fixture(scope="module")
def spark_daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A standalone Spark master and two workers (1 core, 1 GiB each) on 127.0.0.1, started with the pyspark
    wheel's bin/spark-class and not waited for (see ``cluster``): they come up while the registry does. Their PATH
    has no Python with classify, their temporary folder is ``worker-tmp``, and ``driver`` (where the driver keeps
    its files) is hidden from them when the kernel allows (``hidden``)."""
    import pyspark

    root = tmp_path_factory.mktemp("cluster")
    spark_home = Path(pyspark.__file__).parent
    spark_class = spark_home / "bin" / "spark-class"
    driver, shared, worker_tmp = root / "driver", root / "shared", root / "worker-tmp"
    for d in (driver, shared, worker_tmp):
        d.mkdir()
    hide = _hiding_prefix(root / "probe")
    java = shutil.which("java")
    path = [os.path.dirname(java)] if java else []
    path += [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if d not in path]
    env = {"HOME": os.environ.get("HOME", str(root)), "PATH": os.pathsep.join(path), "LANG": "C.UTF-8",
           "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "TMPDIR": str(worker_tmp),
           "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"}  # no REST server on the fixed port 6066
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    port = _free_port()
    master = f"spark://127.0.0.1:{port}"
    daemons = Daemons(root)
    try:
        logs = [daemons.start("master", [str(spark_class), "org.apache.spark.deploy.master.Master", "--host",
                                         "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())], env)]
        for i in (1, 2):  # a worker that finds no master yet tries again (after 5-15 s)
            (root / f"work{i}").mkdir()
            cmd = [str(spark_class), "org.apache.spark.deploy.worker.Worker", master, "--cores", "1", "--memory",
                   "1g", "--webui-port", str(_free_port()), "--work-dir", str(root / f"work{i}")]
            logs.append(daemons.start(f"worker{i}", [*hide, str(driver), *cmd] if hide else cmd, env))
        yield {"master": master, "driver": driver, "shared": shared, "worker_tmp": worker_tmp,
               "hidden": hide is not None, "root": root, "daemons": daemons, "logs": logs}
    finally:
        daemons.close()


@pytest.fixture(scope="module")
def cluster(spark_daemons: dict) -> dict:
    """``spark_daemons`` once the master leads and both workers have registered with it."""
    daemons, (master_log, *worker_logs) = spark_daemons["daemons"], spark_daemons["logs"]
    daemons.wait("master", _log_has(master_log, "I have been elected leader"), "elected leader")
    for i, worker_log in enumerate(worker_logs, 1):
        daemons.wait(f"worker{i}", _log_has(worker_log, "Successfully registered with master"), "registered")
    return spark_daemons


def _readme_command(**values: str) -> str:
    """The README's spark-submit command (section "On a cluster: spark-submit") with its example values replaced."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### On a cluster: spark-submit", 1)[1]
    command = section.split("```bash\n", 1)[1].split("```", 1)[0]
    for example, value in {"/opt/classify/bin/python": values["python"],
                           "spark://spark-master:7077": values["master"],
                           "http://mlflow.internal:5000": values["tracking"],
                           "hdfs:///classify/predictions/2025.parquet": values["out"],
                           "hdfs:///classify/notices/2025/": values["inputs"]}.items():
        assert command.count(example) == 1, (example, command)
        command = command.replace(example, value)
    return command


@needs_spark
@pytest.mark.slow
def test_readme_spark_submit_on_a_standalone_cluster_gives_the_local_rows(spark_daemons: dict, registry: dict,
                                                                           local_rows: pd.DataFrame,
                                                                           cluster: dict) -> None:
    out = cluster["shared"] / "predictions.parquet"
    driver_tmp = cluster["driver"] / "tmp"
    driver_tmp.mkdir()
    command = _readme_command(python=shlex.quote(sys.executable), master=cluster["master"], tracking=registry["url"],
                              out=shlex.quote(str(out)), inputs=f"{shlex.quote(str(SEEDS))} {shlex.quote(str(SAMPLES))}")
    served_before = registry["log"].stat().st_size
    # the driver's temporary files in its own folder (hidden from the workers); no MLflow, pyspark or Spark
    # variables: the command says what it needs
    env = _client_env(SPARK_LOCAL_IP="127.0.0.1", TMPDIR=str(driver_tmp))
    proc = subprocess.run(["bash", "-c", command], env=env, cwd=cluster["driver"], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-6000:]}"
    assert f"wrote {len(local_rows)} rows to {out}" in proc.stdout, proc.stdout
    _same_rows(local_rows, pd.read_parquet(out))

    # the driver read the model from the registry over HTTP (artifacts proxied by the server)...
    with registry["log"].open("rb") as fh:
        fh.seek(served_before)
        served = fh.read().decode(errors="replace")
    assert "GET /api/2.0/mlflow-artifacts/artifacts/" in served, served[-3000:]
    # ...and left nothing in its temporary folder (spark_udf's zip of the model for the executors included)
    assert sorted(p.name for p in driver_tmp.iterdir()) == []
    assert [p.name for p in out.parent.iterdir()] == ["predictions.parquet"]  # no temporary folder beside it


@needs_spark
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")  # see spark.py
def test_one_driver_on_the_cluster_writes_csv_here_and_names_what_the_executors_cannot_see(
        spark_daemons: dict, registry: dict, local_rows: pd.DataFrame, cluster: dict,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow.tracking._model_registry.utils as registry_uri
    import mlflow.tracking._tracking_service.utils as tracking_uri

    from classify.errors import ClassifyError, OutputError
    from classify.predict import spark as spark_engine
    from classify.predict.spark import predict_spark, spark_session

    for key in [k for k in os.environ if k.startswith(("MLFLOW_", "PYSPARK_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the executors' Python; read when the context starts
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    # what connect() sets for this process (the URIs, HTTP settings) is put back after the test
    monkeypatch.setattr(tracking_uri, "_tracking_uri", getattr(tracking_uri, "_tracking_uri", None), raising=False)
    monkeypatch.setattr(registry_uri, "_registry_uri", getattr(registry_uri, "_registry_uri", None), raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    driver = cluster["driver"] / "session"
    driver.mkdir()
    with spark_session(cluster["master"]):
        csv = driver / "predictions.csv"
        result = predict_spark(MODEL, [SEEDS, SAMPLES], csv, tracking_uri=registry["url"])
        assert result.errors == [] and result.rows == len(local_rows) and result.out == str(csv)
        rows = pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
        _same_rows(local_rows, rows)
        # one notice's rows in document order, as the local engine writes them; notices in file order
        for notice, group in rows.groupby("notice", sort=False):
            assert group["id"].tolist() == local_rows[local_rows["notice"].astype(str) == notice]["id"].tolist()
        assert rows["file"].tolist() == sorted(rows["file"])
        if not cluster["hidden"]:
            return  # the rest needs folders that the workers cannot see
        with pytest.raises(OutputError) as excinfo:  # the executors write part files on their own disks
            predict_spark(MODEL, [SEEDS], driver / "predictions.parquet", tracking_uri=registry["url"])
        assert "\n" not in str(excinfo.value) and "cannot see" in str(excinfo.value)
        notices = driver / "notices"
        notices.mkdir()
        shutil.copy(SEEDS / "001_069fa13e86ff3dc9.txt", notices / "a.txt")
        with pytest.raises(ClassifyError) as excinfo:  # the driver lists them, the executors cannot open them
            predict_spark(MODEL, [notices], driver / "unseen.csv", tracking_uri=registry["url"])
        assert "\n" not in str(excinfo.value) and "executors cannot read" in str(excinfo.value), excinfo.value
        spark_engine._JVM_LOG["keep"] = False  # the error names Spark's log and keeps it; a test leaves none
    assert sorted(p.name for p in driver.iterdir()) == ["notices", "predictions.csv"]  # nothing else left here


# --- Ctrl-C -------------------------------------------------------------------------------------


def _copies(folder: Path, n: int = 200) -> Path:
    """``n`` copies of the seed notices under distinct names."""
    folder.mkdir()
    seeds = sorted(SEEDS.glob("*.txt"))
    for i in range(n):
        shutil.copy(seeds[i % len(seeds)], folder / f"copy_{i:03d}_{seeds[i % len(seeds)].name}")
    return folder


def _descendants_matching(pid: int, text: str) -> bool:
    import psutil

    for p in _family(pid)[1:]:
        with contextlib.suppress(psutil.Error):
            if text in " ".join(p.cmdline()):
                return True
    return False


@needs_spark
@pytest.mark.slow
@pytest.mark.parametrize("moment", ["spark-starting", "job-running"])
def test_ctrl_c_during_a_spark_run_prints_one_line(moment: str, registry: dict, tmp_path: Path) -> None:
    import psutil

    notices = _copies(tmp_path / "notices")
    out = tmp_path / "out" / "predictions.parquet"
    out.parent.mkdir()
    env = _client_env(MLFLOW_TRACKING_URI=registry["url"])
    proc = subprocess.Popen([sys.executable, "-m", "classify.cli", "predict", str(notices), "--engine", "spark",
                             "--spark-master", "local[2]", "--out", str(out)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    family: dict[int, psutil.Process] = {}  # every descendant seen: none may outlive the run
    left: list[str] = []
    try:
        # spark-starting: the JVM is being launched; job-running: Python workers are segmenting or scoring
        wanted = "java" if moment == "spark-starting" else "pyspark.daemon"
        deadline = time.monotonic() + RUN_TIMEOUT
        while not _descendants_matching(proc.pid, wanted):
            assert proc.poll() is None, f"classify exited {proc.returncode} first:\n{proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, f"no {wanted} process after {RUN_TIMEOUT} s"
            family.update((p.pid, p) for p in _family(proc.pid))
            time.sleep(0.2)
        time.sleep(1 if moment == "spark-starting" else 3)
        family.update((p.pid, p) for p in _family(proc.pid))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does: the foreground process group
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _, alive = psutil.wait_procs([p for p in family.values() if p.pid != proc.pid], timeout=60)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                if p.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(p.cmdline())[:300])
                    p.kill()
    assert proc.returncode == 130, f"exit {proc.returncode}\n{stdout[-2000:]}\n{stderr[-4000:]}"
    assert stderr.splitlines() == ["interrupted: nothing was written"], stderr
    assert stdout == ""
    assert list(out.parent.iterdir()) == []  # no output, no temporary folder beside it
    assert left == []  # the JVM and its Python workers exit with the command


# --- check_java (fast) --------------------------------------------------------------------------


def _fake_java(folder: Path, version_line: str) -> Path:
    """A ``java`` that reports ``version_line`` as ``java -version`` does (on stderr)."""
    folder.mkdir(parents=True)
    java = folder / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="utf-8")
    java.chmod(0o755)
    return java


def test_check_java_says_what_is_missing_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from classify.errors import ClassifyError
    from classify.predict.spark import check_java

    def one_line(*fragments: str) -> None:
        with pytest.raises(ClassifyError) as excinfo:
            check_java()
        message = str(excinfo.value)
        assert "\n" not in message and "Java 17 or later" in message, message
        for fragment in fragments:
            assert fragment in message, (fragment, message)

    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(empty))
    one_line(f"JAVA_HOME={tmp_path / 'nowhere'}", "no bin/java")
    monkeypatch.delenv("JAVA_HOME")
    one_line("no java on PATH", "JAVA_HOME is not set")
    monkeypatch.setenv("JAVA_HOME", "")  # set but empty: as if unset
    one_line("no java on PATH")
    old = _fake_java(tmp_path / "old" / "bin", 'openjdk version "11.0.2" 2019-01-15')
    monkeypatch.setenv("PATH", str(old.parent))
    one_line("found Java 11", str(old))
    eight = _fake_java(tmp_path / "eight" / "bin", 'java version "1.8.0_292"')
    monkeypatch.setenv("JAVA_HOME", str(eight.parent.parent))
    one_line("found Java 8", "JAVA_HOME=")
    silent = _fake_java(tmp_path / "silent" / "bin", "no version here")
    monkeypatch.setenv("JAVA_HOME", str(silent.parent.parent))
    one_line("reports no version")
    good = _fake_java(tmp_path / "good" / "bin", 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("JAVA_HOME", str(good.parent.parent))
    assert check_java() == "17"
