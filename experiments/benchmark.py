#!/usr/bin/env python
"""Benchmark every shipped config on this machine, in one run, with the same training functions as `classify train`.

For each config (default: ``configs/*.yaml``), in a fresh subprocess so that the memory high-water mark
belongs to that config alone: ``classify.training.run_training`` (leave-one-notice-out and
leave-one-issuer-kind-out, calibration, final fit), then prediction throughput of the shipped model
(batch and one by one), and the time a fresh ``classify predict`` process takes to its first row.
Family extras: TF-IDF — jieba against rjieba (token agreement, speed); encoder — int8 against fp32
(speed, argmax agreement on out-of-fold predictions). Plus reading + segmenting throughput.

Writes ``experiments/results/benchmark.json`` and ``benchmark.md`` (atomically) and prints the table.

    python experiments/benchmark.py [--configs configs/*.yaml] [--skip-bert] [--repeat-seeds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "experiments" / "results"
N_SINGLE = 100


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


# --- workers (their own process) -----------------------------------------------------------------


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def save_pyfunc(model, directory: Path) -> Path:
    """The trained model as an MLflow pyfunc folder (what `classify predict --model FOLDER` loads)."""
    import mlflow

    from classify.tracking import MeasureClassifierPyfunc, _signature

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model_dir")
        example = model.exemplars[["text", "heading"]].head(2)
        mlflow.pyfunc.save_model(str(directory), python_model=MeasureClassifierPyfunc(),
                                 artifacts={"model_dir": str(Path(tmp) / "model_dir")},
                                 signature=_signature(model.predict_frame(example)))
    return directory


def first_row_seconds(model_dir: Path) -> float:
    """Wall time of a fresh `classify predict` on one seed notice (imports, model load, first rows)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "classify.cli", "predict", "--model", str(model_dir), "--quiet",
                        str(REPO / "seeds" / "002_498a692be3e6a6d3.txt"), "--out", str(Path(tmp) / "o.jsonl")],
                       check=True, capture_output=True, cwd=REPO)
        return time.perf_counter() - t0


def tfidf_extras(result) -> dict:
    from classify.models.tfidf import jieba_tokenize, rjieba_tokenize

    texts = result.data["text_simplified"].tolist()
    jieba_tokenize(texts[0])
    rjieba_tokenize(texts[0])
    a, ta = _timed(lambda: [jieba_tokenize(t) for t in texts])
    b, tb = _timed(lambda: [rjieba_tokenize(t) for t in texts])
    from collections import Counter

    same = sum(x == y for x, y in zip(a, b, strict=True))
    tokens = sum(max(len(x), len(y)) for x, y in zip(a, b, strict=True))
    # tokens the two agree on, counted with multiplicity, over the longer tokenisation of each measure
    agree = sum(sum((Counter(x) & Counter(y)).values()) for x, y in zip(a, b, strict=True)) / max(1, tokens)
    return {"jieba_measures_per_second": len(texts) / ta, "rjieba_measures_per_second": len(texts) / tb,
            "token_lists_identical": same / len(texts), "token_overlap": agree}


def encoder_extras(result, config) -> dict:
    """int8 (torch dynamic quantisation of the Linear layers) against fp32: speed and agreement."""
    import numpy as np

    from classify.evaluation import align_proba
    from classify.inputs import model_input
    from classify.models import build_estimator

    X = model_input(result.data)
    fp32 = result.model.estimator
    int8 = build_estimator(config.model.model_copy(update={"quantize": "int8"}), input_text=config.input.text,
                           seed=config.seed, progress=False).fit(X, result.data["label"].to_numpy())
    p32, t32 = _timed(fp32.predict_proba, X)
    p8, t8 = _timed(int8.predict_proba, X)
    a32 = align_proba(p32, fp32.classes_).argmax(axis=1)
    a8 = align_proba(p8, int8.classes_).argmax(axis=1)
    return {"fp32_measures_per_second": len(X) / t32, "int8_measures_per_second": len(X) / t8,
            "int8_argmax_agreement": float(np.mean(a32 == a8))}


