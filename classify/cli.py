"""`classify` command line: a thin layer over the library functions that the tests call too."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# Quieter MLflow/transformers output for a command-line user; set before those modules load.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# MLflow's INFO lines and its cloudpickle advice are noise for a command-line user; MLflow reads
# this when it is imported (a logger level set earlier would be reset).
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")


def _known_errors() -> tuple[type[BaseException], ...]:
    from classify.config import ConfigError
    from classify.dataset import DataError
    from classify.predicting import MeasuresFileError
    from classify.pretrained import ChecksumError, ModelNotFoundError
    from classify.reading import NoticeError
    from classify.tracking import TrackingError

    return (ConfigError, DataError, NoticeError, TrackingError, MeasuresFileError, ModelNotFoundError, ChecksumError)


def _fmt_table(df, floatfmt: str = "{:.3f}") -> str:
    """Plain-text table: the index as first column, text left-aligned, numbers right-aligned."""
    headers = [str(df.index.name or ""), *map(str, df.columns)]
    import numbers

    body, numeric = [], []
    for idx, row in df.iterrows():
        cells, kinds = [str(idx)], [False]
        for v in row:
            kinds.append(isinstance(v, numbers.Number))
            if isinstance(v, float):
                cells.append(floatfmt.format(v) if v == v else "-")
            else:
                cells.append("-" if v is None else str(v))
        body.append(cells)
        numeric.append(kinds)
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    for cells, kinds in zip(body, numeric, strict=True):
        lines.append("  ".join(c.rjust(w) if num else c.ljust(w)
                               for c, w, num in zip(cells, widths, kinds, strict=True)).rstrip())
    return "\n".join(lines)


# --- commands ---------------------------------------------------------------------------------


def cmd_segment(args: argparse.Namespace) -> int:
    from classify.dataset import write_records
    from classify.segmenting import segment_files

    segmented, errors = segment_files(args.inputs)
    for path, measures in segmented:
        print(f"{len(measures):5d}  {path}")
    records = [m.to_dict() for _, measures in segmented for m in measures]
    print(f"{len(records):5d}  measures in {len(segmented)} notice(s)")
    if args.out and (records or not errors):  # a failed run leaves an existing --out file as it was
        write_records(records, args.out)
        print(f"wrote {args.out}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


def cmd_train(args: argparse.Namespace) -> int:
    from classify.config import load_config
    from classify.labels import LABELS
    from classify.tracking import train

    config = load_config(args.config, args.set)
    result = train(config, promote=args.promote, progress=not args.quiet)
    m = result.metrics
    print(f"\n{config.name} ({config.model.family}, input: {config.input.text}) — leave-one-notice-out over "
          f"{config.data.path}")
    print(f"  macro-F1 {m['cv_macro_f1']:.3f}   accuracy {m['cv_accuracy']:.3f}   "
          f"fold macro-F1 {m['cv_fold_macro_f1_mean']:.3f} ± {m['cv_fold_macro_f1_std']:.3f}")
    for lab in LABELS:
        print(f"  {lab:16s} P {m[f'cv_precision_{lab}']:.3f}  R {m[f'cv_recall_{lab}']:.3f}  F1 {m[f'cv_f1_{lab}']:.3f}")
    print(f"  final fit {m['train_seconds']:.1f} s; cross-validation {m['cv_wall_seconds']:.1f} s")
    alias = "candidate" + (", champion" if result.promoted else "")
    print(f"registered {result.registered_model} v{result.version} ({alias}); run {result.run_id}")
    if args.promote and not result.promoted:
        print("champion unchanged: the current champion's CV macro-F1 is at least as good")
    print(f"tracking store: {result.tracking_uri}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from classify.predicting import (
        load_model,
        predict_measures,
        predict_notices,
        read_measures_file,
        summary_table,
        write_predictions,
    )
    from classify.tracking import connect, default_model_uri

    if not args.inputs and not args.measures:
        print("error: give notice files/folders, or --measures FILE.jsonl", file=sys.stderr)
        return 2
    connect(args.tracking_uri)
    uri = args.model or default_model_uri(args.registered_model)
    measures = read_measures_file(args.measures) if args.measures else None  # validate input before loading
    model = load_model(uri)
    print(f"model: {uri}", file=sys.stderr)
    if measures is not None:
        rows = predict_measures(model, measures)
        errors = []
        print(_fmt_table(rows["label"].value_counts().sort_index().to_frame("measures")))
    else:
        result = predict_notices(model, args.inputs, progress=not args.quiet)
        rows, errors = result.rows, result.errors
        print(_fmt_table(summary_table(rows)))
    if args.out and (len(rows) or not errors):  # a failed run leaves an existing --out file as it was
        n = write_predictions(rows, args.out)
        print(f"wrote {n} rows to {args.out}")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} file(s) could not be used", file=sys.stderr)
    return 1 if errors else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from classify.tracking import compare_runs, connect

    connect(args.tracking_uri)
    table = compare_runs(args.experiment)
    if table.empty:
        print(f"no training runs in experiment {args.experiment!r}")
        return 0
    table = table.copy()
    table["started"] = table["started"].astype(str).str.slice(0, 16)
    table["run_id"] = table["run_id"].str.slice(0, 8)
    shown = table.head(args.limit).reset_index(drop=True)
    shown.index = shown.index + 1
    shown.index.name = "#"
    print(_fmt_table(shown))
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from classify.pretrained import pull_model

    path = pull_model(args.name, Path(args.dest) if args.dest else None)  # prints progress and licence
    print(f"{args.name} ready at {path}")
    return 0


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classify", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("segment", help="cut notices into measures")
    s.add_argument("inputs", nargs="+", help="notice files (.txt/.html) or folders")
    s.add_argument("--out", help="write measures to .jsonl or .csv")
    s.set_defaults(func=cmd_segment)

    t = sub.add_parser("train", help="cross-validate, train, log to MLflow and register a model")
    t.add_argument("--config", required=True, help="YAML config (see configs/)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    t.add_argument("--promote", action="store_true", help="move alias 'champion' here if CV macro-F1 is better")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("predict", help="classify the measures of new notices")
    r.add_argument("inputs", nargs="*", help="notice files (.txt/.html) or folders")
    r.add_argument("--measures", help="JSONL of measures ({'text', 'heading'?, 'id'?}) instead of notices")
    r.add_argument("--model", help="model URI (default: models:/<registered>@champion, else @candidate)")
    r.add_argument("--registered-model", default="measure-classifier")
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or experiments/)")
    r.add_argument("--out", help="write one row per measure to .csv or .jsonl")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)

    c = sub.add_parser("compare", help="table of training runs, best first")
    c.add_argument("--experiment", default="classify")
    c.add_argument("--tracking-uri")
    c.add_argument("--limit", type=int, default=20)
    c.set_defaults(func=cmd_compare)

    m = sub.add_parser("models", help="pretrained models for the BERT family")
    msub = m.add_subparsers(dest="models_command", required=True)
    pull = msub.add_parser("pull", help="fetch a known pretrained model into the local cache (models/)")
    pull.add_argument("name", help="e.g. m3e-small")
    pull.add_argument("--dest", help="cache folder (default: $CLASSIFY_MODELS_DIR or ./models)")
    pull.set_defaults(func=cmd_models_pull)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if getattr(args, "tracking_uri", None):
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri  # an explicit flag beats the environment
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: nothing was registered and no alias moved", file=sys.stderr)
        return 130
    except _known_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """Console entry point: ``main`` with its return value as the exit status."""
    code = main()
    # The command has finished and reported. Interpreter teardown takes about a second once MLflow
    # and scikit-learn are loaded, and Python has restored the default SIGINT action by then, so a
    # late Ctrl-C would turn a finished run's exit status into "killed by SIGINT".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
