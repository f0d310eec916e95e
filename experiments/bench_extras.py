#!/usr/bin/env python
"""Family-specific speed and quantisation measurements, beside the main benchmark (experiments/benchmark.py).

For each config, in its own process, a training run with the family's extra probes:
  tfidf   — jieba against rjieba (token agreement, speed); the served pyfunc against the plain
            jieba + char_wb TF-IDF + calibrated LinearSVC pipeline a user would write
  encoder — int8 (and the inner-layer scheme) against fp32: speed, argmax agreement on the final model and
            on leave-one-notice-out fold models, a cold final fit
  bert    — fp32 / torch int8 / ONNX Runtime fp32 and int8 / Hugging Face's pipeline on the final weights,
            int8 against fp32 on the leave-one-notice-out fold models, LONO + final fit seconds
Writes experiments/results/bench_extras.{json,md}.

    python experiments/bench_extras.py [--configs configs/tfidf_svm.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from benchlib import REPO, RESULTS_DIR, fastest, save_pyfunc, spawn, timed, write_worker_result


def plain_jieba_pipeline_speed(result) -> float:
    """The obvious pipeline a user would write (jieba words + char_wb 1-3 TF-IDF, sigmoid-calibrated LinearSVC),
    trained on the same measures; batch predict_proba throughput on the same texts."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.svm import LinearSVC

    from classify.models.tfidf import jieba_tokenize

    texts, y = result.data["text_simplified"].tolist(), result.data["label"].to_numpy()
    features = FeatureUnion([
        ("words", TfidfVectorizer(tokenizer=jieba_tokenize, token_pattern=None, ngram_range=(1, 2), sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True))])
    pipe = make_pipeline(features, CalibratedClassifierCV(LinearSVC(class_weight="balanced"), cv=3, method="sigmoid"))
    pipe.fit(texts, y)
    pipe.predict_proba(texts[:2])
    _, seconds = fastest(pipe.predict_proba, texts)
    return len(texts) / seconds


def tfidf_extras(result, pyfunc_per_second: float) -> dict:
    from classify.models.tfidf import jieba_tokenize, rjieba_tokenize

    texts = result.data["text_simplified"].tolist()
    jieba_tokenize(texts[0])
    rjieba_tokenize(texts[0])
    a, ta = timed(lambda: [jieba_tokenize(t) for t in texts])
    b, tb = timed(lambda: [rjieba_tokenize(t) for t in texts])
    from collections import Counter

    same = sum(x == y for x, y in zip(a, b, strict=True))
    tokens = sum(max(len(x), len(y)) for x, y in zip(a, b, strict=True))
    # tokens the two agree on, counted with multiplicity, over the longer tokenisation of each measure
    agree = sum(sum((Counter(x) & Counter(y)).values()) for x, y in zip(a, b, strict=True)) / max(1, tokens)
    plain = plain_jieba_pipeline_speed(result)
    return {"jieba_measures_per_second": len(texts) / ta, "rjieba_measures_per_second": len(texts) / tb,
            "token_lists_identical": same / len(texts), "token_overlap": agree,
            "plain_jieba_pipeline_measures_per_second": plain, "pyfunc_over_plain_pipeline": pyfunc_per_second / plain}


def _lono_int8(result, p8) -> dict:
    """int8 against fp32 on the leave-one-notice-out predictions of the same fold models."""
    import numpy as np
    from sklearn.metrics import f1_score

    from classify.labels import LABELS

    lono = result.cvs["leave_one_notice_out"]
    y = lono.oof["label"].to_numpy()
    a32, a8 = lono.proba.argmax(axis=1), p8.argmax(axis=1)
    f1 = lambda a: f1_score(y, np.asarray(LABELS)[a], labels=list(LABELS), average="macro", zero_division=0)  # noqa: E731
    return {"int8_oof_argmax_agreement": float(np.mean(a32 == a8)), "fp32_lono_macro_f1": f1(a32),
            "int8_lono_macro_f1": f1(a8)}


