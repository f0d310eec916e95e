#!/usr/bin/env python
"""Benchmark every shipped config on this machine, in one run, with the same training functions as `classify train`.

For each config (default: ``configs/*.yaml``), in a fresh subprocess so that the memory high-water mark
belongs to that config alone: ``classify.training.run_training`` (leave-one-notice-out and
leave-one-issuer-kind-out, calibration, final fit), then prediction throughput of the shipped model
(batch and one by one), and the time a fresh ``classify predict`` process takes to its first row.
Family extras: TF-IDF — jieba against rjieba (token agreement, speed); encoder — int8 against fp32
(speed, argmax agreement on out-of-fold predictions). Plus reading + segmenting throughput.

Writes ``experiments/results/benchmark.json`` and ``benchmark.md`` (atomically) and prints the table.

    python experiments/benchmark.py [--configs configs/*.yaml] [--skip-bert] [--repeat-seeds N]
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
N_SINGLE = 100


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine_info() -> dict:
    import psutil

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.lower().startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu_model": cpu, "cores_usable": len(os.sched_getaffinity(0)), "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("classify", "torch", "transformers", "scikit-learn", "mlflow", "jieba", "rjieba"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


# --- workers (their own process) -----------------------------------------------------------------


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _fastest(fn, *args, repeat: int = 3, budget_s: float = 10.0):
    """Like :func:`_timed`, but the fastest of up to ``repeat`` calls (as timeit does: the slower calls measure
    the machine's other work); a call slower than ``budget_s`` is not repeated (BERT-sized passes)."""
    out, best = _timed(fn, *args)
    for _ in range(repeat - 1):
        if best > budget_s:
            break
        out, seconds = _timed(fn, *args)
        best = min(best, seconds)
    return out, best


def save_pyfunc(model, directory: Path) -> Path:
    """The trained model as an MLflow pyfunc folder (what `classify predict --model FOLDER` loads)."""
    import mlflow

    from classify.tracking import MeasureClassifierPyfunc, _signature

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model_dir")
        example = model.exemplars[["text", "heading"]].head(2)
        mlflow.pyfunc.save_model(str(directory), python_model=MeasureClassifierPyfunc(),
                                 artifacts={"model_dir": str(Path(tmp) / "model_dir")},
                                 signature=_signature(model.predict_frame(example)))
    return directory


def first_row_seconds(model_dir: Path) -> float:
    """Wall time of a fresh `classify predict` on one seed notice (imports, model load, first rows)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "classify.cli", "predict", "--model", str(model_dir), "--quiet",
                        str(REPO / "seeds" / "002_498a692be3e6a6d3.txt"), "--out", str(Path(tmp) / "o.jsonl")],
                       check=True, capture_output=True, cwd=REPO)
        return time.perf_counter() - t0


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
    _, seconds = _fastest(pipe.predict_proba, texts)
    return len(texts) / seconds


def tfidf_extras(result, pyfunc_per_second: float) -> dict:
    from classify.models.tfidf import jieba_tokenize, rjieba_tokenize

    texts = result.data["text_simplified"].tolist()
    jieba_tokenize(texts[0])
    rjieba_tokenize(texts[0])
    a, ta = _timed(lambda: [jieba_tokenize(t) for t in texts])
    b, tb = _timed(lambda: [rjieba_tokenize(t) for t in texts])
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
        cv8 = cross_validate(make_int8, X, result.data, "leave_one_notice_out",
                             notice_folds=config.evaluation.notice_folds, progress=False)
    int8 = make_int8().fit(X, result.data["label"].to_numpy())
    # a final fit with nothing cached: embedding every text included (the run's own fit reuses the CV's cache)
    fresh = build_estimator(config.model, input_text=config.input.text, seed=config.seed, progress=False)
    _, cold = _timed(fresh.fit, X, result.data["label"].to_numpy())
    p32, t32 = _timed(fp32.predict_proba, X)
    p8, t8 = _timed(int8.predict_proba, X)
    a32 = align_proba(p32, fp32.classes_).argmax(axis=1)
    a8 = align_proba(p8, int8.classes_).argmax(axis=1)
    return {"cold_fit_seconds": cold, "fp32_measures_per_second": len(X) / t32, "int8_measures_per_second": len(X) / t8,
            "int8_final_argmax_agreement": float(np.mean(a32 == a8)), **_lono_int8(result, cv8.proba)}


class Int8Folds:
    """on_fitted hook: each leave-one-notice-out fold model also predicts its held-out rows with int8 weights."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.proba = np.full((n, 5), np.nan)

    def __call__(self, scheme, model, X_test, test) -> None:
        from classify.evaluation import align_proba

        if scheme != "leave_one_notice_out":
            return
        model.set_quantize("int8")
        self.proba[test] = align_proba(model.predict_proba(X_test), model.classes_)
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
        _, seconds = _timed(lambda: pipe(inputs, **kwargs))
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
    _, t32 = _fastest(est.predict_proba, X, budget_s=60.0)
    est.set_quantize("int8")
    est.predict_proba(X.head(8))
    _, t8 = _fastest(est.predict_proba, X, budget_s=60.0)
    est.set_quantize("none")
    out = {"train_dtype": est.train_dtype_ or "float32", "fp32_measures_per_second": len(X) / t32,
           "int8_measures_per_second": len(X) / t8, "hf_pipeline_measures_per_second": _hf_pipeline_speed(est, X)}
    out["int8_speedup_over_hf_pipeline"] = out["int8_measures_per_second"] / out["hf_pipeline_measures_per_second"]
    # the fine-tuning target: leave-one-notice-out cross-validation plus the final fit
    out["lono_plus_final_fit_seconds"] = result.metrics.get("cv_wall_seconds", float("nan")) + result.metrics["train_seconds"]
    out.update(_onnx_speeds(est, X))
    if "leave_one_notice_out" in result.cvs:
        out.update(_lono_int8(result, int8_folds.proba))
    return out


def bench_config(config_path: Path, progress: bool, keep_models: Path | None = None) -> dict:
    from classify.config import load_config
    from classify.fileio import git_commit
    from classify.inputs import model_input
    from classify.training import load_training_data

    config = load_config(config_path)
    int8_folds = Int8Folds(len(load_training_data(config))) if config.model.family == "bert" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        result = run_training_quiet(config, progress, int8_folds)
        run_seconds = time.perf_counter() - t0
    model = result.model
    if keep_models is not None:
        model.save(keep_models / config.name)
    X = model_input(result.data)
    model.predict_frame(X.head(2))
    _, batch_s = _fastest(model.predict_frame, X)
    rows = [X.iloc[[i % len(X)]] for i in range(N_SINGLE)]
    _, single_s = _timed(lambda: [model.predict_frame(r) for r in rows])
    out = {"status": "ok", "config": str(config_path.relative_to(REPO)), "name": config.name,
           "family": config.model.family, "input": config.input.text, "git_commit": git_commit(REPO, short=True),
           "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
           "metrics": {k: v for k, v in result.metrics.items() if isinstance(v, float)},
           "run_seconds": run_seconds, "predict_batch_per_second": len(X) / batch_s,
           "predict_single_per_second": N_SINGLE / single_s, "threads": _threads()}
    with tempfile.TemporaryDirectory() as tmp:
        served = save_pyfunc(model, Path(tmp) / "pyfunc")
        out["pyfunc_batch_per_second"] = pyfunc_speed(served, result.data)
        out["first_row_seconds"] = first_row_seconds(served)
    out["calibration_methods"] = calibration_methods(result, config)
    if config.model.family == "tfidf":
        out["extras"] = tfidf_extras(result, out["pyfunc_batch_per_second"])
    elif config.model.family == "encoder":
        out["extras"] = encoder_extras(result, config)
    elif config.model.family == "bert":
        out["extras"] = bert_extras(result, int8_folds)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def calibration_methods(result, config) -> dict:
    """Every calibrator on the same out-of-fold rows, cross-fitted by fold: ECE, Brier, share of argmax kept."""
    import numpy as np

    from classify.calibration import (
        brier_score,
        cross_fitted_calibration,
        expected_calibration_error,
        label_index,
    )

    cv = result.cvs[result.calibration.scheme]
    y, groups = label_index(cv.oof["label"]), cv.oof["fold"].astype(str).to_numpy()
    out = {"none": {"ece": expected_calibration_error(cv.proba, y), "brier": brier_score(cv.proba, y), "argmax_kept": 1.0}}
    for method in ("temperature", "sigmoid", "isotonic"):
        q = cross_fitted_calibration(method, cv.proba, y, groups)
        out[method] = {"ece": expected_calibration_error(q, y), "brier": brier_score(q, y),
                       "argmax_kept": float(np.mean(q.argmax(axis=1) == cv.proba.argmax(axis=1)))}
    return out


def pyfunc_speed(served: Path, records) -> float:
    """Batch throughput of the MLflow pyfunc model as served (model input columns text, heading, issuer)."""
    import mlflow

    frame = records[[c for c in ("text", "heading", "issuer") if c in records]].reset_index(drop=True)
    loaded = mlflow.pyfunc.load_model(str(served))
    loaded.predict(frame.head(2))
    _, seconds = _fastest(loaded.predict, frame)
    return len(frame) / seconds


def run_training_quiet(config, progress, on_fitted=None):
    from classify.training import run_training

    return run_training(config, progress=progress, on_fitted=on_fitted)


def _threads() -> int | None:
    return sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None


def bench_reading(repeat: int) -> dict:
    from classify.notices.reading import read_notice
    from classify.notices.segmenting import segment_notice

    paths = sorted((REPO / "seeds").glob("*.txt"))
    segment_notice(read_notice(paths[0]))
    t0 = time.perf_counter()
    measures = sum(len(segment_notice(read_notice(p))) for _ in range(repeat) for p in paths)
    seconds = time.perf_counter() - t0
    return {"status": "ok", "notices": repeat * len(paths), "measures": measures, "seconds": seconds,
            "notices_per_second": repeat * len(paths) / seconds, "peak_rss_mb": peak_rss_mb()}


def run_worker(args) -> int:
    try:
        keep = Path(args.keep_models) if args.keep_models else None
        result = bench_config(Path(args.worker_config), not args.no_progress, keep) if args.worker_config \
            else bench_reading(args.repeat_seeds)
    except Exception as exc:  # noqa: BLE001 - reported in the results, not fatal to the benchmark
        traceback.print_exc()
        result = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    Path(args.result).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0 if result["status"] == "ok" else 1


def spawn(worker_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="classify-bench-") as tmp:
        result_file = Path(tmp) / "result.json"
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false", TRANSFORMERS_VERBOSITY="error", MLFLOW_LOGGING_LEVEL="ERROR")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *worker_args, "--result", str(result_file)],
                              cwd=REPO, env=env, check=False)
        wall = time.perf_counter() - t0
        result = json.loads(result_file.read_text()) if result_file.is_file() else \
            {"status": "failed", "reason": f"worker exited with status {proc.returncode}"}
    result["process_wall_seconds"] = wall
    return result


