"""`classify` command line: a thin layer over the library functions that the tests call too.

Every error the package raises on purpose is a ClassifyError and is printed as one line; anything
else is printed as one line with a pointer to --debug, which shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import unicodedata
from pathlib import Path

# Quieter MLflow/transformers output for a command-line user; set before those modules load.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# MLflow reads this when it is imported (a logger level set earlier would be reset).
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")

EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 130, 143


def _width(text: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def fmt_table(df, floatfmt: str = "{:.3f}") -> str:
    """Plain-text table: the index as first column, text left-aligned, numbers right-aligned (by display width)."""
    import numbers

    headers = [str(df.index.name or ""), *map(str, df.columns)]
    body, numeric = [], []
    for idx, row in df.iterrows():
        cells, kinds = [str(idx)], [False]
        for v in row:
            kinds.append(isinstance(v, numbers.Number) and not isinstance(v, bool))
            if isinstance(v, float):
                cells.append(floatfmt.format(v) if v == v else "-")
            else:
                cells.append("-" if v is None else str(v))
        body.append(cells)
        numeric.append(kinds)
    widths = [max([_width(h), *(_width(r[i]) for r in body)]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for cells, kinds in zip(body, numeric, strict=True):
        lines.append("  ".join(_pad(c, w, num) for c, w, num in zip(cells, widths, kinds, strict=True)).rstrip())
    return "\n".join(lines)


# --- commands ---------------------------------------------------------------------------------


def cmd_segment(args: argparse.Namespace) -> int:
    import contextlib

    from classify.errors import NoticeError
    from classify.fileio import check_output_path, record_writer
    from classify.notices.files import segment_paths

    if args.out:
        check_output_path(args.out, args.inputs)  # before any notice is read
    errors, notices, count = [], 0, 0
    try:
        with contextlib.ExitStack() as stack:
            writer = stack.enter_context(record_writer(args.out)) if args.out else None
            for item in segment_paths(args.inputs):
                if isinstance(item, NoticeError):
                    errors.append(item)
                    continue
                notices += 1
                count += len(item.measures)
                print(f"{len(item.measures):5d}  {item.path}")
                for m in item.measures if writer is not None else ():
                    writer.write(m.to_dict())
            if writer is not None and not count and errors:
                raise _Discard()  # a failed run leaves an existing --out file as it was
        if args.out:
            print(f"wrote {args.out}")
    except _Discard:
        pass
    print(f"{count:5d}  measures in {notices} notice(s)")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


class _Discard(Exception):
    """Raised inside the writer's block so that it drops its temporary file."""


def cmd_train(args: argparse.Namespace) -> int:
    from classify.config import load_config
    from classify.labels import LABELS
    from classify.tracking import train

    config = load_config(args.config, args.set)
    result = train(config, promote=args.promote, progress=not args.quiet)
    m = result.metrics
    print(f"\n{config.name} ({config.model.family}, input: {config.input.text}) on {config.data.path}: "
          f"{int(m['n_measures'])} measures, {int(m['n_notices'])} notices")
    if "cv_macro_f1" in m:
        print(f"  leave-one-notice-out      macro-F1 {m['cv_macro_f1']:.3f}   accuracy {m['cv_accuracy']:.3f}")
    if "kind_macro_f1" in m:
        print(f"  leave-one-issuer-kind-out macro-F1 {m['kind_macro_f1']:.3f}   accuracy {m['kind_accuracy']:.3f}")
    prefix = "cv" if "cv_macro_f1" in m else "kind"
    for lab in LABELS:
        print(f"  {lab:16s} P {m[f'{prefix}_precision_{lab}']:.3f}  R {m[f'{prefix}_recall_{lab}']:.3f}  "
              f"F1 {m[f'{prefix}_f1_{lab}']:.3f}")
    method = config.evaluation.calibration
    how = f"temperature {m['calibration_temperature']:.2f}" if method == "temperature" else method
    print(f"  calibration: ECE {m['ece_uncalibrated']:.3f} -> {m['ece']:.3f} ({how}); review below confidence {m['review_threshold']:.2f} flags "
          f"{m['review_flagged_fraction']:.0%}, the rest are right {m['review_unflagged_accuracy']:.1%} of the time")
    print(f"  final fit {m['train_seconds']:.1f} s; whole run {m['run_wall_seconds']:.1f} s")
    alias = "candidate" + (", champion" if result.promoted else "")
    print(f"registered {result.registered_model} v{result.version} ({alias}); run {result.run_id}")
    if args.promote and not result.promoted:
        print("champion unchanged: the current champion's CV macro-F1 is at least as good")
    print(f"tracking store: {result.tracking_uri}")
    return 0


