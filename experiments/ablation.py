#!/usr/bin/env python
"""Settings chosen by cross-validation on the training corpus: variants of one config side by side.

Every variant is cross-validated (leave-one-notice-out and leave-one-issuer-kind-out) on the same
data in one process, so the encoder embeds each text once for all of them. Prints a Markdown table
and writes it with the raw numbers to experiments/results/ablation_<config>.{json,md}.

    python experiments/ablation.py configs/encoder_m3e_small.yaml \
        --variant "anchors=model.codebook_anchors=true" --variant "C=1=model.C=1" ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KEYS = ("lono_macro_f1", "loiko_macro_f1", "loiko_real_macro_f1", "loiko_synthetic_macro_f1",
        "lono_science_bureau_macro_f1", "ece", "review_flagged_fraction")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[,KEY=VALUE]",
                        help="a named set of --set overrides; the config as it is always runs first")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every variant (e.g. evaluation.schemes=[leave_one_issuer_kind_out])")
    parser.add_argument("--out", help="results name (default: ablation_<config>)")
    args = parser.parse_args()
    import os

    os.chdir(REPO)
    from classify.config import load_config
    from classify.fileio import atomic_write_text
    from classify.training import load_training_data, run_training

    variants = [("as configured", [])]
    for item in args.variant:
        name, _, overrides = item.partition("=")
        variants.append((name, overrides.split(",")))
    rows = []
    base = load_config(args.config, args.set)
    with base.fit_context(), warnings.catch_warnings():  # e.g. the encoder embeds each text once for every variant
        warnings.simplefilter("ignore")
        data = None
        for name, overrides in variants:
            config = load_config(args.config, [*args.set, *overrides])
            data = load_training_data(config) if data is None else data
            t0 = time.perf_counter()
            result = run_training(config, progress=False, final_fit=False, data=data)
            rows.append({"variant": name, "overrides": overrides, "seconds": time.perf_counter() - t0,
                         **{k: result.metrics.get(k) for k in KEYS}})
            print(f"{name}: " + ", ".join(f"{k} {rows[-1][k]:.3f}" for k in KEYS if rows[-1][k] is not None),
                  file=sys.stderr, flush=True)
    header = "| variant | LONO macro-F1 | LOIKO macro-F1 | LOIKO real | LOIKO synthetic | seeds (LONO) | ECE | flagged |"
    lines = [f"Ablation of `{args.config}` on `{data is not None and len(data)}` measures (cross-validation only).", "",
             header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | " + " | ".join(f"{r[k]:.3f}" if r[k] is not None else "–" for k in KEYS) + " |")
    table = "\n".join(lines) + "\n"
    out = REPO / "experiments" / "results" / (args.out or f"ablation_{args.config.stem}")
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