# --- report --------------------------------------------------------------------------------------


def _f(v, fmt="{:.3f}") -> str:
    return "–" if v is None else fmt.format(v)


def _extra(key: str, val: object) -> str:
    if not isinstance(val, int | float):
        return f"{key} {val}"  # a setting the run resolved, such as the training dtype
    return f"{key} {val:,.3f}" if val < 100 else f"{key} {val:,.0f}"


def render(report: dict) -> str:
    m, v = report["machine"], report["versions"]
    lines = ["## Benchmark", "",
             f"Machine: {m['cores_usable']} usable cores of {m['cpu_model']}, {m['ram_gib']} GiB RAM, {m['platform']}.  ",
             f"Versions: Python {v['python']}, torch {v['torch']}, transformers {v['transformers']}, scikit-learn "
             f"{v['scikit-learn']}, mlflow {v['mlflow']}, classify {v['classify']}.  ",
             f"Run {report['started_utc']} (git {report['git_commit']}): `{report['command']}`.", "",
             "| config | family | LONO macro-F1 | LOIKO macro-F1 | LOIKO real | LOIKO synthetic | seeds (LONO) | ECE "
             "| flagged for review | unflagged accuracy | train + CV (s) | final fit (s) | predict batch (/s) "
             "| served pyfunc batch (/s) | one by one (/s) | `predict` to first rows (s) | peak RSS (MB) | git |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in report["configs"]:
        if c["status"] != "ok":
            lines.append(f"| {c.get('name', c.get('config'))} | {c.get('family', '?')} | {c['status']}: "
                         f"{c.get('reason', '')} |" + " |" * 16)
            continue
        k = c["metrics"]
        lines.append(
            f"| {c['name']} | {c['family']} | {_f(k.get('cv_macro_f1'))} | {_f(k.get('kind_macro_f1'))} | "
            f"{_f(k.get('kind_real_macro_f1'))} | {_f(k.get('kind_synthetic_macro_f1'))} | "
            f"{_f(k.get('cv_science_bureau_macro_f1'))} | {_f(k.get('ece'))} | "
            f"{_f(k.get('review_flagged_fraction'), '{:.0%}')} | {_f(k.get('review_unflagged_accuracy'))} | "
            f"{c['run_seconds']:.0f} | {k.get('train_seconds', 0):.1f} | {c['predict_batch_per_second']:,.0f} | "
            f"{_f(c.get('pyfunc_batch_per_second'), '{:,.0f}')} | "
            f"{c['predict_single_per_second']:,.1f} | {c['first_row_seconds']:.1f} | {c['peak_rss_mb']:,.0f} | "
            f"{c.get('git_commit') or report['git_commit']} |")
    for c in report["configs"]:
        extras = c.get("extras")
        if not extras:
            continue
        lines += ["", f"{c['name']}: " + ", ".join(_extra(key, val) for key, val in extras.items()) + "."]
    with_methods = [c for c in report["configs"] if c.get("calibration_methods")]
    if with_methods:
        methods = list(with_methods[0]["calibration_methods"])
        lines += ["", "Calibrators on the same out-of-fold predictions (leave-one-issuer-kind-out, cross-fitted by fold): "
                      "ECE / Brier / share of labels unchanged.", "",
                  "| config | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
        for c in with_methods:
            cells = [f"{v['ece']:.3f} / {v['brier']:.3f} / {v['argmax_kept']:.3f}" for v in c["calibration_methods"].values()]
            lines.append(f"| {c['name']} | " + " | ".join(cells) + " |")
    r = report["reading"]
    if r.get("status") == "ok":
        lines += ["", f"Reading + segmenting: {r['notices']} notices (the five seeds repeated) in {r['seconds']:.2f} s: "
                      f"**{r['notices_per_second']:,.0f} notices/s**, {r['measures'] / r['seconds']:,.0f} measures/s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", type=Path)
    p.add_argument("--skip-bert", action="store_true", help="leave the fine-tuned BERT configs out (they take long)")
    p.add_argument("--repeat-seeds", type=int, default=50)
    p.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--keep-models", type=Path, help="save each config's final model under this folder")
    p.add_argument("--update", action="store_true",
                   help="replace only these configs' rows in the existing benchmark.json (each row keeps its own commit and time)")
    p.add_argument("--merge", nargs="+", type=Path, metavar="JSON",
                   help="only combine earlier benchmark.json files (later files win per config) into --out-dir")
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    p.add_argument("--worker-reading", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker_config or args.worker_reading:
        os.chdir(REPO)
        return run_worker(args)
    from classify.config import load_config
    from classify.fileio import atomic_write_text, git_commit

    if args.merge:
        return merge(args.merge, args.out_dir)
    configs = [c.resolve() for c in args.configs] if args.configs else sorted((REPO / "configs").glob("*.yaml"))
    os.chdir(REPO)
    started = datetime.now(UTC)
    results = []
    for i, path in enumerate(configs, 1):
        config = load_config(path)
        if args.skip_bert and config.model.family == "bert":
            results.append({"status": "skipped", "name": config.name, "family": "bert", "reason": "--skip-bert"})
            continue
        print(f"[{i}/{len(configs)}] {path.name}", file=sys.stderr, flush=True)
        results.append({"name": config.name, "family": config.model.family,
                        **spawn(["--worker-config", str(path)] + (["--no-progress"] if args.no_progress else [])
                                + (["--keep-models", str(args.keep_models.resolve())] if args.keep_models else []))})
    reading = spawn(["--worker-reading", "--repeat-seeds", str(args.repeat_seeds)])
    previous = args.out_dir / "benchmark.json"
    if args.update and previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        results = combine_rows([old, {"configs": results, "git_commit": git_commit(REPO, short=True)}])
    report = {"started_utc": started.isoformat(timespec="seconds"),
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["python", "experiments/benchmark.py", *(argv if argv is not None else sys.argv[1:])]),
              "git_commit": git_commit(REPO, short=True), "machine": machine_info(), "versions": versions(),
              "configs": results, "reading": reading}
    atomic_write_text(args.out_dir / "benchmark.json", json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(args.out_dir / "benchmark.md", render(report))
    print(render(report))
    return 1 if any(c["status"] == "failed" for c in results) or reading.get("status") != "ok" else 0


def combine_rows(reports: list[dict]) -> list[dict]:
    """Config rows of several reports, a later report's row replacing an earlier one's; each keeps its commit."""
    rows: dict[str, dict] = {}
    for report in reports:
        for row in report["configs"]:
            row.setdefault("git_commit", report.get("git_commit"))
            rows[row.get("name")] = row
    return sorted(rows.values(), key=lambda r: str(r.get("name")))


def merge(files: list[Path], out_dir: Path) -> int:
    """One report from several runs (two invocations that ran side by side, say); each row keeps its own commit."""
    from classify.fileio import atomic_write_text

    reports = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    merged = dict(reports[-1], configs=combine_rows(reports),
                  started_utc=min(r["started_utc"] for r in reports),
                  finished_utc=max(r["finished_utc"] for r in reports),
                  command=" ; ".join(r["command"] for r in reports))
    atomic_write_text(out_dir / "benchmark.json", json.dumps(merged, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(out_dir / "benchmark.md", render(merged))
    print(render(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