def _model(args: argparse.Namespace):
    from classify.tracking import load_model

    uri = _model_uri(args)
    model = load_model(uri)
    print(f"model: {uri}", file=sys.stderr)
    return model


def _model_uri(args: argparse.Namespace) -> str:
    """The model URI ``_model`` loads (a folder made absolute: Spark executors and MLflow runs get it as is)."""
    from classify.tracking import connect, default_model_uri

    if args.model and not args.model.startswith(("models:/", "runs:/")) and Path(args.model).exists():
        return str(Path(args.model).resolve())
    connect(args.tracking_uri)
    return args.model or default_model_uri(args.registered_model)


def cmd_predict(args: argparse.Namespace) -> int:
    import time

    from classify.fileio import check_output_path
    from classify.labels import LABELS
    from classify.predict.local import predict_measures, predict_notices, read_measures_file, write_rows

    if not args.inputs and not args.measures:
        print("error: give notice files/folders, or --measures FILE.jsonl", file=sys.stderr)
        return EXIT_ERROR
    if args.log_run and (args.measures or not args.out):
        print("error: --log-run records a batch of notices and its --out file; give both", file=sys.stderr)
        return EXIT_ERROR
    if args.engine == "spark":
        from classify.predict.spark import check_spark_output, format_summary, predict_spark

        if args.measures or args.review_out or args.explain:
            print("error: --engine spark reads notices and writes --out only "
                  "(no --measures, --review-out or --explain)", file=sys.stderr)
            return EXIT_ERROR
        if not args.out:
            print("error: --engine spark needs --out FILE.parquet (a folder) or FILE.csv", file=sys.stderr)
            return EXIT_ERROR
        check_spark_output(args.out)  # before Spark starts
        uri = _model_uri(args)
        print(f"model: {uri}", file=sys.stderr)
        result = predict_spark(uri, args.inputs, args.out, master=args.spark_master, review_below=args.review_below)
        print(format_summary(result))
        if args.log_run and result["rows"]:
            _log_batch(args, uri, result["files"], result["out"], result["counts"], "spark", result["errors"],
                       result["review"], result["seconds"])
        for path, reason in result["errors"]:
            print(f"error: {path}: {reason}", file=sys.stderr)
        if result["errors"]:
            print(f"{len(result['errors'])} file(s) could not be used", file=sys.stderr)
        return 1 if result["errors"] else 0
    inputs = [*args.inputs, *([args.measures] if args.measures else [])]
    for out in (args.out, args.review_out):
        if out:
            check_output_path(out, inputs)  # before any model is loaded or notice read
    measures = read_measures_file(args.measures) if args.measures else None
    model = _model(args)
    if measures is not None:
        rows = predict_measures(model, measures, review_below=args.review_below, explain=args.explain)
        table = rows["label"].value_counts().reindex(sorted(set(rows["label"]))).to_frame("measures")
        table["review"] = rows.groupby("label")["needs_review"].sum().astype(int)
        print(fmt_table(table))
        if args.out:
            print(f"wrote {write_rows(rows, args.out)} rows to {args.out}")
        if args.review_out:
            flagged = rows[rows["needs_review"]]
            print(f"wrote {write_rows(flagged, args.review_out)} measures to review to {args.review_out}")
        return 0
    started = time.perf_counter()
    used: dict[str, None] = {}  # the files that gave rows, in order (hashed by --log-run)
    summary = predict_notices(model, args.inputs, out=args.out, review_out=args.review_out,
                              review_below=args.review_below, explain=args.explain, progress=not args.quiet,
                              on_rows=(lambda rows: used.update(dict.fromkeys(rows["file"]))) if args.log_run else None)
    print(fmt_table(summary.table()))
    if args.log_run and summary.rows:
        counts = {lab: sum(c.get(lab, 0) for c in summary.counts.values()) for lab in LABELS}
        _log_batch(args, _model_uri(args), [*used, *(e.path for e in summary.errors)], args.out, counts, "local",
                   [(e.path, e.problem) for e in summary.errors], sum(summary.review.values()),
                   time.perf_counter() - started)
    if args.out and summary.rows:
        print(f"wrote {summary.rows} rows to {args.out}")
    if args.review_out and summary.rows:
        print(f"wrote the measures to review to {args.review_out}")
    for e in summary.errors:
        print(f"error: {e}", file=sys.stderr)
    if summary.errors:
        print(f"{len(summary.errors)} file(s) could not be used", file=sys.stderr)
    return 1 if summary.errors else 0


