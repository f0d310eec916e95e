#!/usr/bin/env python
"""How fast the sentence-encoder family embeds, and what each speed-up costs: fp32, bf16 autocast, int8 weights
(the project's scheme), their mix, and a shorter token limit.

For each variant: leave-one-issuer-kind-out cross-validation (the head refitted per fold on that variant's
embeddings), its macro-F1 (all and real measures) and its out-of-fold argmax agreement with fp32; then the final
model's prediction throughput on the whole corpus with nothing cached (best of two passes; the embedding of
measure and context is the whole cost). Writes experiments/results/encoder_speed.{json,md}.

    python experiments/encoder_speed.py [--config configs/encoder_m3e_small.yaml]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "fp32": [],
    "bf16": ["model.precision=bf16"],
    "int8": ["model.quantize=int8"],
    "bf16, 128 tokens": ["model.precision=bf16", "model.max_length=128"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "encoder_m3e_small.yaml")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    import numpy as np
    from sklearn.metrics import f1_score

    from classify.config import load_config
    from classify.fileio import atomic_write_text, git_commit
    from classify.inputs import model_input
    from classify.models import build_estimator
    from classify.models.encoder import embedding_cache
    from classify.training import load_training_data, run_training

    base = load_config(args.config, ["evaluation.schemes=[leave_one_issuer_kind_out]"])
    data = load_training_data(base)
    X, y = model_input(data), data["label"].to_numpy()
    labels = list(base.scheme().labels)
    real = (data["source"] == "real").to_numpy()
    rows, reference = [], None
    for name in args.variants:
        config = load_config(args.config, ["evaluation.schemes=[leave_one_issuer_kind_out]", *VARIANTS[name]])
        with embedding_cache(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_training(config, progress=False, final_fit=False, data=data)
        cv = result.cvs["leave_one_issuer_kind_out"]
        pred = cv.proba.argmax(axis=1)
        reference = pred if reference is None else reference
        est = build_estimator(config.model, input_text=config.input.text, seed=config.seed, progress=False)
        with embedding_cache():
            est.fit(X, y)
        speeds = []
        for _ in range(2):  # outside the cache: every text embedded
            t0 = time.perf_counter()
            est.predict_proba(X)
            speeds.append(len(X) / (time.perf_counter() - t0))
        def f1(mask, pred=pred):
            return float(f1_score(y[mask], np.asarray(labels)[pred[mask]], labels=labels, average="macro",
                                  zero_division=0))

        rows.append({"variant": name, "overrides": VARIANTS[name], "loiko_macro_f1": f1(np.ones(len(y), bool)),
                     "loiko_real_macro_f1": f1(real), "oof_argmax_agreement_with_fp32": float(np.mean(pred == reference)),
                     "measures_per_second": max(speeds), "autocast": est.autocast_dtype_})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    lines = [f"Encoder inference variants (`{args.config.name}`, {len(X)} measures, git {git_commit(REPO, short=True)}):",
             "", "| variant | LOIKO macro-F1 | LOIKO real | OOF argmax agreement with fp32 | measures/s |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['variant']} | {r['loiko_macro_f1']:.3f} | {r['loiko_real_macro_f1']:.3f} | "
              f"{r['oof_argmax_agreement_with_fp32']:.3f} | {r['measures_per_second']:.0f} |" for r in rows]
    out = REPO / "experiments" / "results" / "encoder_speed"
    atomic_write_text(out.with_suffix(".json"), json.dumps(rows, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