def encoder_extras(result, config) -> dict:
    """int8 (torch dynamic quantisation of the encoder's Linear layers) against fp32: speed on the final
    model, and leave-one-notice-out agreement and macro-F1 of an int8 run of the same folds."""
    import numpy as np

    from classify.evaluation import align_proba, cross_validate
    from classify.inputs import model_input
    from classify.models import build_estimator
    from classify.models.encoder import embedding_cache

    X = model_input(result.data)
    fp32 = result.model.estimator

    def make_int8():
        return build_estimator(config.model.model_copy(update={"quantize": "int8"}), input_text=config.input.text,
                               seed=config.seed, progress=False)

    with embedding_cache():
        cv8 = cross_validate(make_int8, X, result.data, "leave_one_notice_out", config.scheme().labels,
                             notice_folds=config.evaluation.notice_folds, progress=False)
    int8 = make_int8().fit(X, result.data["label"].to_numpy())
    # a final fit with nothing cached: embedding every text included (the run's own fit reuses the CV's cache)
    fresh = build_estimator(config.model, input_text=config.input.text, seed=config.seed, progress=False)
    _, cold = timed(fresh.fit, X, result.data["label"].to_numpy())
    p32, t32 = timed(fp32.predict_proba, X)
    p8, t8 = timed(int8.predict_proba, X)
    labels = config.scheme().labels
    a32 = align_proba(p32, fp32.classes_, labels).argmax(axis=1)
    a8 = align_proba(p8, int8.classes_, labels).argmax(axis=1)
    return {"cold_fit_seconds": cold, "fp32_measures_per_second": len(X) / t32, "int8_measures_per_second": len(X) / t8,
            "int8_final_argmax_agreement": float(np.mean(a32 == a8)), **_lono_int8(result, cv8.proba)}


class Int8Folds:
    """on_fitted hook: each leave-one-notice-out fold model also predicts its held-out rows with int8 weights."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.proba = np.full((n, 5), np.nan)

    def __call__(self, scheme, model, X_test, test) -> None:
        from classify.evaluation import align_proba
        from classify.labels import LABELS

        if scheme != "leave_one_notice_out":
            return
        model.set_quantize("int8")
        self.proba[test] = align_proba(model.predict_proba(X_test), model.classes_, LABELS)
        model.set_quantize("none")


def _onnx_speeds(est, X) -> dict:
    """The same fine-tuned weights exported to ONNX, fp32 and ONNX Runtime dynamic int8, with the project's batching."""
    import numpy as np
    import torch

    try:
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return {}
    from classify.models import transformer_utils as tu

    features = est._features(X)
    lengths = np.array([len(f["input_ids"]) for f in features])
    names = list(features[0])
    out = {}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = tu.collate(est.tokenizer_, features[:4], "cpu")
        fp32 = Path(tmp) / "model.onnx"
        torch.onnx.export(est.model_.eval(), tuple(sample[k] for k in names), str(fp32), input_names=names,
                          output_names=["logits"], dynamo=False, opset_version=17,
                          dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in names}, "logits": {0: "batch"}})
        int8 = Path(tmp) / "model.int8.onnx"
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        logits = {}
        for tag, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            res = np.zeros((len(features), len(est.classes_)))
            t0 = time.perf_counter()
            for chunk in tu.length_batches(lengths, max(est.batch_size, 32), None):
                batch = tu.collate(est.tokenizer_, [features[i] for i in chunk], "cpu")
                res[chunk] = session.run(None, {k: batch[k].numpy() for k in names})[0]
            out[f"{tag}_measures_per_second"] = len(features) / (time.perf_counter() - t0)
            logits[tag] = res
        out["onnx_int8_argmax_agreement_with_fp32"] = float(np.mean(logits["onnx_fp32"].argmax(1)
                                                                    == logits["onnx_int8"].argmax(1)))
    return out


def _hf_pipeline_speed(est, X) -> float:
    """Hugging Face's text-classification pipeline on the same saved weights, batch 32."""
    from transformers import pipeline

    from classify.inputs import context_texts, measure_texts

    texts, context = measure_texts(X), context_texts(X, est.input_text)
    inputs = texts if context is None else [{"text": c, "text_pair": t} for c, t in zip(context, texts, strict=True)]
    with tempfile.TemporaryDirectory() as tmp:
        est.model_.save_pretrained(tmp)
        est.tokenizer_.save_pretrained(tmp)
        pipe = pipeline("text-classification", model=tmp, tokenizer=tmp, device="cpu")
        kwargs = {"batch_size": 32, "truncation": True, "max_length": est.max_length}
        pipe(inputs[:4], **kwargs)
        _, seconds = timed(lambda: pipe(inputs, **kwargs))
    return len(inputs) / seconds


