"""Fine-tuning cost of `bert_m3e_small_heading` under variants (issue: LONO + final fit in 10 minutes).

    python experiments/bert_finetune_variants.py lono "model.freeze_layers=2" "model.freeze_layers=3"
    python experiments/bert_finetune_variants.py fit-ablation

`lono` runs leave-one-notice-out (the config's 5 notice folds) and the final fit with the same
training function as `classify train`, one variant (comma-separated `--set` overrides) after another,
and appends a JSON line per variant to experiments/results/bert_finetune_variants.jsonl.
`fit-ablation` times one epoch on the same 400 measures for each freezing setting, with and without
the frozen-layer cache. Run it alone on the machine: two torch processes on two cores slow both.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "bert_m3e_small_heading.yaml"
RESULTS = REPO / "experiments" / "results"


def lono(variants: list[str]) -> None:
    from classify.config import load_config
    from classify.io import git_commit
    from classify.training import run_training

    only_lono = ["evaluation.schemes=[leave_one_notice_out]", "evaluation.calibrate_on=leave_one_notice_out"]
    for variant in variants:
        overrides = [v for v in variant.split(",") if v]
        result = run_training(load_config(CONFIG, overrides=only_lono + overrides), progress=False)
        m = result.metrics
        row = {"variant": overrides, "git_commit": git_commit(REPO, short=True),
               "lono_seconds": m["cv_wall_seconds"], "final_fit_seconds": m["train_seconds"],
               "lono_plus_final_fit_seconds": m["cv_wall_seconds"] + m["train_seconds"],
               "lono_macro_f1": m["cv_macro_f1"], "lono_real_macro_f1": m["cv_real_macro_f1"],
               "lono_synthetic_macro_f1": m["cv_synthetic_macro_f1"], "ece": m["ece"]}
        print(json.dumps(row), flush=True)
        with open(RESULTS / "bert_finetune_variants.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def fit_ablation() -> None:
    from classify.config import load_config
    from classify.inputs import model_input
    from classify.models import build_estimator
    from classify.training import load_training_data

    rows = []
    for freeze, cache in [(0, False), (1, False), (1, True), (2, False), (2, True), (3, True)]:
        config = load_config(CONFIG, overrides=[f"model.freeze_layers={freeze}",
                                                f"model.frozen_cache={str(cache).lower()}", "model.epochs=1"])
        df = load_training_data(config).sample(400, random_state=0)
        estimator = build_estimator(config.model, input_text=config.input.text, seed=0, progress=False)
        t0 = time.perf_counter()
        estimator.fit(model_input(df), df["label"].to_numpy())
        seconds = time.perf_counter() - t0
        rows.append({"freeze_layers": freeze, "frozen_cache": cache, "seconds": round(seconds, 1),
                     "measures_per_second": round(len(df) / seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)
    (RESULTS / "bert_fit_ablation.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if sys.argv[1:2] == ["fit-ablation"]:
        fit_ablation()
    elif sys.argv[1:2] == ["lono"]:
        lono(sys.argv[2:])
    else:
        sys.exit(__doc__)
