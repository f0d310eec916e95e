"""The Spark engine of ``classify predict``: many notices read, segmented and scored on executors.

The work per notice is the local engine's (:mod:`classify.notices.reading` then :mod:`classify.notices.segmenting`,
the notice id being the file stem) and the model is the same registered pyfunc model, applied
through ``mlflow.pyfunc.spark_udf``; only the place where it runs differs. Rows have the local
engine's columns (:class:`classify.schema.PredictionSchema`). A file that cannot be read or holds no
measure is reported back (path and a one-line reason), not fatal.

pyspark is an optional extra (``pip install -e ".[spark]"``), imported only inside functions.
Submitted to a cluster, this file is the entry point (see ``python classify/predict/spark.py --help``).

A JVM that this process starts runs in a session of its own with its output in a log file (named in the
error when a job fails), and a Ctrl-C or SIGTERM cancels the job and stops the run with a KeyboardInterrupt
(:class:`_SparkInterrupts`): what reaches stderr is classify's own lines.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from classify.errors import ClassifyError, NoticeError, OutputError
from classify.notices.reading import SUPPORTED_SUFFIXES
from classify.predict.result import BatchResult
from classify.schema import PredictionSchema

SPARK_SUFFIXES = (".parquet", ".csv")
# pathGlobFilter is case-sensitive (the local engine is not): both cases of each suffix
_GLOB_SUFFIXES = (*SUPPORTED_SUFFIXES, *(s.upper() for s in SUPPORTED_SUFFIXES))
NOTICE_GLOB = "*.{" + ",".join(s[1:] for s in _GLOB_SUFFIXES) + "}"
ARROW_BATCH = 512  # rows per Arrow batch: files for the segmenter, measures per model call (as BATCH_MEASURES)
_PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# pyspark 4 warns on every import in every worker that pandas 3 is not fully supported; the columns used here
# (strings, doubles, booleans, binary) convert correctly, which tests/test_spark.py checks against the local engine.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"
_POS, _ERROR = "_pos", "_error"  # internal columns: position in the notice (row order), why a file failed


def _segmented_ddl() -> str:
    from classify.schema import MEASURE_COLUMNS

    return ", ".join([*(f"{c.name} string" for c in MEASURE_COLUMNS), f"{_POS} int", f"{_ERROR} string"])


def _local_path(spark_path: str) -> str:
    """``file:/a/b.txt`` (how Spark names local files) -> ``/a/b.txt``; other URIs as they are."""
    if spark_path.startswith("file://"):
        return spark_path.removeprefix("file://")
    return spark_path.removeprefix("file:")


def _segment_file(path: str, data: bytes, issuer: str | None = None,
                  issuer_by_file: dict[str, str] | None = None) -> list[dict]:
    """Rows for one notice: its measures, or one row whose ``_error`` says why there is none."""
    from classify.notices.files import NO_MEASURE, SegmentedNotice, with_issuer
    from classify.notices.reading import read_notice_bytes
    from classify.notices.segmenting import segment_notice
    from classify.predict.local import measure_rows
    from classify.schema import MEASURE_COLUMNS

    local = _local_path(path)
    name = local.rsplit("/", 1)[-1]
    stem, _, suffix = name.rpartition(".")
    try:
        if not data.strip():
            raise NoticeError(local, "empty file")
        notice = read_notice_bytes(data, stem or name, path=local, html=suffix.lower() in ("html", "htm"))
        measures = segment_notice(notice)
        if not measures:
            raise NoticeError(local, NO_MEASURE)
    except NoticeError as exc:
        return [{"file": local, _ERROR: exc.problem}]
    except Exception as exc:  # noqa: BLE001 - one odd file must not fail a job of thousands; it is reported
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return [{"file": local, _ERROR: f"unexpected {type(exc).__name__}: {first}"}]
    measures = with_issuer(measures, issuer, (issuer_by_file or {}).get(name))
    # the local engine's row mapping; "file" keeps Spark's name (a URI must not go through Path)
    rows = measure_rows(SegmentedNotice(Path(local), notice, measures))
    return [{**{c.name: r[c.name] for c in MEASURE_COLUMNS}, "file": local, _POS: r["_record"].position, _ERROR: None}
            for r in rows]


def _segment_batches(issuer: str | None, issuer_by_file: dict[str, str] | None):
    """The mapInPandas body (runs on the executors): batches of (path, content) -> measure rows."""

    def body(batches: Iterator[Any]) -> Iterator[Any]:
        yield from _segmented_frames(batches, issuer, issuer_by_file)

    return body


def _segmented_frames(batches: Iterator[Any], issuer: str | None, issuer_by_file: dict[str, str] | None) -> Iterator[Any]:
    import pandas as pd

    from classify.schema import MEASURE_COLUMNS

    columns = [*(c.name for c in MEASURE_COLUMNS), _POS, _ERROR]
    for batch in batches:
        rows = [row for path, data in zip(batch["path"], batch["content"], strict=True)
                for row in _segment_file(path, bytes(data), issuer, issuer_by_file)]
        # object columns: pyspark 4.3 cannot convert pandas 3's Arrow-backed string columns in every case
        # ("Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array", seen on a batch of failed files)
        frame = pd.DataFrame(rows, columns=columns, dtype=object)
        frame[_POS] = frame[_POS].astype("Int32")
        yield frame


@contextlib.contextmanager
def spark_session(master: str | None = "local[*]") -> Iterator[Any]:
    """The active session (spark-submit, a notebook, a test) as it is; else a new one, stopped after.

    ``master`` None leaves it to spark-submit.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    options = {"spark.app.name": "classify-predict",
               "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH),
               "spark.ui.showConsoleProgress": "false",
               "spark.executorEnv.PYTHONWARNINGS": f"ignore:{_PANDAS_WARNING}:FutureWarning"}
    if master is not None:
        options["spark.master"] = master
    if (master or "").startswith("local"):
        # Executors here are this machine's Python: make it this interpreter (the one with classify),
        # not whatever `python3` is first on PATH; and bind to loopback (nothing is served to other hosts).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        options["spark.ui.enabled"] = "false"
    _launch_jvm(options)  # unless one runs already (spark-submit started it, or an earlier session here)
    builder = SparkSession.builder
    for key, value in options.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