def bert_extras(result, int8_folds: Int8Folds) -> dict:
    """Fine-tuned BERT: fp32 / torch int8 / ONNX Runtime fp32 and int8 / the HF pipeline on the final model's
    weights, and int8 against fp32 on the leave-one-notice-out fold models."""
    from classify.inputs import model_input

    X = model_input(result.data)
    est = result.model.estimator
    # best of 3 full passes, like the other rows' throughput (a single pass varied by 20% between processes)
    est.set_quantize("none")
    est.predict_proba(X.head(8))
    _, t32 = fastest(est.predict_proba, X, budget_s=60.0)
    est.set_quantize("int8")
    est.predict_proba(X.head(8))
    _, t8 = fastest(est.predict_proba, X, budget_s=60.0)
    est.set_quantize("none")
    out = {"train_dtype": est.train_dtype_ or "float32", "fp32_measures_per_second": len(X) / t32,
           "int8_measures_per_second": len(X) / t8, "hf_pipeline_measures_per_second": _hf_pipeline_speed(est, X)}
    out["int8_speedup_over_hf_pipeline"] = out["int8_measures_per_second"] / out["hf_pipeline_measures_per_second"]
    # the fine-tuning target: leave-one-notice-out cross-validation plus the final fit
    out["lono_plus_final_fit_seconds"] = result.metrics.get("lono_wall_seconds", float("nan")) + result.metrics["train_seconds"]
    out.update(_onnx_speeds(est, X))
    if "leave_one_notice_out" in result.cvs:
        out.update(_lono_int8(result, int8_folds.proba))
    return out


def _pyfunc_per_second(model, data) -> float:
    import mlflow

    frame = data[["text", "heading", "issuer"]].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = mlflow.pyfunc.load_model(str(save_pyfunc(model, Path(tmp) / "pyfunc")))
        loaded.predict(frame.head(2))
        _, seconds = fastest(loaded.predict, frame)
    return len(frame) / seconds


def extras_for(config_path: Path) -> dict:
    """One config's family extras (the families with none give an empty dict)."""
    from classify.config import load_config
    from classify.training import load_training_data, run_training

    config = load_config(config_path)
    family = config.model.family
    int8_folds = Int8Folds(len(load_training_data(config))) if family == "bert" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_training(config, progress=False, on_fitted=int8_folds)
    # a measurement tool per family: the probes differ in kind, not only in numbers
    if family == "tfidf":
        extras = tfidf_extras(result, _pyfunc_per_second(result.model, result.data))
    elif family == "encoder":
        extras = encoder_extras(result, config)
    elif family == "bert":
        extras = bert_extras(result, int8_folds)
    else:
        extras = {}
    return {"status": "ok", "name": config.name, "family": family, "extras": extras}


def _value(val: object) -> str:
    if not isinstance(val, int | float):
        return str(val)
    return f"{val:,.3f}" if val < 100 else f"{val:,.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", type=Path)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.chdir(REPO)
    if args.worker_config:
        return write_worker_result(args.result, lambda: extras_for(Path(args.worker_config)))
    from classify.fileio import atomic_write_text, git_commit

    configs = [c.resolve() for c in args.configs] if args.configs else sorted((REPO / "configs").glob("*.yaml"))
    rows = [spawn(Path(__file__).resolve(), ["--worker-config", str(c)]) for c in configs]
    report = {"git_commit": git_commit(REPO, short=True), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}
    lines = [f"Family extras (git {report['git_commit']}):", ""]
    for r in rows:
        if r.get("status") == "ok" and r["extras"]:
            lines.append(f"- {r['name']}: " + ", ".join(f"{k} {_value(v)}" for k, v in r["extras"].items()))
        elif r.get("status") != "ok":
            lines.append(f"- {r.get('name', '?')}: {r.get('reason')}")
    atomic_write_text(RESULTS_DIR / "bench_extras.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(RESULTS_DIR / "bench_extras.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r.get("status") == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
