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


# int8 variants scored on every fold model: (weight scale per output channel, pooler and head left fp32)
INT8_SCHEMES = {"per_tensor_all": (False, False), "per_tensor_encoder": (False, True),
                "per_channel_all": (True, False), "per_channel_encoder": (True, True)}


class Int8Schemes:
    """on_fitted hook: each fold model predicts its held-out rows once more under every int8 scheme."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.proba = {name: np.full((n, 5), np.nan) for name in INT8_SCHEMES}

    def __call__(self, scheme, model, X_test, test) -> None:
        from classify.evaluation import align_proba
        from classify.labels import LABELS
        from classify.models import transformer_utils as tu

        for name, (per_channel, encoder_only) in INT8_SCHEMES.items():
            model.inference_model_ = tu.quantize_int8(model.model_, per_channel, encoder_only)
            self.proba[name][test] = align_proba(model.predict_proba(X_test), model.classes_, LABELS)
        model.inference_model_ = model.model_

    def scores(self, result) -> dict:
        import numpy as np
        from sklearn.metrics import f1_score

        from classify.labels import LABELS

        cv = result.cvs["leave_one_notice_out"]
        y, a32 = cv.oof["label"].to_numpy(), cv.proba.argmax(axis=1)
        out = {}
        for name, proba in self.proba.items():
            a8 = proba.argmax(axis=1)
            out[name] = {"oof_argmax_agreement": round(float(np.mean(a8 == a32)), 4),
                         "lono_macro_f1": round(float(f1_score(y, np.asarray(LABELS)[a8], labels=list(LABELS),
                                                               average="macro", zero_division=0)), 4)}
        return out


def lono(variants: list[str]) -> None:
    from classify.config import load_config
    from classify.fileio import git_commit
    from classify.training import load_training_data, run_training

    only_lono = ["evaluation.schemes=[leave_one_notice_out]", "evaluation.calibrate_on=leave_one_notice_out"]
    for variant in variants:
        overrides = [v for v in variant.split(",") if v]
        config = load_config(CONFIG, overrides=only_lono + overrides)
        int8 = Int8Schemes(len(load_training_data(config)))
        result = run_training(config, progress=False, on_fitted=int8)
        m = result.metrics
        row = {"variant": overrides, "git_commit": git_commit(REPO, short=True),
               "train_dtype": result.model.estimator.train_dtype_ or "float32",
               "lono_seconds": m["lono_wall_seconds"], "final_fit_seconds": m["train_seconds"],
               "lono_plus_final_fit_seconds": m["lono_wall_seconds"] + m["train_seconds"],
               "lono_macro_f1": m["lono_macro_f1"], "lono_real_macro_f1": m["lono_real_macro_f1"],
               "lono_synthetic_macro_f1": m["lono_synthetic_macro_f1"], "ece": m["ece"],
               "int8_schemes": int8.scores(result)}
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