# The output of the JVM this process started (its start-up notes, Spark's log, the Python workers' stderr):
# {"path": ..., "keep": bool}. Removed at exit unless a failure pointed to it.
_JVM_LOG: dict[str, Any] = {}


def _launch_jvm(options: dict[str, str]) -> None:
    """Start the driver's JVM the way pyspark does, but in a session of its own and with its output in a log file.

    In its own session, a Ctrl-C at the terminal reaches this process only: the JVM and the Python workers it
    forks (local mode) are stopped by Spark when the job is cancelled, instead of each dying of the signal with
    a traceback. Its output (start-up notes, log4j lines, worker tracebacks) goes to a file, not to our stderr.
    The JVM still exits with this process (pyspark's gateway ends when its stdin closes).
    """
    import atexit

    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None or "PYSPARK_GATEWAY_PORT" in os.environ:
        return  # spark-submit's JVM, or one an earlier session here started: used as it is
    check_java()  # say what is missing before pyspark fails obscurely
    fd, path = tempfile.mkstemp(prefix="classify-spark-", suffix=".log")
    _JVM_LOG.update(path=path, keep=False)
    atexit.register(_remove_jvm_log)
    conf = SparkConf().setAll(list(options.items()))  # as pyspark passes them: --conf to spark-submit
    with os.fdopen(fd, "wb") as log:  # the JVM holds its own descriptor
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log, "start_new_session": True})
        except Exception as exc:  # noqa: BLE001 - JAVA_GATEWAY_EXITED and the like: the reason is in the log
            _JVM_LOG["keep"] = True
            raise ClassifyError(f"Spark's JVM did not start ({type(exc).__name__}): {_log_tail(path)}; "
                                f"Spark's log: {path}") from exc
    SparkContext._ensure_initialized(gateway=gateway)


def _log_tail(path: str) -> str:
    """The last non-blank line of a log, for a one-line error."""
    try:
        lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(nothing logged)"


