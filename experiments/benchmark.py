#!/usr/bin/env python
"""Benchmark every shipped config on this machine, in one run, with the same training functions as `classify train`.

For each config (default: ``configs/*.yaml``), in a fresh subprocess so that the memory high-water mark
belongs to that config alone: ``classify.training.run_training`` (leave-one-notice-out and
leave-one-issuer-kind-out, calibration, review policy, final fit), then prediction throughput of the
shipped model (batch, served pyfunc, one by one) and the time a fresh ``classify predict`` process takes
to its first row. Each config's leave-one-issuer-kind-out predictions go to ``results/oof/<config>.csv``;
the two best configs on real measures of unseen issuer kinds are compared by a paired bootstrap over
notices (is the difference real?). Plus reading + segmenting throughput.

Family-specific measurements (int8, tokenizers, ONNX) are experiments/bench_extras.py; calibrators side
by side, experiments/bench_calibrators.py (on the saved out-of-fold predictions).

Writes ``experiments/results/benchmark.json`` and ``benchmark.md`` (atomically) and prints the table.

    python experiments/benchmark.py [--configs configs/*.yaml] [--skip-bert] [--update]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

from benchlib import (
    REPO,
    RESULTS_DIR,
    fastest,
    machine_info,
    peak_rss_mb,
    save_pyfunc,
    spawn,
    threads,
    timed,
    versions,
    write_worker_result,
)

N_SINGLE = 100
OOF_DIR = RESULTS_DIR / "oof"
BOOTSTRAP_REPLICATES = 2000


def fine_tunes_bert(config) -> bool:
    """Whether training the config fine-tunes a BERT: a BERT config, or an ensemble with one among its members."""
    from classify.config import load_config

    if config.model.family == "bert":
        return True
    members = getattr(config.model, "members", None) or ()
    return any(fine_tunes_bert(load_config(member)) for member in members)


# --- workers (their own process) -----------------------------------------------------------------


def first_row_seconds(model_dir: Path) -> float:
    """Wall time of a fresh `classify predict` on one seed notice (imports, model load, first rows)."""
    import subprocess
    import time

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "classify.cli", "predict", "--model", str(model_dir), "--quiet",
                        str(REPO / "seeds" / "002_498a692be3e6a6d3.txt"), "--out", str(Path(tmp) / "o.jsonl")],
                       check=True, capture_output=True, cwd=REPO)
        return time.perf_counter() - t0


def pyfunc_speed(served: Path, records) -> float:
    """Batch throughput of the MLflow pyfunc model as served (model input columns text, heading, issuer)."""
    import mlflow

    frame = records[[c for c in ("text", "heading", "issuer") if c in records]].reset_index(drop=True)
    loaded = mlflow.pyfunc.load_model(str(served))
    loaded.predict(frame.head(2))
    _, seconds = fastest(loaded.predict, frame)
    return len(frame) / seconds


def save_oof(result, name: str) -> None:
    """The calibrated leave-one-issuer-kind-out predictions (what the paired bootstrap compares)."""
    from classify.fileio import atomic_write_text

    cv = result.calibration
    if cv is None or cv.scheme != "leave_one_issuer_kind_out":
        return
    OOF_DIR.mkdir(parents=True, exist_ok=True)
    columns = ["id", "notice_id", "issuer_kind", "source", "label", "predicted", "confidence",
               *[c for c in cv.calibrated_oof if c.startswith("prob_")]]
    atomic_write_text(OOF_DIR / f"{name}.csv", cv.calibrated_oof[columns].to_csv(index=False))
    raw = result.cvs[cv.scheme].oof[columns]
    atomic_write_text(OOF_DIR / f"{name}.raw.csv", raw.to_csv(index=False))


def bench_config(config_path: Path, progress: bool) -> dict:
    from classify.config import load_config
    from classify.fileio import git_commit
    from classify.inputs import model_input
    from classify.training import run_training

    config = load_config(config_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, run_seconds = timed(lambda: run_training(config, progress=progress))
    save_oof(result, config.name)
    model = result.model
    X = model_input(result.data)
    model.predict_frame(X.head(2))
    _, batch_s = fastest(model.predict_frame, X)
    rows = [X.iloc[[i % len(X)]] for i in range(N_SINGLE)]
    _, single_s = timed(lambda: [model.predict_frame(r) for r in rows])
    out = {"status": "ok", "config": str(config_path.relative_to(REPO)), "name": config.name,
           "family": config.model.family, "input": config.input.text, "git_commit": git_commit(REPO, short=True),
           "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
           "metrics": {k: v for k, v in result.metrics.items() if isinstance(v, float)},
           "review_guarantee": result.calibration.guarantee,
           "run_seconds": run_seconds, "predict_batch_per_second": len(X) / batch_s,
           "predict_single_per_second": N_SINGLE / single_s, "threads": threads()}
    with tempfile.TemporaryDirectory() as tmp:
        served = save_pyfunc(model, Path(tmp) / "pyfunc")
        out["pyfunc_batch_per_second"] = pyfunc_speed(served, result.data)
        out["first_row_seconds"] = first_row_seconds(served)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def bench_reading(repeat: int) -> dict:
    import time

    from classify.notices.reading import read_notice
    from classify.notices.segmenting import segment_notice

    paths = sorted((REPO / "seeds").glob("*.txt"))
    segment_notice(read_notice(paths[0]))
    t0 = time.perf_counter()
    measures = sum(len(segment_notice(read_notice(p))) for _ in range(repeat) for p in paths)
    seconds = time.perf_counter() - t0
    return {"status": "ok", "notices": repeat * len(paths), "measures": measures, "seconds": seconds,
            "notices_per_second": repeat * len(paths) / seconds, "peak_rss_mb": peak_rss_mb()}


# --- the paired bootstrap --------------------------------------------------------------------------


def paired_bootstrap(a_name: str, b_name: str, source: str = "real", replicates: int = BOOTSTRAP_REPLICATES,
                     seed: int = 0) -> dict | None:
    """Macro-F1 of config A minus config B on their saved leave-one-issuer-kind-out predictions (``source``
    rows); None when either config has none. See :func:`paired_bootstrap_files`."""
    paths = [OOF_DIR / f"{n}.csv" for n in (a_name, b_name)]
    if not all(p.is_file() for p in paths):
        return None
    return {**paired_bootstrap_files(*paths, source=source, replicates=replicates, seed=seed),
            "a": a_name, "b": b_name}


def paired_bootstrap_files(a_path: Path, b_path: Path, source: str = "real",
                           replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> dict:
    """Macro-F1 of predictions A minus B (out-of-fold prediction files) on their common ``source`` rows, with a
    95% interval from resampling whole notices (measures of a notice move together)."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import f1_score

    a, b = (pd.read_csv(p, dtype={"id": str}).set_index("id") for p in (a_path, b_path))
    common = a.index.intersection(b.index)
    a, b = a.loc[common], b.loc[common]
    keep = (a["source"] == source).to_numpy() if source else np.ones(len(a), bool)
    a, b = a[keep], b[keep]
    labels = sorted(set(a["label"]))
    notices = a["notice_id"].to_numpy()
    by_notice = {n: np.flatnonzero(notices == n) for n in np.unique(notices)}
    names = list(by_notice)
    y, pa, pb = a["label"].to_numpy(), a["predicted"].to_numpy(), b["predicted"].to_numpy()

    def f1(idx: np.ndarray, p: np.ndarray) -> float:
        return f1_score(y[idx], p[idx], labels=labels, average="macro", zero_division=0)

    everything = np.arange(len(y))
    observed = f1(everything, pa) - f1(everything, pb)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(replicates):
        idx = np.concatenate([by_notice[names[i]] for i in rng.integers(0, len(names), len(names))])
        diffs.append(f1(idx, pa) - f1(idx, pb))
    diffs = np.asarray(diffs)
    return {"a": Path(a_path).stem, "b": Path(b_path).stem, "source": source, "measures": int(len(y)),
            "notices": len(names), "difference": float(observed), "low": float(np.quantile(diffs, 0.025)),
            "high": float(np.quantile(diffs, 0.975)), "share_a_better": float(np.mean(diffs > 0)),
            "replicates": replicates}


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
             "| flagged for review | train + CV (s) | final fit (s) | predict batch (/s) "
             "| served pyfunc batch (/s) | one by one (/s) | `predict` to first rows (s) | peak RSS (MB) | git |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in report["configs"]:
        if c["status"] != "ok":
            lines.append(f"| {c.get('name', c.get('config'))} | {c.get('family', '?')} | {c['status']}: "
                         f"{c.get('reason', '')} |" + " |" * 15)
            continue
        k = c["metrics"]
        lines.append(
            f"| {c['name']} | {c['family']} | {_f(k.get('lono_macro_f1'))} | {_f(k.get('loiko_macro_f1'))} | "
            f"{_f(k.get('loiko_real_macro_f1'))} | {_f(k.get('loiko_synthetic_macro_f1'))} | "
            f"{_f(k.get('lono_science_bureau_macro_f1'))} | {_f(k.get('ece'))} | "
            f"{_f(k.get('review_flagged_fraction'), '{:.0%}')} | "
            f"{c['run_seconds']:.0f} | {k.get('train_seconds', 0):.1f} | {c['predict_batch_per_second']:,.0f} | "
            f"{_f(c.get('pyfunc_batch_per_second'), '{:,.0f}')} | "
            f"{c['predict_single_per_second']:,.1f} | {c['first_row_seconds']:.1f} | {c['peak_rss_mb']:,.0f} | "
            f"{c.get('git_commit') or report['git_commit']} |")
    boot = report.get("bootstrap")
    if boot:
        lines += ["", f"Paired bootstrap over notices ({boot['replicates']} replicates, {boot['notices']} notices, "
                      f"{boot['measures']} {boot['source']} measures, leave-one-issuer-kind-out): macro-F1 of "
                      f"`{boot['a']}` minus `{boot['b']}` = {boot['difference']:+.3f} (95% interval "
                      f"{boot['low']:+.3f} to {boot['high']:+.3f}); `{boot['a']}` is ahead in "
                      f"{boot['share_a_better']:.0%} of the replicates."]
    r = report.get("reading") or {}
    if r.get("status") == "ok":
        lines += ["", f"Reading + segmenting: {r['notices']} notices (the five seeds repeated) in {r['seconds']:.2f} s: "
                      f"**{r['notices_per_second']:,.0f} notices/s**, {r['measures'] / r['seconds']:,.0f} measures/s."]
    return "\n".join(lines) + "\n"


