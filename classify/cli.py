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
    from classify.errors import NoticeError
    from classify.fileio import NothingToWrite, check_output_path, record_writers
    from classify.notices.files import read_issuer_map, segment_paths

    if args.out:
        check_output_path(args.out, args.inputs)  # before any notice is read
    by_file = read_issuer_map(args.issuers) if args.issuers else None
    errors, notices, count = [], 0, 0
    with record_writers((args.out, None)) as (writer,):
        for item in segment_paths(args.inputs, issuer=args.issuer, issuer_by_file=by_file):
            if isinstance(item, NoticeError):
                errors.append(item)
                continue
            notices += 1
            count += len(item.measures)
            print(f"{len(item.measures):5d}  {item.path}")
            for m in item.measures if writer is not None else ():
                writer.write(m.to_dict())
        if writer is not None and not count:
            raise NothingToWrite()  # a failed run leaves an existing --out file as it was
        if args.out:
            print(f"wrote {args.out}")
    print(f"{count:5d}  measures in {notices} notice(s)")
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


def cmd_train(args: argparse.Namespace) -> int:
    from classify.config import load_config
    from classify.tracking import train

    config = load_config(args.config, args.set)
    result = train(config, promote=args.promote, progress=not args.quiet)
    m = result.metrics
    print(f"\n{config.name} ({config.model.family}, input: {config.input.text}, labels: {config.scheme().name}) "
          f"on {config.data.path}: {int(m['n_measures'])} measures, {int(m['n_notices'])} notices")
    for prefix, name in (("lono", "leave-one-notice-out     "), ("loiko", "leave-one-issuer-kind-out")):
        if f"{prefix}_macro_f1" in m:
            real = f"   real {m[f'{prefix}_real_macro_f1']:.3f}" if f"{prefix}_real_macro_f1" in m else ""
            print(f"  {name} macro-F1 {m[f'{prefix}_macro_f1']:.3f}   accuracy {m[f'{prefix}_accuracy']:.3f}{real}")
    prefix = "lono" if "lono_macro_f1" in m else "loiko"
    for lab in config.scheme().labels:
        print(f"  {lab:16s} P {m[f'{prefix}_precision_{lab}']:.3f}  R {m[f'{prefix}_recall_{lab}']:.3f}  "
              f"F1 {m[f'{prefix}_f1_{lab}']:.3f}")
    method = config.evaluation.calibration
    how = f"temperature {m['calibration_temperature']:.2f}" if method == "temperature" else method
    print(f"  calibration: ECE {m['ece_uncalibrated']:.3f} -> {m['ece']:.3f} ({how})")
    print(f"  review: {result.training.calibration.guarantee}")
    print(f"  final fit {m['train_seconds']:.1f} s; whole run {m['run_wall_seconds']:.1f} s")
    alias = "candidate" + (", champion" if result.promoted else "")
    print(f"registered {result.registered_model} v{result.version} ({alias}); run {result.run_id}")
    if result.promotion is not None:
        print(f"{'promoted' if result.promoted else 'not promoted'}: {result.promotion.reason}")
    print(f"tracking store: {result.tracking_uri}")
    return 0


def _model_uri(args: argparse.Namespace) -> str:
    from classify.tracking import resolve_model_uri

    return resolve_model_uri(args.model, args.registered_model, args.tracking_uri)


def _model(args: argparse.Namespace):
    from classify.tracking import load_model

    uri = _model_uri(args)
    model = load_model(uri)
    print(f"model: {uri}", file=sys.stderr)
    return model


