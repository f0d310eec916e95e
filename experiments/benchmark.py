#!/usr/bin/env python
"""Benchmark every shipped config on this machine, in one run.

For each config (default: ``configs/*.yaml``), in a fresh subprocess so that the memory high-water
mark belongs to that config alone:

* leave-one-notice-out macro-F1 and accuracy (``classify.evaluation.leave_one_notice_out``), and
  the wall time of the whole cross-validation;
* training wall time: the final fit on all labelled measures;
* prediction throughput in measures per second, single process: batch (all measures in one
  ``predict_proba`` call) and one by one (a loop of single-row calls over at least 50 measures);
* peak memory: the process's resident-set high-water mark (``getrusage(RUSAGE_SELF).ru_maxrss``).

Plus reading + segmenting throughput (notices per second) over the seed notices repeated N times.
BERT configs need their pretrained model (``classify models pull m3e-small``); when it is missing,
or with ``--skip-bert``, the config is reported as skipped with the reason. No MLflow involved.

Writes ``experiments/results/benchmark.json`` and ``experiments/results/benchmark.md`` (atomically)
and prints the Markdown table.

    python experiments/benchmark.py [--configs configs/*.yaml] [--repeat-seeds N] [--skip-bert]
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
SEEDS_DIR = REPO / "seeds"
MIN_SINGLE = 50
SCHEMA = 1


# --- helpers ------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def atomic_write(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": usable,
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
    }


def versions() -> dict:
    return {
        "python": platform.python_version(),
        **{name: _version(name) for name in ("classify", "torch", "transformers", "scikit-learn", "mlflow",
                                              "jieba", "numpy", "pandas")},
    }


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --- workers (run in their own process) ---------------------------------------------------------


def bench_config(config_path: Path, n_single: int, progress: bool) -> dict:
    """Cross-validate, fit, time predictions for one config; everything measured in this process."""
    import numpy as np
    from tqdm.auto import tqdm

    from classify.config import load_config
    from classify.dataset import check_label_coverage, file_sha256, load_labelled, model_inputs
    from classify.evaluation import leave_one_notice_out
    from classify.models import build_model

    config = load_config(config_path)
    df = load_labelled(config.data.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_label_coverage(df, config.data.path)
    bert = config.model.family == "bert"

    t0 = time.perf_counter()
    # Fold models show their own bars only for BERT, where one fold takes minutes.
    cv = leave_one_notice_out(lambda: build_model(config, progress=progress and bert), df, progress=progress)
    cv_seconds = time.perf_counter() - t0
    metrics = cv.metrics

    X, y = model_inputs(df), df["label"].to_numpy()
    t0 = time.perf_counter()
    model = build_model(config, progress=progress and bert).fit(X, y)
    train_seconds = time.perf_counter() - t0

    model.predict_proba(X.head(2))  # warm-up: lazy imports, first-call allocations
    t0 = time.perf_counter()
    proba = model.predict_proba(X)
    batch_seconds = time.perf_counter() - t0
    assert proba.shape[0] == len(X)

    n = max(n_single, MIN_SINGLE)
    rows = [i % len(X) for i in range(n)]  # cycles when there are fewer measures than n
    t0 = time.perf_counter()
    for i in tqdm(rows, desc=f"{config.name}: one-by-one", unit="measure", disable=not progress, leave=False):
        model.predict_proba(X.iloc[[i]])
    single_seconds = time.perf_counter() - t0

    ood = out_of_domain(model)
    device = str(getattr(model, "device_", "cpu"))
    return {
        "out_of_domain": ood,
        "status": "ok",
        "config": _rel(config_path),
        "name": config.name,
        "family": config.model.family,
        "input": config.input.text,
        "device": device,
        "data": {"path": str(config.data.path), "sha256": file_sha256(config.data.path), "measures": len(df),
                 "notices": int(df["notice_id"].nunique())},
        "coverage_warnings": [str(w.message) for w in caught],
        "cv_macro_f1": metrics["cv_macro_f1"],
        "cv_accuracy": metrics["cv_accuracy"],
        "cv_fold_macro_f1_mean": metrics["cv_fold_macro_f1_mean"],
        "cv_fold_macro_f1_std": metrics["cv_fold_macro_f1_std"],
        "cv_f1": {k.removeprefix("cv_f1_"): v for k, v in metrics.items() if k.startswith("cv_f1_")},
        "cv_seconds": cv_seconds,
        "cv_folds": len(cv.folds),
        "train_seconds": train_seconds,
        "predict_batch_measures": len(X),
        "predict_batch_seconds": batch_seconds,
        "predict_batch_per_second": len(X) / batch_seconds,
        "predict_single_measures": n,
        "predict_single_seconds": single_seconds,
        "predict_single_per_second": n / single_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "torch_threads": _torch_threads() if bert else None,
        "train_accuracy": float(np.mean(model.predict(X) == y)),  # on the training data: a sanity check
    }


OOD_DATA = Path("data/samples/measures.jsonl")


def out_of_domain(model) -> dict | None:
    """Accuracy and macro-F1 on the labelled synthetic notices of other issuers (never trained on)."""
    if not OOD_DATA.is_file():
        return None
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from classify.dataset import load_labelled, model_inputs
    from classify.labels import LABELS

    df = load_labelled(OOD_DATA)
    proba = model.predict_proba(model_inputs(df))
    pred = np.asarray(model.classes_)[proba.argmax(axis=1)]
    present = [lab for lab in LABELS if lab in set(df["label"])]
    return {"measures": len(df), "notices": int(df["notice_id"].nunique()),
            "accuracy": float(accuracy_score(df["label"], pred)),
            "macro_f1": float(f1_score(df["label"], pred, labels=present, average="macro", zero_division=0))}


def _torch_threads() -> int | None:
    if "torch" not in sys.modules:
        return None
    return sys.modules["torch"].get_num_threads()


def bench_reading(repeat: int, progress: bool) -> dict:
    """read_notice + segment_notice over every seed, ``repeat`` times; OpenCC warmed up first."""
    from tqdm.auto import tqdm

    from classify.reading import read_notice
    from classify.segmenting import segment_notice

    paths = sorted(SEEDS_DIR.glob("*.txt")) + sorted(SEEDS_DIR.glob("*.htm*"))
    if not paths:
        raise FileNotFoundError(f"no seed notices in {SEEDS_DIR}")
    segment_notice(read_notice(paths[0]))  # loads OpenCC and compiles the patterns
    read_s = segment_s = 0.0
    measures = 0
    size = sum(p.stat().st_size for p in paths)
    jobs = [p for _ in range(repeat) for p in paths]
    for path in tqdm(jobs, desc="reading + segmenting", unit="notice", disable=not progress):
        t0 = time.perf_counter()
        notice = read_notice(path)
        t1 = time.perf_counter()
        measures += len(segment_notice(notice))
        t2 = time.perf_counter()
        read_s += t1 - t0
        segment_s += t2 - t1
    total = read_s + segment_s
    return {
        "status": "ok",
        "seed_notices": len(paths),
        "repeat": repeat,
        "notices": len(jobs),
        "measures": measures,
        "megabytes": size * repeat / 1e6,
        "read_seconds": read_s,
        "segment_seconds": segment_s,
        "seconds": total,
        "notices_per_second": len(jobs) / total,
        "measures_per_second": measures / total,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_worker(args: argparse.Namespace) -> int:
    """Hidden mode: one measurement, its result (or failure) written as JSON to --result."""
    try:
        if args.worker_config:
            result = bench_config(Path(args.worker_config), args.single, not args.no_progress)
        else:
            result = bench_reading(args.repeat_seeds, not args.no_progress)
    except Exception as exc:  # noqa: BLE001 - reported in the results, not fatal to the benchmark
        traceback.print_exc()
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    Path(args.result).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0 if result["status"] == "ok" else 1


# --- driver -------------------------------------------------------------------------------------


def _spawn(worker_args: list[str], label: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), *worker_args, "--result", str(result_file)]
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error",
                   HF_HUB_DISABLE_TELEMETRY="1")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, check=False)  # bars and errors go to the terminal
        wall = time.perf_counter() - t0
        if result_file.is_file():
            result = json.loads(result_file.read_text(encoding="utf-8"))
        else:
            result = {"status": "failed", "reason": f"{label}: worker exited with status {proc.returncode}"}
    result["process_wall_seconds"] = wall
    return result


def _skip_reason(config, skip_bert: bool) -> str | None:
    if config.model.family != "bert":
        return None
    if skip_bert:
        return "--skip-bert"
    from classify.pretrained import ModelNotFoundError, resolve_model_path

    try:
        resolved = resolve_model_path(config.model.pretrained)
    except ModelNotFoundError as exc:
        return str(exc)
    if not Path(resolved).is_dir():
        return f"pretrained model {config.model.pretrained!r} is not a local folder (no model hub here)"
    return None


def run_benchmark(config_paths: list[Path], repeat: int, skip_bert: bool, n_single: int, progress: bool,
                  out_dir: Path) -> dict:
    from classify.config import ConfigError, load_config

    started = datetime.now(UTC)
    results = []
    for i, path in enumerate(config_paths, 1):
        print(f"[{i}/{len(config_paths)}] {_rel(path)}", file=sys.stderr, flush=True)
        try:
            config = load_config(path)
        except ConfigError as exc:
            results.append({"status": "failed", "config": _rel(path), "name": path.stem, "reason": str(exc)})
            continue
        base = {"config": _rel(path), "name": config.name, "family": config.model.family,
                "input": config.input.text}
        reason = _skip_reason(config, skip_bert)
        if reason:
            print(f"  skipped: {reason}", file=sys.stderr)
            results.append({**base, "status": "skipped", "reason": reason})
            continue
        worker = ["--worker-config", str(path), "--single", str(n_single)] + ([] if progress else ["--no-progress"])
        result = _spawn(worker, config.name)
        if result["status"] != "ok":
            print(f"  failed: {result.get('reason')}", file=sys.stderr)
        results.append({**base, **result})

    print("[reading] seeds", file=sys.stderr, flush=True)
    reading = _spawn(["--worker-reading", "--repeat-seeds", str(repeat)] + ([] if progress else ["--no-progress"]),
                     "reading")
    report = {
        "schema": SCHEMA,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "experiments/benchmark.py", *sys.argv[1:]]),
        "git_commit": git_commit(),
        "machine": machine_info(),
        "versions": versions(),
        "settings": {"repeat_seeds": repeat, "predict_single_measures": max(n_single, MIN_SINGLE),
                     "skip_bert": skip_bert},
        "configs": results,
        "reading": reading,
    }
    atomic_write(out_dir / "benchmark.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    markdown = render_markdown(report)
    atomic_write(out_dir / "benchmark.md", markdown)
    return report


# --- Markdown -----------------------------------------------------------------------------------


def _num(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def render_markdown(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = [
        "## Benchmark",
        "",
        f"Machine: {m['cores_usable']} usable cores ({m['cores_logical']} logical) of {m['cpu_model']}, "
        f"{m['ram_gib']} GiB RAM, {m['platform']}.  ",
        f"Versions: Python {v['python']}, torch {v['torch']}, transformers {v['transformers']}, "
        f"scikit-learn {v['scikit-learn']}, mlflow {v['mlflow']}, classify {v['classify']}.  ",
        f"Run {report['started_utc']} (git {report['git_commit'] or 'unknown'}): `{report['command']}`.",
        "",
    ]
    ok = [c for c in report["configs"] if c["status"] == "ok"]
    if ok:
        d = ok[0]["data"]
        lines += [f"Data: `{d['path']}`, {d['measures']} measures in {d['notices']} notices; leave-one-notice-out "
                  f"({d['notices']} folds). Predictions single process; one-by-one = one `predict_proba` call per "
                  f"measure over {report['settings']['predict_single_measures']} measures. Peak RSS = resident-set "
                  "high-water mark of a fresh process per config (imports included).", ""]
        ood = next((c["out_of_domain"] for c in ok if c.get("out_of_domain")), None)
        if ood:
            lines += [f"Other issuers: the final model (trained on all seed measures) on `{OOD_DATA}`, "
                      f"{ood['measures']} labelled measures of {ood['notices']} synthetic notices by issuers the "
                      "seeds do not have (education, health, 科协, finance bureau; GBK, Big5, HTML, ASCII "
                      "punctuation). Small: read it as a smoke test, not a score.", ""]
    lines += [
        "| config | family | LOO macro-F1 | LOO accuracy | other issuers macro-F1 | other issuers accuracy "
        "| CV wall (s) | final fit (s) | predict batch (measures/s) | predict one-by-one (measures/s) "
        "| peak RSS (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in report["configs"]:
        if c["status"] != "ok":
            lines.append(f"| {c['name']} | {c.get('family', '?')} | {c['status']}: {c.get('reason', '')} "
                         "| | | | | | | | |")
            continue
        family = c["family"]
        if c["family"] == "bert":
            family += f" ({c['device']}, {c['torch_threads']} threads)" if c.get("torch_threads") else f" ({c['device']})"
        lines.append(
            f"| {c['name']} | {family} | {c['cv_macro_f1']:.3f} | {c['cv_accuracy']:.3f} | "
            f"{_num((c.get('out_of_domain') or {}).get('macro_f1'), '{:.3f}')} | "
            f"{_num((c.get('out_of_domain') or {}).get('accuracy'), '{:.3f}')} | "
            f"{c['cv_seconds']:.1f} | {c['train_seconds']:.2f} | {c['predict_batch_per_second']:,.0f} | "
            f"{c['predict_single_per_second']:,.1f} | {c['peak_rss_mb']:,.0f} |"
        )
    r = report["reading"]
    lines.append("")
    if r.get("status") == "ok":
        lines.append(
            f"Reading + segmenting: {r['seed_notices']} seed notices × {r['repeat']} = {r['notices']} notices "
            f"({r['megabytes']:.1f} MB) in {r['seconds']:.2f} s: **{r['notices_per_second']:,.1f} notices/s** "
            f"({r['measures_per_second']:,.0f} measures/s; reading {r['read_seconds']:.2f} s, segmenting "
            f"{r['segment_seconds']:.2f} s), peak RSS {r['peak_rss_mb']:,.0f} MB."
        )
    else:
        lines.append(f"Reading + segmenting: failed: {r.get('reason')}")
    warned = sorted({w for c in ok for w in c.get("coverage_warnings", [])})
    if warned:
        lines += ["", "Label coverage warnings:", *[f"- {w}" for w in warned]]
    return "\n".join(lines) + "\n"


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", type=Path, help="configs to run (default: configs/*.yaml)")
    p.add_argument("--repeat-seeds", type=int, default=50, metavar="N",
                   help="read and segment the seed notices N times (default 50)")
    p.add_argument("--skip-bert", action="store_true", help="report BERT configs as skipped")
    p.add_argument("--single", type=int, default=100, metavar="N",
                   help=f"measures predicted one by one (at least {MIN_SINGLE}; default 100)")
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="where benchmark.json/.md go")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    # worker modes, used by the driver only
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--worker-reading", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeat_seeds < 1:
        raise SystemExit("error: --repeat-seeds must be at least 1")
    if args.worker_config or args.worker_reading:
        return run_worker(args)
    configs = [p.resolve() for p in args.configs] if args.configs else sorted((REPO / "configs").glob("*.yaml"))
    missing = [str(p) for p in configs if not p.is_file()]
    if missing:
        raise SystemExit(f"error: config file(s) not found: {', '.join(missing)}")
    if not configs:
        raise SystemExit(f"error: no configs in {REPO / 'configs'}")
    out_dir = args.out_dir.resolve()
    os.chdir(REPO)  # config paths (data/, models/) are relative to the repository root
    report = run_benchmark(configs, args.repeat_seeds, args.skip_bert, args.single, not args.no_progress, out_dir)
    print()
    print(render_markdown(report))
    print(f"wrote {_rel(out_dir / 'benchmark.json')} and {_rel(out_dir / 'benchmark.md')}")
    failed = [c["name"] for c in report["configs"] if c["status"] == "failed"]
    if report["reading"].get("status") != "ok":
        failed.append("reading")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
