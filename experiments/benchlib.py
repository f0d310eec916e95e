"""What the benchmark scripts share: machine and version facts, timing, the served model as a folder, workers.

Imported by experiments/benchmark.py, bench_extras.py and bench_calibrators.py (they run as scripts, so this
folder is on their path).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "experiments" / "results"


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine_info() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.lower().startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu_model": cpu, "cores_usable": len(os.sched_getaffinity(0)), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("classify", "torch", "transformers", "scikit-learn", "mlflow", "jieba", "rjieba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def fastest(fn, *args, repeat: int = 3, budget_s: float = 10.0):
    """Like :func:`timed`, but the fastest of up to ``repeat`` calls (as timeit does: the slower calls measure
    the machine's other work); a call slower than ``budget_s`` is not repeated (BERT-sized passes)."""
    out, best = timed(fn, *args)
    for _ in range(repeat - 1):
        if best > budget_s:
            break
        out, seconds = timed(fn, *args)
        best = min(best, seconds)
    return out, best


def save_pyfunc(model, directory: Path) -> Path:
    """The trained model as an MLflow pyfunc folder (what `classify predict --model FOLDER` loads)."""
    import mlflow

    from classify.tracking.pyfunc import MeasureClassifierPyfunc, signature

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model_dir")
        mlflow.pyfunc.save_model(str(directory), python_model=MeasureClassifierPyfunc(),
                                 artifacts={"model_dir": str(Path(tmp) / "model_dir")}, signature=signature(model))
    return directory


def spawn(script: Path, worker_args: list[str]) -> dict:
    """Run ``script`` with ``worker_args`` in a fresh process (its own memory high-water mark); its JSON result."""
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error", MLFLOW_LOGGING_LEVEL="ERROR")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *worker_args, "--result", str(result_file)],
                              cwd=REPO, env=env, check=False)
        wall = time.perf_counter() - t0
        result = json.loads(result_file.read_text()) if result_file.is_file() else \
            {"status": "failed", "reason": f"worker exited with status {proc.returncode}"}
    result["process_wall_seconds"] = wall
    return result


def write_worker_result(path: str, work) -> int:
    """Run ``work()`` and write its dict (or the failure) to ``path``; the exit status says which."""
    import traceback

    try:
        result = work()
    except Exception as exc:  # noqa: BLE001 - reported in the results, not fatal to the benchmark
        traceback.print_exc()
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    Path(path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0 if result["status"] == "ok" else 1


def threads() -> int | None:
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
