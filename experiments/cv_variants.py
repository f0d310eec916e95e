"""Variants of one config, cross-validated one at a time, each row saved as soon as it is done.

Used for the slow ones: contrastive tuning (SetFit's method), BERT recipe variants, ensembles with a BERT member.

Like experiments/ablation.py (variants of one config, cross-validation only, one process, one embedding
cache), but each variant's row is appended to experiments/results/<out>.jsonl as soon as it is done, so a
long series survives an interruption, variants already there are skipped (``--redo`` runs them again), and
the Markdown table is rebuilt from every row of the file. Each fold's fit time is kept beside the scores.

    python experiments/cv_variants.py configs/encoder_m3e_small.yaml --out contrastive_encoder \
        --set "evaluation.schemes=[leave_one_issuer_kind_out]" \
        --variant "pairs 4=model.contrastive_pairs=4"

Run it alone on the machine: two torch processes on two cores slow both, and the seconds are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("loiko_macro_f1", "loiko_real_macro_f1", "loiko_synthetic_macro_f1", "lono_macro_f1", "ece",
        "review_flagged_fraction")


def table(rows: list[dict], title: str) -> str:
    lines = [title, "",
             "| config | variant | LOIKO macro-F1 | LOIKO real | LOIKO synthetic | LONO macro-F1 | ECE | flagged "
             "| CV seconds | fit seconds per fold (mean) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = [f"{r[k]:.3f}" if r.get(k) is not None else "–" for k in KEYS]
        folds = r.get("fold_seconds") or []
        mean = f"{sum(folds) / len(folds):.0f}" if folds else "–"
        lines.append(f"| `{r['config']}` | {r['variant']} | " + " | ".join(cells) + f" | {r['seconds']:.0f} | {mean} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                        help="a named set of --set overrides")
    parser.add_argument("--base", action="store_true", help="run the config as it is first ('as configured')")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every variant (e.g. evaluation.schemes=[leave_one_issuer_kind_out])")
    parser.add_argument("--out", required=True, help="results name under experiments/results/")
    parser.add_argument("--redo", action="store_true", help="run variants already in the results again")
    parser.add_argument("--oof", type=Path, help="folder for each variant's out-of-fold predictions (CSV)")
    args = parser.parse_args()
    os.chdir(REPO)
    from classify.config import load_config
    from classify.fileio import atomic_write_text
    from classify.training import TrainingReporter, load_training_data, run_training

    class FoldLog(TrainingReporter):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_fold(self, fold) -> None:
            self.seconds.append(fold.train_seconds)
            print(f"  {fold.held_out}: fit {fold.train_seconds:.0f} s, macro-F1 {fold.metrics['macro_f1']:.3f} "
                  f"({fold.n_test} held out)", file=sys.stderr, flush=True)

    out = REPO / "experiments" / "results" / args.out
    jsonl = out.with_suffix(".jsonl")
    done = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()] if jsonl.exists() else []
    variants = [("as configured", [])] if args.base else []
    for item in args.variant:
        name, _, overrides = item.partition("=")
        variants.append((name, overrides.split(",") if overrides else []))
    base = load_config(args.config, args.set)
    data = None
    with base.fit_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, overrides in variants:
            if not args.redo and any(r["config"] == base.name and r["variant"] == name for r in done):
                print(f"{name}: already in {jsonl.name}, skipped", file=sys.stderr)
                continue
            config = load_config(args.config, [*args.set, *overrides])
            data = load_training_data(config) if data is None else data
            print(f"{base.name} / {name}: {overrides}", file=sys.stderr, flush=True)
            log = FoldLog()
            t0 = time.perf_counter()
            result = run_training(config, reporter=log, progress=False, final_fit=False, data=data)
            row = {"config": base.name, "variant": name, "overrides": [*args.set, *overrides],
                   "n_measures": len(data), "seconds": time.perf_counter() - t0, "fold_seconds": log.seconds,
                   **{k: result.metrics.get(k) for k in KEYS},
                   "by_kind": {k: v for k, v in result.metrics.items()
                               if k.startswith("loiko_") and k.endswith("_macro_f1") and k not in KEYS}}
            print(f"{name}: " + ", ".join(f"{k} {row[k]:.3f}" for k in KEYS if row[k] is not None)
                  + f", {row['seconds']:.0f} s", file=sys.stderr, flush=True)
            with jsonl.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            done.append(row)
            if args.oof:
                args.oof.mkdir(parents=True, exist_ok=True)
                for scheme, cv in result.cvs.items():
                    cv.oof.to_csv(args.oof / f"{base.name}__{name.replace(' ', '_')}__{scheme}.csv", index=False)
    text = table(done, f"Cross-validation only, on `{done[0]['n_measures'] if done else '?'}` measures; "
                       "seconds on this machine's 2 cores, one run at a time.")
    atomic_write_text(out.with_suffix(".md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
