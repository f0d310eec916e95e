#!/usr/bin/env python
"""Calibrators side by side on the same out-of-fold predictions: the leave-one-issuer-kind-out probabilities each
config's benchmark run saved (experiments/results/oof/<config>.raw.csv), every calibrator cross-fitted by fold
(each held-out kind's rows calibrated by a calibrator fitted on the other kinds). ECE, Brier, and the share of
labels a calibrator leaves unchanged (temperature never moves one; per-category calibrators can).

    python experiments/bench_calibrators.py            # after experiments/benchmark.py
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
from benchlib import RESULTS_DIR

METHODS = ("none", "temperature", "sigmoid", "isotonic")


def compare(raw: pd.DataFrame) -> dict:
    from classify.calibration import (
        brier_score,
        cross_fitted_calibration,
        expected_calibration_error,
        label_index,
    )

    labels = tuple(c.removeprefix("prob_") for c in raw.columns if c.startswith("prob_"))
    proba = raw[[f"prob_{lab}" for lab in labels]].to_numpy()
    y = label_index(raw["label"], labels)
    groups = raw["issuer_kind"].astype(str).to_numpy()
    out = {}
    for method in METHODS:
        q = proba if method == "none" else cross_fitted_calibration(method, proba, y, groups)
        out[method] = {"ece": expected_calibration_error(q, y), "brier": brier_score(q, y),
                       "argmax_kept": float(np.mean(q.argmax(axis=1) == proba.argmax(axis=1)))}
    return out


def main() -> int:
    from classify.fileio import atomic_write_text

    files = sorted((RESULTS_DIR / "oof").glob("*.raw.csv"))
    if not files:
        print("no saved out-of-fold predictions: run experiments/benchmark.py first", file=sys.stderr)
        return 1
    results = {f.name.removesuffix(".raw.csv"): compare(pd.read_csv(f, dtype={"id": str})) for f in files}
    lines = ["Calibrators on the same out-of-fold predictions (leave-one-issuer-kind-out, cross-fitted by held-out "
             "kind): ECE / Brier / share of labels unchanged.", "",
             "| config | " + " | ".join(METHODS) + " |", "|---|" + "---:|" * len(METHODS)]
    for name, row in results.items():
        cells = [f"{v['ece']:.3f} / {v['brier']:.3f} / {v['argmax_kept']:.3f}" for v in row.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    atomic_write_text(RESULTS_DIR / "bench_calibrators.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(RESULTS_DIR / "bench_calibrators.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