def _remove_jvm_log() -> None:
    if _JVM_LOG.get("path") and not _JVM_LOG.get("keep"):
        Path(_JVM_LOG["path"]).unlink(missing_ok=True)


def _is_uri(path: str) -> bool:
    return "://" in path or path.startswith("file:")


def _resolve_inputs(inputs: list[str | Path]) -> tuple[list[str], list[str], list[str]]:
    """(paths for Spark, empty local notice files, missing local paths); local paths made absolute, URIs as given.

    Spark's file sources skip empty files without a word; the local ones are found here so that they
    are reported as the local engine reports them (on a cluster file system they stay unmentioned).
    """
    paths, empty, missing = [], [], []
    for item in map(str, inputs):
        if _is_uri(item):
            paths.append(item)
        elif Path(item).exists():
            path = Path(item).resolve()
            paths.append(str(path))
            empty.extend(str(f) for f in _empty_notices(path))
        else:
            missing.append(item)
    return paths, empty, missing


def _empty_notices(path: Path) -> list[Path]:
    """Zero-byte files at or under ``path`` that Spark would read (NOTICE_GLOB; no part starting with _ or .)."""
    candidates = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sorted(p for p in candidates if p.suffix in _GLOB_SUFFIXES and p.stat().st_size == 0
                  and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts))


def check_spark_output(out: str | Path, inputs: list[str | Path] = ()) -> str:
    """``out`` must end in .parquet (a folder of part files) or .csv (one file, local); checked before work."""
    from classify.fileio import check_output_path

    out = str(out)
    suffix = Path(out).suffix.lower()
    if suffix not in SPARK_SUFFIXES:  # for a local path too: the message says why .jsonl will not do
        raise OutputError(f"{out}: the spark engine writes .parquet (a folder) or .csv; give one of these")
    if _is_uri(out):
        if suffix == ".csv":
            raise OutputError(f"{out}: a single CSV file is written on this machine; use .parquet for cluster storage")
        return out
    check_output_path(out, [i for i in inputs if not _is_uri(str(i))], suffixes=SPARK_SUFFIXES,
                      folder_ok=suffix == ".parquet")
    return str(Path(out).resolve())