def _log_batch(args: argparse.Namespace, uri: str, files: list[str], out: str, counts: dict[str, int], engine: str,
               errors: list[tuple[str, str]], review: int, seconds: float) -> None:
    from classify.predict.runlog import log_batch_run
    from classify.tracking import connect

    connect(args.tracking_uri, create=True)  # a model folder needs no store, but the batch run goes into one
    run_id = log_batch_run(uri, files, out, counts, engine=engine, errors=errors, review=review, seconds=seconds)
    print(f"logged batch run {run_id}", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    from classify.errors import TrackingError
    from classify.predict.runlog import model_card
    from classify.reporting import build_report

    if Path(args.out).suffix.lower() not in (".html", ".htm"):
        print(f"error: {args.out}: the report is an HTML page; give a name ending in .html", file=sys.stderr)
        return EXIT_ERROR
    if Path(args.out).resolve() == Path(args.predictions).resolve():
        print(f"error: {args.out}: is also the predictions file; choose another output", file=sys.stderr)
        return EXIT_ERROR
    try:
        uri = _model_uri(args)
        card = model_card(uri, note=None if args.model else
                          "the registry's current model; the predictions file does not name the model that made it")
    except TrackingError as exc:
        if args.model:
            raise  # the model asked for cannot be found: an error, not a page without its card
        print(f"note: no model card on the page ({exc})", file=sys.stderr)
        card = None
    numbers = build_report(args.predictions, args.out, model_card=card)
    print(f"wrote {args.out}: {numbers['measures']} measures in {numbers['notices']} notice(s), "
          f"{numbers['review']} to review")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from classify.predict.local import classify_frame, read_measures_file, trained_model_of

    if args.measures:
        frame = read_measures_file(args.measures)
    elif args.text:
        frame = pd.DataFrame({"text": args.text, "heading": args.heading or "", "issuer": args.issuer or ""})
    else:
        print("error: give measure texts, or --measures FILE.jsonl", file=sys.stderr)
        return EXIT_ERROR
    model = _model(args)
    preds = classify_frame(model, frame)
    explanations = trained_model_of(model).explain(frame, k=args.k)
    for text, (_, pred), exp in zip(frame["text"], preds.iterrows(), explanations, strict=True):
        flag = "  (needs review)" if pred["needs_review"] else ""
        print(f"\n{text[:80]}\n  -> {pred['label']} {pred['confidence']:.2f}{flag}")
        for n in exp["nearest"]:
            print(f"     {n['similarity']:.2f}  {n['label']:16s} {n['text'][:60]}")
        if exp["terms"]:
            print("     terms: " + ", ".join(f"{t['term']} (+{t['weight']:.3f})" for t in exp["terms"]))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from classify.audit import audit_labels
    from classify.config import load_config

    config = load_config(args.config, args.set)
    issues = audit_labels(config, out=args.out, log_run=not args.no_log, progress=not args.quiet)
    if issues.empty:
        print("cleanlab flags no measure")
        return 0
    shown = issues.head(args.limit).copy()
    shown["text"] = shown["text"].str.slice(0, 40)
    shown = shown[["id", "given", "suggested", "quality", "text"]]
    shown.index = range(1, len(shown) + 1)
    shown.index.name = "#"
    print(fmt_table(shown))
    print(f"{len(issues)} measure(s) flagged" + (f"; all of them in {args.out}" if args.out else ""))
    return 0


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
    print(fmt_table(shown))
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    from classify.pretrained import pull_model

    path = pull_model(args.name, Path(args.dest) if args.dest else None)  # prints progress and licence
    print(f"{args.name} ready at {path}")
    return 0


# --- parser -----------------------------------------------------------------------------------


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model URI or folder (default: models:/<registered>@champion, else @candidate)")
    p.add_argument("--registered-model", default="measure-classifier")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or experiments/)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classify", description=__doc__.split("\n\n")[0])
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
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
    r.add_argument("--measures", help="JSONL of measures ({'text', 'heading'?, 'issuer'?, 'id'?}) instead of notices")
    _model_args(r)
    r.add_argument("--out", help="write one row per measure to .csv or .jsonl")
    r.add_argument("--review-out", help="write the measures that need review to .jsonl (the format of data/)")
    r.add_argument("--review-below", type=float, metavar="P", help="flag labels under this confidence "
                   "(default: the threshold stored with the model)")
    r.add_argument("--explain", action="store_true", help="add the nearest labelled measures (and terms) per row")
    r.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="spark: read, segment and score on Spark executors (pip install pyspark); "
                   "--out must then end in .parquet or .csv")
    r.add_argument("--spark-master", default="local[*]", metavar="URL",
                   help="Spark master for --engine spark (default local[*])")
    r.add_argument("--log-run", action="store_true", help="record the batch as an MLflow run: model version, "
                   "input sha256 hashes, counts per category, the --out file")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)

    rep = sub.add_parser("report", help="one self-contained HTML page on a predictions file")
    rep.add_argument("predictions", help="predictions .jsonl, .csv or .parquet written by classify predict")
    rep.add_argument("--out", required=True, help="the page to write (.html)")
    _model_args(rep)
    rep.set_defaults(func=cmd_report)

    e = sub.add_parser("explain", help="why a measure gets its label: nearest labelled measures, top terms")
    e.add_argument("text", nargs="*", help="measure texts")
    e.add_argument("--heading", help="heading path for the texts")
    e.add_argument("--issuer", help="issuer of the texts")
    e.add_argument("--measures", help="JSONL of measures instead of texts")
    e.add_argument("-k", type=int, default=3, help="nearest labelled measures to show")
    _model_args(e)
    e.set_defaults(func=cmd_explain)

    a = sub.add_parser("audit", help="likely label errors in the training data (cleanlab on out-of-fold predictions)")
    a.add_argument("--config", required=True)
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a.add_argument("--out", help="write all flagged measures to .csv or .jsonl")
    a.add_argument("--limit", type=int, default=30)
    a.add_argument("--no-log", action="store_true", help="do not log the list as an MLflow run")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_audit)

    c = sub.add_parser("compare", help="table of training runs, best first")
    c.add_argument("--experiment", default="classify")
    c.add_argument("--tracking-uri")
    c.add_argument("--limit", type=int, default=20)
    c.set_defaults(func=cmd_compare)

    m = sub.add_parser("models", help="pretrained models for the transformer families")
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

    from classify.errors import ClassifyError
    from classify.interrupts import Terminated, install_signal_handlers

    args = build_parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    if getattr(args, "tracking_uri", None):
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri  # an explicit flag beats the environment
    install_signal_handlers()
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        what = "nothing was registered and no alias moved" if args.command == "train" else "nothing was written"
        signame = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{signame}: {what}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except ClassifyError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback on request
        if args.debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"error: unexpected {type(exc).__name__}: {first} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_ERROR


def run() -> None:
    """Console entry point: ``main`` with its return value as the exit status."""
    code = main()
    # The command has finished and reported. Interpreter teardown takes about a second once MLflow
    # and scikit-learn are loaded; a late Ctrl-C or SIGTERM must not turn a finished run's status into "killed".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    run()