def print_batch(result) -> int:
    """What ``predict`` (either engine) prints: the model, counts per notice and label, what was written, bad files;
    the exit status (1 when a file could not be used)."""
    print(f"model: {result.model_uri}")
    print(fmt_table(result.table()))
    if result.out:
        print(f"wrote {result.rows} rows to {result.out} in {result.seconds:.1f} s")
    elif result.rows == 0:
        print("no measure found: nothing written")
    if result.review_out:
        print(f"wrote {result.review_written} measure(s) to review to {result.review_out}"
              + ("" if result.review_written else " (none was flagged)"))
    if result.run_id:
        print(f"logged batch run {result.run_id}", file=sys.stderr)
    for path, reason in result.errors:
        print(f"error: {path}: {reason}", file=sys.stderr)
    if result.errors:
        print(f"{len(result.errors)} file(s) could not be used", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_predict(args: argparse.Namespace) -> int:
    from classify.notices.files import read_issuer_map
    from classify.predict import check_request, predict_batch

    request = {"inputs": args.inputs, "measures": args.measures, "out": args.out, "review_out": args.review_out,
               "engine": args.engine, "explain": args.explain, "log_run": args.log_run,
               "review_below": args.review_below}
    check_request(**request)  # before any model is looked up or notice read
    by_file = read_issuer_map(args.issuers) if args.issuers else None
    result, _ = predict_batch(_model_uri(args), **request, spark_master=args.spark_master, issuer=args.issuer,
                              issuer_by_file=by_file, progress=not args.quiet)
    return print_batch(result)


def cmd_report(args: argparse.Namespace) -> int:
    from classify.errors import TrackingError
    from classify.fileio import check_output_path
    from classify.reporting import build_report
    from classify.schema import read_predictions
    from classify.tracking import model_card

    check_output_path(args.out, [args.predictions], suffixes=(".html", ".htm"))
    read_predictions(args.predictions)  # a bad predictions file is the error, before any model is looked up
    try:
        uri = _model_uri(args)
        card = model_card(uri, note=None if args.model else
                          "the registry's current model; the predictions file does not name the model that made it")
    except TrackingError as exc:
        if args.model:
            raise  # the model asked for cannot be found: an error, not a page without its card
        print(f"note: no model card on the page ({exc})", file=sys.stderr)
        card = None
    numbers = build_report(args.predictions, args.out, model_card=card, validation_path=args.validation)
    validated = f"; validated shares from {numbers['validated']} coded measures" if numbers["validated"] else ""
    print(f"wrote {args.out}: {numbers['measures']} measures in {numbers['notices']} notice(s), "
          f"{numbers['review']} to review{validated}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from classify.schema import read_predictions
    from classify.validation import sample_file, sample_table

    _, scheme = read_predictions(args.predictions)
    sample = sample_file(args.predictions, args.n, args.out, labels=scheme.labels, strata=_columns(args.strata),
                         seed=args.seed, min_per_stratum=args.min_per_stratum, mode=args.mode)
    print(sample_table(sample))
    blind = "blind: no model label in it" if args.mode == "blind" else "review: the model's label shown, never used for estimates"
    print(f"wrote {len(sample)} measures to {args.out} ({blind}; seed {args.seed})")
    return 0


def _columns(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip())


def _oof_rates(args: argparse.Namespace):
    """The OOF rates the model saved (for the no-label adjusted shares), or None with a note saying why."""
    from classify.errors import ClassifyError
    from classify.tracking.registry import read_model_bundle

    try:
        rates = read_model_bundle(_model_uri(args)).get("oof_rates")
    except ClassifyError as exc:
        print(f"note: no adjusted (no-label) estimate: {exc}", file=sys.stderr)
        return None
    if not rates:
        print("note: no adjusted (no-label) estimate: the model saved no out-of-fold rates (trained before "
              "they were kept)", file=sys.stderr)
    return rates or None


def cmd_validate(args: argparse.Namespace) -> int:
    import numpy as np

    from classify.fileio import check_output_path
    from classify.schema import read_predictions
    from classify.validation import corpus_records, load_annotations, load_predictions, validate_files

    inputs = [p for p in (args.predictions, args.annotations, args.sample) if p]
    for path, suffix in ((args.json, ".json"), (args.corpus_out, ".jsonl")):
        if path:
            check_output_path(path, inputs, suffixes=(suffix,))  # before any estimate is made
    _, scheme = read_predictions(args.predictions)
    rates = _oof_rates(args)
    matrix = prior = None
    if rates and list(rates["labels"]) == list(scheme.labels):
        matrix, prior = np.asarray(rates["rates"]), rates["prior"]
    result = validate_files(args.predictions, args.annotations, args.sample, labels=scheme.labels,
                            groups=_columns(args.by), oof_rates=matrix, train_prior=prior, json_out=args.json,
                            seed=args.seed)
    print(result.tables())
    if args.json:
        print(f"wrote {args.json}")
    if args.corpus_out:
        from classify.fileio import write_records

        records = corpus_records(load_predictions(args.predictions), load_annotations(args.annotations),
                                 labels=scheme.labels, model_version=args.model)
        print(f"wrote {write_records(records, args.corpus_out)} coded measures in the corpus format to "
              f"{args.corpus_out} (validation_sample: true keeps them out of training unless asked for)")
    return 0


def _label_studio(args: argparse.Namespace) -> dict:
    return {"url": args.url or os.environ.get("LABEL_STUDIO_URL"),
            "api_key": args.api_key or os.environ.get("LABEL_STUDIO_API_KEY")}


def cmd_annotate_push(args: argparse.Namespace) -> int:
    from classify.annotate import push

    print(push(args.sample, **_label_studio(args), project=args.project, annotators_per_item=args.annotators,
               scheme=args.scheme))
    return 0


def cmd_annotate_pull(args: argparse.Namespace) -> int:
    from classify.annotate import pull, summary

    rows = pull(**_label_studio(args), project=args.project, out=args.out, scheme=args.scheme)
    print(summary(rows, args.scheme))
    print(f"wrote {len(rows)} annotation(s) to {args.out}")
    return 0


def cmd_annotate_export(args: argparse.Namespace) -> int:
    from classify.annotate import export_tasks

    count = export_tasks(args.sample, args.out, scheme=args.scheme, config_out=args.config_out)
    print(f"wrote {count} task(s) to {args.out}" + (f" and the labelling interface to {args.config_out}"
                                                     if args.config_out else ""))
    return 0


def cmd_annotate_import(args: argparse.Namespace) -> int:
    from classify.annotate import read_export, summary, write_annotations
    from classify.fileio import check_output_path

    check_output_path(args.out, [args.export], suffixes=(".jsonl",))
    rows = read_export(args.export, args.scheme)
    print(summary(rows, args.scheme))
    print(f"wrote {write_annotations(rows, args.out)} annotation(s) to {args.out}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import pandas as pd

    from classify.errors import InputError
    from classify.predict.local import classify_frame, read_measures_file, trained_model_of

    if args.k < 1 or args.k > 50:
        raise InputError(f"-k must be between 1 and 50 (nearest labelled measures to show), got {args.k}")
    if args.measures:
        frame = read_measures_file(args.measures)
    elif args.text:
        for i, text in enumerate(args.text, 1):
            if not text.strip():
                raise InputError(f"measure {i} is empty; give the text of a measure")
        frame = pd.DataFrame({"text": args.text, "heading": args.heading or "", "issuer": args.issuer or ""})
    else:
        raise InputError("give measure texts, or --measures FILE.jsonl")
    model = _model(args)
    preds = classify_frame(model, frame)
    explanations = trained_model_of(model).explain(frame, k=args.k)
    for text, (_, pred), exp in zip(frame["text"], preds.iterrows(), explanations, strict=True):
        flag = f"  (needs review: {pred['review_reason']})" if pred["needs_review"] else ""
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


def cmd_corpus_build(args: argparse.Namespace) -> int:
    from classify.corpus import build_corpus

    built = build_corpus(args.labels, out=args.out, unlabelled_out=args.unlabelled_out, root=Path(args.root))
    print(f"wrote {built.labelled} labelled measures to {args.out}; {built.unlabelled} without a label, "
          f"{built.not_measures} marked not a measure")
    return 0


# --- parser -----------------------------------------------------------------------------------


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model URI or folder (default: models:/<registered>@champion, else @candidate)")
    p.add_argument("--registered-model", default="measure-classifier")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or experiments/)")


def _issuer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--issuer", metavar="NAME", help="issuer of every notice whose page names none")
    p.add_argument("--issuers", metavar="FILE.csv", help="issuer per notice file (CSV columns file, issuer); wins "
                   "over what the page says")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classify", description=__doc__.split("\n\n")[0])
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("segment", help="cut notices into measures")
    s.add_argument("inputs", nargs="+", help="notice files (.txt/.html) or folders")
    s.add_argument("--out", help="write measures to .jsonl or .csv")
    _issuer_args(s)
    s.set_defaults(func=cmd_segment)

    t = sub.add_parser("train", help="cross-validate, train, log to MLflow and register a model")
    t.add_argument("--config", required=True, help="YAML config (see configs/)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    t.add_argument("--promote", action="store_true", help="move alias 'champion' here if the run beats the champion "
                   "on tracking.promote_metric (default: leave-one-issuer-kind-out macro-F1 on real measures)")
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
    _issuer_args(r)
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)

    rep = sub.add_parser("report", help="one self-contained HTML page on a predictions file")
    rep.add_argument("predictions", help="predictions .jsonl, .csv or .parquet written by classify predict")
    rep.add_argument("--out", required=True, help="the page to write (.html)")
    rep.add_argument("--validation", metavar="RESULT.json",
                     help="validated shares with intervals (classify validate … --json) beside the raw counts")
    _model_args(rep)
    rep.set_defaults(func=cmd_report)

    sa = sub.add_parser("sample", help="a random validation sample of predicted measures, for people to code")
    sa.add_argument("predictions", help="predictions written by classify predict (.jsonl, .csv, .parquet)")
    sa.add_argument("--n", type=int, required=True, help="measures to sample (e.g. 200)")
    sa.add_argument("--out", required=True, help="the sample (.jsonl)")
    sa.add_argument("--strata", default="label", help="stratify by predicted label and optionally issuer_kind, "
                    "year (comma-separated; default: label)")
    sa.add_argument("--min-per-stratum", type=int, default=5)
    sa.add_argument("--seed", type=int, default=0)
    sa.add_argument("--mode", choices=("blind", "review"), default="blind",
                    help="blind (default): coders never see the model's label; review: pre-filled, never used for estimates")
    sa.set_defaults(func=cmd_sample)

    va = sub.add_parser("validate", help="accuracy and category shares with intervals, from a coded validation sample")
    va.add_argument("predictions")
    va.add_argument("annotations", help="JSONL with id, label (annotator, time, secondary_label optional)")
    va.add_argument("--sample", help="the sample file (default: the design columns in the annotations)")
    va.add_argument("--by", default="issuer_kind,year", help="groups for shares (columns of the predictions, year)")
    va.add_argument("--json", help="write the estimates as JSON (.json)")
    va.add_argument("--corpus-out", help="write the coded measures in the corpus format (.jsonl, source: user)")
    va.add_argument("--seed", type=int, default=0)
    _model_args(va)
    va.set_defaults(func=cmd_validate)

    an = sub.add_parser("annotate", help="code a sample in Label Studio (push, pull) or through its files")
    ansub = an.add_subparsers(dest="annotate_command", required=True)
    for name, func, helptext in (("push", cmd_annotate_push, "create or update a project and import the sample"),
                                 ("pull", cmd_annotate_pull, "export a project's annotations to JSONL")):
        cmd = ansub.add_parser(name, help=helptext)
        if name == "push":
            cmd.add_argument("sample", help="a sample written by classify sample (.jsonl)")
            cmd.add_argument("--annotators", type=int, default=1, choices=(1, 2, 3), help="annotators per measure")
            cmd.add_argument("--project", help="project id or title (default: one named after the sample)")
        else:
            cmd.add_argument("--project", required=True, help="project id or title")
            cmd.add_argument("--out", required=True, help="annotations (.jsonl)")
        cmd.add_argument("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL)")
        cmd.add_argument("--api-key", help="API key (default: $LABEL_STUDIO_API_KEY)")
        cmd.add_argument("--scheme", default="codebook", help="label scheme (shipped name or YAML file)")
        cmd.set_defaults(func=func)
    ex = ansub.add_parser("export", help="the sample as Label Studio import JSON (for a Label Studio elsewhere)")
    ex.add_argument("sample")
    ex.add_argument("--out", required=True, help="tasks to import (.json)")
    ex.add_argument("--config-out", help="also write the labelling interface (.xml)")
    ex.add_argument("--scheme", default="codebook")
    ex.set_defaults(func=cmd_annotate_export)
    im = ansub.add_parser("import", help="Label Studio's JSON export -> annotations JSONL")
    im.add_argument("export", help="a Label Studio JSON export")
    im.add_argument("--out", required=True, help="annotations (.jsonl)")
    im.add_argument("--scheme", default="codebook")
    im.set_defaults(func=cmd_annotate_import)

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

    cb = sub.add_parser("corpus", help="the labelled corpus")
    cbsub = cb.add_subparsers(dest="corpus_command", required=True)
    build = cbsub.add_parser("build", help="segment the corpus's notices and join their labels into data/measures.jsonl")
    build.add_argument("--labels", nargs="+", required=True, help="label files (JSONL: id, label, ...)")
    build.add_argument("--out", default="data/measures.jsonl")
    build.add_argument("--unlabelled-out", help="write the measures that have no label yet (.jsonl)")
    build.add_argument("--root", default=".", help="the folder holding seeds/ and data/ (default: here)")
    build.set_defaults(func=cmd_corpus_build)

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
