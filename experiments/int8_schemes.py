"""Which Linear layers of the fine-tuned BERT to run in int8 (issue: int8 agreeing with fp32 on >= 99% of
out-of-fold argmaxes, at >= 100 measures/s on 2 threads).

    python experiments/int8_schemes.py train /tmp/folds   # fit and save the 5 leave-one-notice-out fold models
    python experiments/int8_schemes.py score /tmp/folds   # every scheme on every fold's held-out rows

`score` writes experiments/results/int8_schemes.json: per scheme the argmax agreement with fp32 over all
out-of-fold rows, the LONO macro-F1, and the speed on 600 measures (best of 2 passes, fold 0's model).
The shipped scheme (`transformer_utils.int8_for_inference`) is per-tensor int8 with the inner layers' FFN
output projections in bf16 where the CPU has it, else fp32. Run it alone: two torch jobs slow each other.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "bert_m3e_small_heading.yaml"

# name: (per-channel weight scales, FFN output projections not quantised, the dtype they run in)
SCHEMES: dict[str, tuple[bool, tuple[int, ...], str]] = {
    "per_tensor_all": (False, (), "fp32"),
    "per_channel_all": (True, (), "fp32"),
    "per_tensor_ffn_out_fp32_all_layers": (False, (0, 1, 2, 3), "fp32"),
    "per_tensor_ffn_out_fp32_layers_0_1": (False, (0, 1), "fp32"),
    "per_tensor_ffn_out_fp32_layers_1_2": (False, (1, 2), "fp32"),
    "per_channel_ffn_out_fp32_layers_1_2": (True, (1, 2), "fp32"),
    "per_tensor_ffn_out_fp32_layers_0_1_2": (False, (0, 1, 2), "fp32"),
    "per_tensor_ffn_out_bf16_layers_1_2": (False, (1, 2), "bf16"),
    "per_tensor_ffn_out_bf16_all_layers": (False, (0, 1, 2, 3), "bf16"),
}


def _data():
    from classify.config import load_config
    from classify.inputs import model_input
    from classify.training import load_training_data

    config = load_config(CONFIG)
    df = load_training_data(config)
    return config, df, model_input(df)


def train(folder: Path) -> None:
    from classify.evaluation import splits
    from classify.models import build_estimator

    config, df, X = _data()
    y = df["label"].to_numpy()
    for k, (name, fit_rows, test) in enumerate(splits(df, "leave_one_notice_out", config.evaluation.notice_folds)):
        est = build_estimator(config.model, input_text=config.input.text, seed=config.seed, progress=False)
        est.fit(X.iloc[fit_rows].reset_index(drop=True), y[fit_rows])
        est.save(folder / f"f{k}")
        np.save(folder / f"f{k}_test.npy", test)
        print(k, name, len(test), est.train_dtype_ or "float32", flush=True)


def score(folder: Path) -> None:
    from sklearn.metrics import f1_score

    from classify.evaluation import align_proba
    from classify.labels import LABELS
    from classify.models import transformer_utils as tu
    from classify.models.bert import BertMeasureClassifier

    _, df, X = _data()
    tu.tune_allocator()
    y = df["label"].to_numpy()
    fp32 = np.zeros((len(df), len(LABELS)))
    int8 = {name: np.zeros_like(fp32) for name in SCHEMES}
    folds = sorted(folder.glob("f[0-9]"))
    for path in folds:
        est = BertMeasureClassifier.load(path)
        test = np.load(f"{path}_test.npy", allow_pickle=True)
        Xt = X.iloc[test].reset_index(drop=True)
        est.inference_model_ = est.model_
        fp32[test] = align_proba(est.predict_proba(Xt), est.classes_, LABELS)
        for name, (per_channel, keep, kept_in) in SCHEMES.items():
            est.inference_model_ = tu.quantize_int8(est.model_, per_channel, keep_ffn_output_layers=keep, kept_in=kept_in)
            int8[name][test] = align_proba(est.predict_proba(Xt), est.classes_, LABELS)
    est = BertMeasureClassifier.load(folds[0])
    sample = X.head(600)

    def speed() -> float:
        est.predict_proba(sample.head(64))
        best = 0.0
        for _ in range(2):
            t0 = time.perf_counter()
            est.predict_proba(sample)
            best = max(best, len(sample) / (time.perf_counter() - t0))
        return round(best, 1)

    f1 = lambda a: round(float(f1_score(y, np.asarray(LABELS)[a], labels=list(LABELS), average="macro",  # noqa: E731
                                        zero_division=0)), 4)
    a32 = fp32.argmax(axis=1)
    est.inference_model_ = est.model_
    rows = [{"scheme": "fp32", "oof_argmax_agreement": 1.0, "lono_macro_f1": f1(a32), "measures_per_second": speed()}]
    for name, (per_channel, keep, kept_in) in SCHEMES.items():
        est.inference_model_ = tu.quantize_int8(est.model_, per_channel, keep_ffn_output_layers=keep, kept_in=kept_in)
        a8 = int8[name].argmax(axis=1)
        rows.append({"scheme": name, "oof_argmax_agreement": round(float(np.mean(a8 == a32)), 4),
                     "disagreements": int(np.sum(a8 != a32)), "lono_macro_f1": f1(a8), "measures_per_second": speed()})
        print(json.dumps(rows[-1]), flush=True)
    out = REPO / "experiments" / "results" / "int8_schemes.json"
    out.write_text(json.dumps({"rows": len(df), "folds": len(folds), "schemes": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    if len(sys.argv) != 3 or sys.argv[1] not in ("train", "score"):
        sys.exit(__doc__)
    (train if sys.argv[1] == "train" else score)(Path(sys.argv[2]))