def check_java(java_home: str | None = None, path: str | None = None) -> str:
    """The Java that Spark will start (``$JAVA_HOME/bin/java``, else ``java`` on PATH), checked to be 17 or later;
    returns its version. One ClassifyError line otherwise, saying what was found."""
    import subprocess

    java_home = os.environ.get("JAVA_HOME") if java_home is None else java_home
    if java_home:
        java = str(Path(java_home) / "bin" / "java")
        where = f"JAVA_HOME={java_home}"
        if not Path(java).is_file():
            raise ClassifyError(f"the spark engine needs Java 17 or later; {where} has no bin/java")
    else:
        java = shutil.which("java", path=path)
        where = "PATH"
        if java is None:
            raise ClassifyError("the spark engine needs Java 17 or later; no java on PATH and JAVA_HOME is not set")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClassifyError(f"the spark engine needs Java 17 or later; {java} ({where}) does not run "
                            f"({type(exc).__name__})") from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if m is None:
        raise ClassifyError(f"the spark engine needs Java 17 or later; {java} ({where}) reports no version")
    major = int(m.group(2)) if m.group(1) == "1" else int(m.group(1))  # "1.8" is Java 8
    if major < 17:
        raise ClassifyError(f"the spark engine needs Java 17 or later; found Java {major} at {java} ({where})")
    return str(major)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """spark_udf warns that env_manager='local' does not rebuild the training environment (here that is the
    point: executors run this environment) and draws download progress bars; a batch job's output keeps neither."""
    logger = logging.getLogger("mlflow")
    level, bar = logger.level, os.environ.get(_PROGRESS_BAR)
    logger.setLevel(logging.ERROR)
    os.environ[_PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        logger.setLevel(level)
        if bar is None:
            os.environ.pop(_PROGRESS_BAR, None)
        else:
            os.environ[_PROGRESS_BAR] = bar


_JVM_CALLS = (f"{os.sep}py4j{os.sep}", f"{os.sep}pyspark{os.sep}java_gateway.py")


def _in_py4j(frame: Any) -> bool:
    """Whether the interrupted code is inside a call into the JVM (py4j reading the answer from its socket) or
    pyspark's start of it. Interrupted while it waits for the JVM to start, pyspark removes the folder where the
    JVM is to leave its address; the JVM then never gets to watching its stdin, and outlives this process."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _JVM_CALLS):
            return True
        frame = frame.f_back
    return False


class _SparkInterrupts:
    """Ctrl-C and SIGTERM while this process drives Spark: a clean stop, no page of tracebacks.

    Raising KeyboardInterrupt inside a py4j call makes py4j log it with a traceback, and pyspark's own SIGINT
    handler (installed by every SparkContext) calls into the JVM from inside the interrupted call ("reentrant
    call"), logging two more. Here a signal that arrives inside a py4j call is recorded, this run's jobs are
    cancelled from a helper thread (again every second, for a job that started meanwhile; the jobs carry a tag of
    their own, so that another thread's jobs on a shared session are left alone), and the interrupt is
    raised once the call has returned: at a checkpoint, or in place of the error the cancelled job gives. A
    signal that arrives elsewhere is raised at once, as without Spark. The handlers that were there before
    (the CLI's) are put back afterwards, not pyspark's.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.tag = f"classify-predict-{uuid.uuid4().hex}"
        self._sc: Any = None
        self._previous: dict[int, Any] = {}
        self._done = None  # threading.Event once installed
        self._canceller = None

    def __enter__(self) -> _SparkInterrupts:
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread receives signals
        from classify.interrupts import InterruptHold

        self._done = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            # an ignored signal stays ignored, a held one held (hold_interrupts raises it when its block ends);
            # SIGTERM is handled only where someone turned it into an exception
            if handler is signal.SIG_IGN or isinstance(handler, InterruptHold) or (
                    signum == signal.SIGTERM and not callable(handler)):
                continue
            self._previous[signum] = handler
        self._install()
        return self

    def _install(self) -> None:
        for signum in self._previous:
            signal.signal(signum, self._handle)

    def attach(self, spark: Any) -> None:
        """The session is up: the jobs this thread starts carry this guard's tag; SparkContext replaced the SIGINT
        handler with its own, which is replaced again."""
        self._sc = spark.sparkContext
        self._sc.addJobTag(self.tag)
        self._install()

    @property
    def python(self) -> str | None:
        """The Python the executors run (spark.pyspark.python, PYSPARK_PYTHON, else python3)."""
        return getattr(self._sc, "pythonExec", None)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None or signum == signal.SIGTERM:
            self.signum = signum
        if not _in_py4j(frame):
            self.checkpoint()
        if self._canceller is None:
            self._canceller = threading.Thread(target=self._cancel, name="classify-spark-cancel", daemon=True)
            self._canceller.start()

    def _cancel(self) -> None:
        while True:
            if self._sc is not None:
                with contextlib.suppress(Exception):  # a context that is stopping: nothing left to cancel
                    self._sc.cancelJobsWithTag(self.tag)
            if self._done.wait(1.0):
                return

    def checkpoint(self) -> None:
        """Raise a recorded signal now: KeyboardInterrupt, or :class:`~classify.interrupts.Terminated` for SIGTERM."""
        from classify.interrupts import Terminated

        if self.signum is None:
            return
        signum = self.signum
        if self._done is not None:
            self._done.set()
        previous = self._previous.get(signum)
        if callable(previous) and not getattr(previous, "__module__", "").startswith("pyspark"):
            previous(signum, None)  # the CLI's handler: records the signal and raises its exception
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def __exit__(self, *exc: object) -> None:
        if self._done is not None:
            self._done.set()
        if self._sc is not None:
            with contextlib.suppress(Exception):  # a stopped context has no tags left to remove
                self._sc.removeJobTag(self.tag)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _spark_failure(exc: BaseException, python: str | None) -> ClassifyError:
    """One line for a failed Spark job (the full text stays on the exception chain, for --debug)."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "No module named 'classify'" in text:
        message = (f"the executors' Python ({python or 'python3'}) cannot import classify: install classify in the "
                   "Python the workers run, or name the one that has it (--conf spark.pyspark.python=PATH, or "
                   "PYSPARK_PYTHON)")
    elif (m := re.search(r'Cannot run program "([^"]+)"', text)) is not None:
        message = (f"the executors cannot run {m.group(1)}: name a Python that every worker has "
                   "(--conf spark.pyspark.python=PATH, or PYSPARK_PYTHON)")
    elif (m := re.search(r"java\.io\.FileNotFoundException: (?:File )?(\S+)", text)) is not None:
        message = (f"the executors cannot read {_local_path(m.group(1))}: give inputs that every worker sees at "
                   "the same place (hdfs://, s3a://, or a mount at the same path everywhere)")
    else:
        # a Python worker's error is the last "SomeError: ..." line of its traceback; a JVM's, the first line that
        # names an exception (py4j's "An error occurred while calling o123.collect" says nothing)
        raised = [line.lstrip(": ") for line in lines if re.match(r"(: )?[\w.$]+(Error|Exception): ", line)]
        python_side = "PythonException" in f"{type(exc).__name__} {text[:1000]}"
        reason = (raised[-1] if python_side else raised[0]) if raised else (lines[0] if lines else type(exc).__name__)
        message = f"the Spark job failed: {reason[:300]}"
    if _JVM_LOG.get("path"):
        _JVM_LOG["keep"] = True
        message += f" (Spark's log: {_JVM_LOG['path']})"
    return ClassifyError(message)


def predict_spark(model_uri: str, inputs: list[str | Path], out: str | Path, *, master: str | None = "local[*]",
                  tracking_uri: str | None = None, review_below: float | None = None, issuer: str | None = None,
                  issuer_by_file: dict[str, str] | None = None) -> BatchResult:
    """Segment and classify every notice under ``inputs`` with Spark, writing one row per measure to ``out``.

    ``master`` is used when no Spark session is active (``None``: take it from spark-submit). With no
    measure at all nothing is written. The result is the local engine's type.
    """
    from classify.tracking.registry import model_scheme

    t0 = time.perf_counter()
    if importlib.util.find_spec("pyspark") is None:
        raise ClassifyError("the spark engine needs pyspark: pip install -e \".[spark]\" (and Java 17 or later)")
    target = check_spark_output(out, inputs)
    paths, empty, missing = _resolve_inputs(inputs)
    if tracking_uri:
        from classify.tracking import connect

        connect(tracking_uri)
    schema = PredictionSchema.of(model_scheme(model_uri))
    result = BatchResult(schema.labels, "spark", model_uri, out=None)
    result.errors = [(p, "file not found") for p in missing] + [(p, "empty file") for p in empty]
    result.files = list(empty)
    if paths:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
            with _SparkInterrupts() as guard:
                try:
                    with spark_session(master) as spark:
                        guard.attach(spark)
                        guard.checkpoint()  # a Ctrl-C while the JVM started
                        _run(spark, paths, target, model_uri, review_below, schema, result, issuer, issuer_by_file,
                             guard)
                except BaseException as exc:
                    guard.checkpoint()  # a recorded Ctrl-C or SIGTERM, rather than the error of the job it cancelled
                    if _is_spark_error(exc):
                        raise _spark_failure(exc, guard.python) from exc
                    raise
    result.errors.sort()
    result.seconds = time.perf_counter() - t0
    return result


def _is_spark_error(exc: BaseException) -> bool:
    """An error raised by pyspark or py4j (a failed job, a refused query), not one of classify's or Python's own."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return isinstance(exc, Py4JError | PySparkException)


@contextlib.contextmanager
def _driver_scratch() -> Iterator[str]:
    """A temporary folder that ``tempfile`` uses inside the block; the caller removes it after the job.

    On a cluster, spark_udf zips the model into the driver's temporary folder for Spark to serve to the executors,
    and never removes the zip (one copy of the model per job). It must live until the job ends, so the folder is
    removed by the caller's ``finally``, not here.
    """
    from mlflow.utils.file_utils import get_or_create_tmp_dir

    get_or_create_tmp_dir()  # MLflow's folder per process (removed at exit) is made, and remembered, outside
    scratch = tempfile.mkdtemp(prefix="classify-spark-")
    previous, tempfile.tempdir = tempfile.tempdir, scratch
    try:
        yield scratch
    finally:
        tempfile.tempdir = previous


def _run(spark: Any, paths: list[str], target: str, model_uri: str, review_below: float | None,
         schema: PredictionSchema, result: BatchResult, issuer: str | None,
         issuer_by_file: dict[str, str] | None, guard: _SparkInterrupts | None = None) -> None:
    """The job: list, segment (kept), report bad files, score, write; fills ``result``. ``guard``: its checkpoints
    raise a Ctrl-C that arrived during a call into the JVM."""
    import mlflow.pyfunc
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from classify.notices.reading import MAX_NOTICE_BYTES

    checkpoint = guard.checkpoint if guard is not None else (lambda: None)

    errors = result.errors
    files = (spark.read.format("binaryFile").option("pathGlobFilter", NOTICE_GLOB)
             .option("recursiveFileLookup", "true").load(paths))
    # A metadata-only query (content is not read) lists the files and finds those too large to be notices...
    listing = files.select("path", "length").collect()
    checkpoint()
    result.files = sorted([*result.files, *(_local_path(r.path) for r in listing)])
    errors.extend((_local_path(r.path), f"file is too large ({r.length / 1e6:.1f} MB > "
                                        f"{MAX_NOTICE_BYTES / 1e6:.1f} MB limit); is it a notice?")
                  for r in listing if r.length > MAX_NOTICE_BYTES)
    # ...and the length filter is pushed into the reader, so their content is never loaded.
    segmented = (files.where(F.col("length") <= MAX_NOTICE_BYTES).select("path", "content")
                 .mapInPandas(_segment_batches(issuer, issuer_by_file), schema=_segmented_ddl())
                 .persist(StorageLevel.MEMORY_AND_DISK))  # segmented once: read by the error query and the scoring
    scratch = None
    try:
        errors.extend((r.file, r[_ERROR]) for r in segmented.where(F.col(_ERROR).isNotNull())
                      .select("file", _ERROR).collect())
        checkpoint()
        measures = segmented.where(F.col(_ERROR).isNull()).drop(_ERROR)
        with _quiet_mlflow(), _driver_scratch() as scratch:
            udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=schema.spark_output_ddl(), env_manager="local",
                                          params={"review_below": float(review_below)}
                                          if review_below is not None else None)
        checkpoint()
        # the model reads a missing heading or issuer as "" (as classify_frame passes them)
        inputs = F.struct("text", *(F.coalesce(c, F.lit("")).alias(c) for c in ("heading", "issuer")))
        scored = measures.withColumn("_pred", udf(inputs)).select(*schema.measure_names, _POS, "_pred.*")
        # spark_udf casts a string output that is missing in some rows with astype(str): the missing ones come back
        # as the text "nan" (pandas 3) or "None" (pandas 2). No label or review reason is either word: nulls again.
        optional = {c.name for c in schema.output if c.dtype == "string" and not c.required}
        scored = scored.select(*(F.when(F.col(c).isin("nan", "None"), F.lit(None)).otherwise(F.col(c)).alias(c)
                                 if c in optional else F.col(c) for c in scored.columns))
        _write(spark, scored, target, result, checkpoint)
    finally:
        segmented.unpersist()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _write(spark: Any, scored: Any, target: str, result: BatchResult, checkpoint=lambda: None) -> None:
    """Write ``scored`` to ``target`` through a temporary folder beside it; counts read back from what was written.

    ``checkpoint`` is called before the output is moved into place (an interrupt then leaves nothing written).
    """
    csv = target.lower().endswith(".csv")
    remote = _is_uri(target)
    local_master = spark.sparkContext.master.startswith("local")
    if csv and not local_master:
        # Spark's CSV writer runs on an executor, which writes to its own machine's disk: the rows come here instead
        _write_csv_here(scored, target, result, checkpoint)
        return
    tmp = target if remote else str(Path(target).with_name(f".{Path(target).name}.{uuid.uuid4().hex}.tmp"))
    try:
        if csv:
            # One part file, rows in notice order. The shuffle keeps scoring parallel (coalesce(1) would
            # pull the model call into a single task). escape='"' makes quotes inside text RFC 4180 ("").
            (scored.repartition(1).sortWithinPartitions("file", _POS).drop(_POS).write.mode("overwrite")
             .option("header", "true").option("escape", '"').csv(tmp))
            written = spark.read.option("header", "true").option("escape", '"').option("multiLine", "true").csv(tmp)
        else:
            scored.drop(_POS).write.mode("overwrite").parquet(tmp)
            if not remote and not local_master and not any(Path(tmp).glob("part-*")):
                # the driver committed the job (_SUCCESS) but the executors' part files are on their own disks
                raise OutputError(f"{target}: the executors wrote their part files where this machine cannot see "
                                  "them; give a location that every worker and this machine share (hdfs://, s3a://, "
                                  "or a mount at the same path everywhere)")
            written = spark.read.parquet(tmp)
        for r in written.groupBy("notice", "label", "needs_review").count().collect():
            flagged = str(r.needs_review).lower() == "true"  # CSV reads it back as text
            result.add([r.notice] * r["count"], [r.label] * r["count"], [flagged] * r["count"])
        result.notices = len(result.counts)
        checkpoint()
        if not remote:
            if result.rows:
                _move_into_place(Path(tmp), Path(target), csv=csv)
            else:
                shutil.rmtree(tmp, ignore_errors=True)  # nothing to write: an existing output stays as it was
    except BaseException:
        if not remote:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = target if result.rows else None


def _write_csv_here(scored: Any, target: str, result: BatchResult, checkpoint) -> None:
    """One CSV file on this machine (the driver) with a cluster master: rows streamed here a partition at a time,
    in file order then document order, written as the local engine writes CSV; nothing written without rows."""
    from classify.fileio import NothingToWrite, record_writers

    columns = [c for c in scored.columns if c != _POS]
    scored = scored.persist()  # scored once: the sort samples its input before it sorts it
    try:
        with record_writers((target, columns)) as (writer,):
            for i, row in enumerate(scored.orderBy("file", _POS).drop(_POS).toLocalIterator()):
                record = row.asDict()
                writer.write(record)
                result.add([record["notice"]], [record["label"]], [bool(record["needs_review"])])
                if i % 10_000 == 0:
                    checkpoint()
            checkpoint()
            if not result.rows:
                raise NothingToWrite  # an existing output stays as it was
    finally:
        scored.unpersist()
    result.notices = len(result.counts)
    result.out = target if result.rows else None


def _move_into_place(tmp: Path, target: Path, *, csv: bool) -> None:
    if csv:
        (part,) = tmp.glob("part-*.csv")
        os.replace(part, target)  # same folder: atomic
        shutil.rmtree(tmp)
        return
    # A folder cannot replace a non-empty folder atomically: the old one is moved aside first.
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``spark-submit classify/predict/spark.py MODEL_URI OUT INPUT...`` (master from spark-submit)."""
    p = argparse.ArgumentParser(prog="classify-spark", description="classify notices with Spark (spark-submit)")
    p.add_argument("model_uri", help="models:/name@alias on a tracking server, or a model folder on shared storage")
    p.add_argument("out", help="predictions .parquet (folder, any Hadoop file system) or .csv (one file, written "
                               "on the driver)")
    p.add_argument("inputs", nargs="+", help="notice files or folders (local, hdfs://, s3a://, ...)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI for a models:/ URI")
    p.add_argument("--review-below", type=float)
    args = p.parse_args(argv)
    from classify.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, print_batch
    from classify.interrupts import Terminated, install_signal_handlers

    install_signal_handlers()  # SIGTERM stops the run as Ctrl-C does (exit status 143)
    try:
        result = predict_spark(args.model_uri, args.inputs, args.out, master=None, tracking_uri=args.tracking_uri,
                               review_below=args.review_below)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: nothing was written", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    except ClassifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return print_batch(result)


if __name__ == "__main__":
    # the installed module's main, so that the functions Spark ships to executors are classify.predict.spark's
    from classify.predict.spark import main as _installed_main

    sys.exit(_installed_main())