def combine_rows(reports: list[dict]) -> list[dict]:
    """Config rows of several reports, a later report's row replacing an earlier one's; each keeps its commit."""
    rows: dict[str, dict] = {}
    for report in reports:
        for row in report["configs"]:
            row.setdefault("git_commit", report.get("git_commit"))
            rows[row.get("name")] = row
    return sorted(rows.values(), key=lambda r: str(r.get("name")))


def top_two_bootstrap(configs: list[dict]) -> dict | None:
    ok = [c for c in configs if c["status"] == "ok" and c["metrics"].get("loiko_real_macro_f1") is not None]
    ok.sort(key=lambda c: -c["metrics"]["loiko_real_macro_f1"])
    return paired_bootstrap(ok[0]["name"], ok[1]["name"]) if len(ok) >= 2 else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", type=Path)
    p.add_argument("--skip-bert", action="store_true", help="leave the fine-tuned BERT configs out (they take long)")
    p.add_argument("--repeat-seeds", type=int, default=50)
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--update", action="store_true",
                   help="replace only these configs' rows in the existing benchmark.json (each row keeps its own commit and time)")
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--worker-reading", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_config or args.worker_reading:
        os.chdir(REPO)
        return write_worker_result(args.result, (lambda: bench_config(Path(args.worker_config), not args.no_progress))
                                   if args.worker_config else (lambda: bench_reading(args.repeat_seeds)))
    from classify.config import load_config
    from classify.fileio import atomic_write_text, git_commit

    configs = [c.resolve() for c in args.configs] if args.configs else sorted((REPO / "configs").glob("*.yaml"))
    os.chdir(REPO)
    started = datetime.now(UTC)
    results = []
    script = Path(__file__).resolve()
    for i, path in enumerate(configs, 1):
        config = load_config(path)
        if args.skip_bert and fine_tunes_bert(config):
            results.append({"status": "skipped", "name": config.name, "family": config.model.family,
                            "reason": "--skip-bert"})
            continue
        print(f"[{i}/{len(configs)}] {path.name}", file=sys.stderr, flush=True)
        results.append({"name": config.name, "family": config.model.family,
                        **spawn(script, ["--worker-config", str(path)] + (["--no-progress"] if args.no_progress else []))})
    reading = spawn(script, ["--worker-reading", "--repeat-seeds", str(args.repeat_seeds)])
    previous = args.out_dir / "benchmark.json"
    if args.update and previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        results = combine_rows([old, {"configs": results, "git_commit": git_commit(REPO, short=True)}])
    report = {"started_utc": started.isoformat(timespec="seconds"),
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["python", "experiments/benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
              "git_commit": git_commit(REPO, short=True), "machine": machine_info(), "versions": versions(),
              "configs": results, "reading": reading, "bootstrap": top_two_bootstrap(results)}
    atomic_write_text(args.out_dir / "benchmark.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(args.out_dir / "benchmark.md", render(report))
    print(render(report))
    return 1 if any(c["status"] == "failed" for c in results) or reading.get("status") != "ok" else 0


if __name__ == "__main__":
    sys.exit(main())