def bench_config(config_path: Path, progress: bool) -> dict:
    from classify.config import load_config
    from classify.inputs import model_input

    config = load_config(config_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        result = run_training_quiet(config, progress)
        run_seconds = time.perf_counter() - t0
    model = result.model
    X = model_input(result.data)
    model.predict_frame(X.head(2))
    _, batch_s = _timed(model.predict_frame, X)
    rows = [X.iloc[[i % len(X)]] for i in range(N_SINGLE)]
    _, single_s = _timed(lambda: [model.predict_frame(r) for r in rows])
    out = {"status": "ok", "config": str(config_path.relative_to(REPO)), "name": config.name,
           "family": config.model.family, "input": config.input.text,
           "metrics": {k: v for k, v in result.metrics.items() if isinstance(v, float)},
           "run_seconds": run_seconds, "predict_batch_per_second": len(X) / batch_s,
           "predict_single_per_second": N_SINGLE / single_s, "peak_rss_mb": peak_rss_mb(),
           "threads": _threads()}
    with tempfile.TemporaryDirectory() as tmp:
        out["first_row_seconds"] = first_row_seconds(save_pyfunc(model, Path(tmp) / "pyfunc"))
    if config.model.family == "tfidf":
        out["extras"] = tfidf_extras(result)
    elif config.model.family == "encoder":
        out["extras"] = encoder_extras(result, config)
    return out


def run_training_quiet(config, progress):
    from classify.training import run_training

    return run_training(config, progress=progress)


def _threads() -> int | None:
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def bench_reading(repeat: int) -> dict:
    from classify.reading import read_notice
    from classify.segmenting import segment_notice

    paths = sorted((REPO / "seeds").glob("*.txt"))
    segment_notice(read_notice(paths[0]))
    t0 = time.perf_counter()
    measures = sum(len(segment_notice(read_notice(p))) for _ in range(repeat) for p in paths)
    seconds = time.perf_counter() - t0
    return {"status": "ok", "notices": repeat * len(paths), "measures": measures, "seconds": seconds,
            "notices_per_second": repeat * len(paths) / seconds, "peak_rss_mb": peak_rss_mb()}


def run_worker(args) -> int:
    try:
        result = bench_config(Path(args.worker_config), not args.no_progress) if args.worker_config \
            else bench_reading(args.repeat_seeds)
    except Exception as exc:  # noqa: BLE001 - reported in the results, not fatal to the benchmark
        traceback.print_exc()
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    Path(args.result).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0 if result["status"] == "ok" else 1


def spawn(worker_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error", MLFLOW_LOGGING_LEVEL="ERROR")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *worker_args, "--result", str(result_file)],
                              cwd=REPO, env=env, check=False)
        wall = time.perf_counter() - t0
        result = json.loads(result_file.read_text()) if result_file.is_file() else \
            {"status": "failed", "reason": f"worker exited with status {proc.returncode}"}
    result["process_wall_seconds"] = wall
    return result


# --- report --------------------------------------------------------------------------------------


def _f(v, fmt="{:.3f}") -> str:
    return "–" if v is None else fmt.format(v)


def render(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = ["## Benchmark", "",
             f"Machine: {m['cores_usable']} usable cores of {m['cpu_model']}, {m['ram_gib']} GiB RAM, {m['platform']}.  ",
             f"Versions: Python {v['python']}, torch {v['torch']}, transformers {v['transformers']}, scikit-learn "
             f"{v['scikit-learn']}, mlflow {v['mlflow']}, classify {v['classify']}.  ",
             f"Run {report['started_utc']} (git {report['git_commit']}): `{report['command']}`.", "",
             "| config | family | LONO macro-F1 | LOIKO macro-F1 | LOIKO real | LOIKO synthetic | seeds (LONO) | ECE "
             "| flagged for review | unflagged accuracy | train + CV (s) | final fit (s) | predict batch (/s) "
             "| one by one (/s) | `predict` to first rows (s) | peak RSS (MB) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in report["configs"]:
        if c["status"] != "ok":
            lines.append(f"| {c.get('name', c.get('config'))} | {c.get('family', '?')} | {c['status']}: "
                         f"{c.get('reason', '')} |" + " |" * 14)
            continue
        k = c["metrics"]
        lines.append(
            f"| {c['name']} | {c['family']} | {_f(k.get('cv_macro_f1'))} | {_f(k.get('kind_macro_f1'))} | "
            f"{_f(k.get('kind_real_macro_f1'))} | {_f(k.get('kind_synthetic_macro_f1'))} | "
            f"{_f(k.get('cv_science_bureau_macro_f1'))} | {_f(k.get('ece'))} | "
            f"{_f(k.get('review_flagged_fraction'), '{:.0%}')} | {_f(k.get('review_unflagged_accuracy'))} | "
            f"{c['run_seconds']:.0f} | {k.get('train_seconds', 0):.1f} | {c['predict_batch_per_second']:,.0f} | "
            f"{c['predict_single_per_second']:,.1f} | {c['first_row_seconds']:.1f} | {c['peak_rss_mb']:,.0f} |")
    for c in report["configs"]:
        extras = c.get("extras")
        if not extras:
            continue
        lines += ["", f"{c['name']}: " + ", ".join(f"{key} {val:,.3f}" if val < 100 else f"{key} {val:,.0f}"
                                                    for key, val in extras.items()) + "."]
    r = report["reading"]
    if r.get("status") == "ok":
        lines += ["", f"Reading + segmenting: {r['notices']} notices (the five seeds repeated) in {r['seconds']:.2f} s: "
                      f"**{r['notices_per_second']:,.0f} notices/s**, {r['measures'] / r['seconds']:,.0f} measures/s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", type=Path)
    p.add_argument("--skip-bert", action="store_true", help="leave the fine-tuned BERT configs out (they take long)")
    p.add_argument("--repeat-seeds", type=int, default=50)
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--worker-reading", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_config or args.worker_reading:
        os.chdir(REPO)
        return run_worker(args)
    from classify.config import load_config
    from classify.io import atomic_write_text, git_commit

    configs = [c.resolve() for c in args.configs] if args.configs else sorted((REPO / "configs").glob("*.yaml"))
    os.chdir(REPO)
    started = datetime.now(UTC)
    results = []
    for i, path in enumerate(configs, 1):
        config = load_config(path)
        if args.skip_bert and config.model.family == "bert":
            results.append({"status": "skipped", "name": config.name, "family": "bert", "reason": "--skip-bert"})
            continue
        print(f"[{i}/{len(configs)}] {path.name}", file=sys.stderr, flush=True)
        results.append({"name": config.name, "family": config.model.family,
                        **spawn(["--worker-config", str(path)] + (["--no-progress"] if args.no_progress else []))})
    reading = spawn(["--worker-reading", "--repeat-seeds", str(args.repeat_seeds)])
    report = {"started_utc": started.isoformat(timespec="seconds"),
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["python", "experiments/benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
              "git_commit": git_commit(REPO, short=True), "machine": machine_info(), "versions": versions(),
              "configs": results, "reading": reading}
    atomic_write_text(args.out_dir / "benchmark.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(args.out_dir / "benchmark.md", render(report))
    print(render(report))
    return 1 if any(c["status"] == "failed" for c in results) or reading.get("status") != "ok" else 0


if __name__ == "__main__":
    sys.exit(main())
