"""Batch prediction benchmark: the local engine on 500 and 5,000 notices, Spark local[2] on the same 500.

Notices are copies of the seed notices under distinct file names (so distinct notice and measure
ids). Each run is a separate ``classify predict`` process, timed from start to exit; peak RSS is
the largest sum of resident memory over the process and all its descendants (for Spark: the
Python driver, the JVM and the Python workers), sampled every 0.1 s with psutil.

    python experiments/bench_batch.py                          # trains a TF-IDF model into a temp store first
    python experiments/bench_batch.py --model models:/measure-classifier@champion   # a model of the store
    python experiments/bench_batch.py --model path/to/model_folder --sizes 500 --spark-sizes

Writes experiments/results/bench_batch.{json,md} and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SEEDS = sorted((REPO / "seeds").glob("*.txt"))
SUBSET_NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2")  # three seed notices, as the tests
CLASSIFY = [sys.executable, "-m", "classify.cli"]


def make_corpus(folder: Path, n: int) -> Path:
    """``n`` notices: the seeds in turn, each copy named ``{i:05d}_{seed}.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        seed = SEEDS[i % len(SEEDS)]
        shutil.copyfile(seed, folder / f"{i:05d}_{seed.name}")
    return folder


def train_temp_model(root: Path, env: dict[str, str]) -> str:
    """A TF-IDF model (logistic regression, the seed subset the tests use) in a temporary SQLite store."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import subset_rows

    data = root / "subset.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset_rows(SUBSET_NOTICES)),
                    encoding="utf-8")
    # one issuer kind only: no leave-one-issuer-kind-out metric to promote on, so the version is @candidate
    subprocess.run([*CLASSIFY, "train", "--config", str(REPO / "configs" / "tfidf_logreg.yaml"),
                    "--set", f"data.path={data}", "--quiet"], env=env, cwd=root, check=True, capture_output=True)
    return "models:/measure-classifier@candidate"


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Wall time and peak RSS (process tree) of one command; it must exit 0."""
    log = cwd / "command.log"
    # output to a file, not a pipe: the per-notice table of 5,000 notices would fill a pipe nobody reads yet
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak = _poll_peak_rss(proc)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{log.read_text()[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 2**20)}


def _poll_peak_rss(proc: subprocess.Popen) -> int:
    """Largest sum of RSS over the process and its descendants, sampled every 0.1 s until it exits."""
    top = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:  # a worker that just exited
                    continue
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    proc.wait()
    return peak


def rows_in(out: Path) -> int:
    import pandas as pd

    if out.suffix == ".parquet":
        return len(pd.read_parquet(out, columns=["id"]))
    return sum(1 for _ in out.open(encoding="utf-8"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model URI or folder (default: train a TF-IDF model into a temporary store)")
    p.add_argument("--sizes", type=int, nargs="*", default=[500, 5000], help="notices for the local engine")
    p.add_argument("--spark-sizes", type=int, nargs="*", default=[500], help="notices for the spark engine")
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--results", default=str(REPO / "experiments" / "results"))
    args = p.parse_args()

    results = Path(args.results)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI")
               or f"sqlite:///{root / 'mlflow.db'}"}
        model = args.model or train_temp_model(root, env)
        if args.model and Path(args.model).exists():
            model = str(Path(args.model).resolve())
        runs = []
        plan = [("local", n) for n in args.sizes] + [("spark", n) for n in args.spark_sizes]
        for engine, n in plan:
            folder = root / f"notices_{n}"
            if not folder.exists():
                make_corpus(folder, n)
            out = root / (f"{engine}_{n}." + ("parquet" if engine == "spark" else "jsonl"))
            cmd = [*CLASSIFY, "predict", str(folder), "--model", model, "--out", str(out), "--quiet"]
            if engine == "spark":
                cmd += ["--engine", "spark", "--spark-master", args.spark_master]
            load = os.getloadavg()[0]
            print(f"{engine} {n} notices ...", file=sys.stderr, flush=True)
            m = measure(cmd, env, root)
            measures = rows_in(out)
            runs.append({"engine": engine if engine == "local" else f"spark {args.spark_master}", "notices": n,
                         "measures": measures, "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                         "notices_per_s": round(n / m["wall_s"], 1), "measures_per_s": round(measures / m["wall_s"]),
                         "load_before": round(load, 2)})
            print(f"  {runs[-1]}", file=sys.stderr, flush=True)

    meta = {"model": args.model or "TF-IDF logreg on the seed subset, temporary store", "cpus": os.cpu_count(),
            "python": platform.python_version(), "machine": platform.platform(),
            "note": "wall time includes process start, imports and model loading; peak RSS is the whole process "
                    "tree; load_before is the 1-minute load average just before the run (the machine is shared)"}
    header = "| engine | notices | measures | wall s | notices/s | measures/s | peak RSS MB | load before |"
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['engine']} | {r['notices']} | {r['measures']} | {r['wall_s']} | {r['notices_per_s']} | "
              f"{r['measures_per_s']} | {r['peak_rss_mb']} | {r['load_before']} |" for r in runs]
    table = "\n".join(lines)
    results.mkdir(parents=True, exist_ok=True)
    (results / "bench_batch.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n",
                                              encoding="utf-8")
    (results / "bench_batch.md").write_text(f"# Batch prediction benchmark\n\n{table}\n\n"
                                            f"{meta['cpus']} CPUs, Python {meta['python']}; model: {meta['model']}. "
                                            f"{meta['note']}.\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
