"""Prediction on a batch of notices (or a file of measures): the local engine (:mod:`~classify.predict.local`)
or Spark (:mod:`~classify.predict.spark`), both returning a :class:`~classify.predict.result.BatchResult`;
:mod:`~classify.predict.runlog` records a batch as an MLflow run. :func:`predict_batch` is what
``classify predict`` calls: it checks the request before any notice is read or model loaded."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from classify.errors import InputError
from classify.predict.result import BatchResult

ENGINES = ("local", "spark")


def check_request(*, inputs: list[str], measures: str | None, out: str | None, review_out: str | None,
                  engine: str, explain: bool, log_run: bool, review_below: float | None) -> None:
    """Every rule a prediction request must meet, checked before work starts; one InputError/OutputError line."""
    from classify.fileio import check_output_paths
    from classify.tracking.pyfunc import check_review_below

    if not inputs and not measures:
        raise InputError("give notice files/folders, or --measures FILE.jsonl")
    if inputs and measures:
        raise InputError("give notice files/folders or --measures FILE.jsonl, not both")
    if log_run and (measures or not out):
        raise InputError("--log-run records a batch of notices and its --out file; give both")
    try:
        check_review_below(review_below)
    except InputError as exc:
        raise InputError(f"--review-below: {exc}") from None
    given = [*inputs, *([measures] if measures else [])]
    if engine == "spark":
        from classify.predict.spark import check_spark_output

        if measures or review_out or explain:
            raise InputError("--engine spark reads notices and writes --out only (no --measures, --review-out or --explain)")
        if not out:
            raise InputError("--engine spark needs --out FILE.parquet (a folder) or FILE.csv")
        check_spark_output(out, given)
        return
    check_output_paths([("--out", out), ("--review-out", review_out)], given)


def predict_batch(model_uri: str, *, inputs: list[str] = (), measures: str | None = None, out: str | None = None,
                  review_out: str | None = None, review_below: float | None = None, explain: bool = False,
                  engine: str = "local", spark_master: str = "local[*]", log_run: bool = False,
                  issuer: str | None = None, issuer_by_file: Mapping[str, str] | None = None,
                  progress: bool = True) -> tuple[BatchResult, pd.DataFrame | None]:
    """Run a checked prediction request; returns the batch result and, for --measures, the rows.

    ``log_run`` records the batch (model version, input hashes, counts, the --out file) as an MLflow run."""
    inputs = list(inputs)
    check_request(inputs=inputs, measures=measures, out=out, review_out=review_out, engine=engine, explain=explain,
                  log_run=log_run, review_below=review_below)
    rows = None
    if engine == "spark":
        from classify.predict.spark import predict_spark

        result = predict_spark(model_uri, inputs, out, master=spark_master, review_below=review_below,
                               issuer=issuer, issuer_by_file=dict(issuer_by_file or {}))
    else:
        from classify.predict.local import predict_measures, predict_notices, read_measures_file
        from classify.tracking import load_model

        frame = read_measures_file(measures) if measures else None
        model = load_model(model_uri)
        if frame is not None:
            rows, result = predict_measures(model, frame, out=out, review_out=review_out, review_below=review_below,
                                            explain=explain, model_uri=model_uri)
        else:
            result = predict_notices(model, inputs, out=out, review_out=review_out, review_below=review_below,
                                     explain=explain, progress=progress, model_uri=model_uri, issuer=issuer,
                                     issuer_by_file=issuer_by_file)
    if log_run and result.rows:
        from classify.predict.runlog import log_batch_run
        from classify.tracking import connect

        connect(create=True)  # a model folder needs no store, but the batch run goes into one
        result.run_id = log_batch_run(result)
    return result, rows


__all__ = ["ENGINES", "BatchResult", "check_request", "predict_batch"]
