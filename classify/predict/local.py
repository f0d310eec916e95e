"""The local prediction engine: notices (or a file of measures) -> labels, calibrated probabilities and review
flags per measure, streamed to a file; a :class:`~classify.predict.result.BatchResult` back.

The model is a pyfunc model (``models:/measure-classifier@champion``, ``runs:/…``, a folder); it takes
``text`` with optional ``heading`` and ``issuer`` and returns the prediction schema's output columns
(:mod:`classify.schema`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from classify.errors import InputError, NoticeError
from classify.fileio import NothingToWrite, iter_jsonl, record_writers
from classify.notices.segmenting import HEADING_SEP, MeasureRecord, heading_string, measure_id
from classify.predict.result import BatchResult
from classify.schema import EXPLANATION, PredictionSchema

BATCH_MEASURES = 512  # measures scored per model call when streaming notices


def trained_model_of(model: Any):
    """The :class:`~classify.models.trained.TrainedModel` inside a pyfunc model (for explanations, its scheme)."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return getattr(inner, "model", inner)


def model_schema(model: Any) -> PredictionSchema:
    return trained_model_of(model).schema


def classify_frame(model: Any, frame: pd.DataFrame, *, review_below: float | None = None,
                   explain: bool = False) -> pd.DataFrame:
    """Model outputs for a frame with ``text`` and optional ``heading``/``issuer`` (row order kept); with
    ``explain``, an ``explanation`` object per row (nearest labelled measures, terms)."""
    schema = model_schema(model)
    if frame.empty:
        return pd.DataFrame(columns=schema.output_names + ([EXPLANATION] if explain else []))
    columns = [c for c in ("text", "heading", "issuer") if c in frame]
    inputs = frame[columns].astype(object).where(frame[columns].notna(), None)
    for c in ("heading", "issuer"):
        if c in inputs:
            inputs[c] = inputs[c].map(lambda v: "" if v is None else str(v))
    params = {"review_below": float(review_below)} if review_below is not None else None
    out = pd.DataFrame(model.predict(inputs, params=params) if params else model.predict(inputs)).reset_index(drop=True)
    if explain:
        out[EXPLANATION] = trained_model_of(model).explain(inputs.reset_index(drop=True))
    return out


def measure_rows(segmented) -> list[dict]:
    """The measure part of the prediction rows of one segmented notice (plus ``_record`` for the review queue)."""
    from classify.notices.issuers import issuer_kind

    return [{"notice": m.notice_id, "file": str(segmented.path), "id": m.id, "issuer": m.issuer,
             "issuer_kind": issuer_kind(m.issuer), "date": m.date, "heading": m.heading, "text": m.text,
             "_record": m} for m in segmented.measures]


def review_record(row: Mapping[str, Any], record: MeasureRecord, model_version: str | None = None) -> dict:
    """A measure flagged for review, in the labelled-data format of data/measures.jsonl: the model's guess is
    the ``label`` to check, ``source`` is ``user`` (a user's own measure, labelled once a person checks it)."""
    d = record.to_dict()
    reason = row.get("review_reason") or "low_confidence"
    d.update({"source": "user", "label": row["label"], "secondary_label": row.get("secondary_label"),
              "review_reason": reason, "model_version": model_version,
              "note": f"model guess ({reason}, confidence {row['confidence']:.2f}): check against the codebook"})
    return d


def _score(model: Any, pending: list[dict], schema: PredictionSchema, result: BatchResult, writers,
           review_below: float | None, explain: bool, model_version: str | None,
           on_rows: Callable[[pd.DataFrame], None] | None) -> None:
    """Score one batch of measure rows, count them, write them (and the flagged ones to the review queue)."""
    writer, review_writer = writers
    frame = pd.DataFrame(pending)
    scored = pd.concat([frame[schema.measure_names].reset_index(drop=True),
                        classify_frame(model, frame, review_below=review_below, explain=explain)], axis=1)
    result.add(scored["notice"], scored["label"], scored["needs_review"])
    records = scored.astype(object).where(pd.notna(scored), None).to_dict(orient="records")
    for row, src in zip(records, pending, strict=True):
        if writer is not None:
            writer.write(row)
        if review_writer is not None and row["needs_review"]:
            review_writer.write(review_record(row, src["_record"], model_version))
            result.review_written += 1
    if on_rows is not None:
        on_rows(scored)


def predict_notices(model: Any, inputs: list[str | Path], *, out: str | Path | None = None,
                    review_out: str | Path | None = None, review_below: float | None = None,
                    explain: bool = False, progress: bool = True, model_uri: str = "",
                    issuer: str | None = None, issuer_by_file: Mapping[str, str] | None = None,
                    on_rows: Callable[[pd.DataFrame], None] | None = None) -> BatchResult:
    """Segment every notice and classify its measures, streaming rows to ``out`` (moved into place at the end).

    Bad files are collected in the result, not fatal. ``issuer`` fills in notices that name none;
    ``issuer_by_file`` (file name -> issuer) sets it per file. ``on_rows`` sees each scored batch.
    With no ``out`` nothing is written; when no file gives a measure, existing outputs stay as they were.
    """
    import time

    from classify.notices.files import segment_paths

    started = time.perf_counter()
    schema = model_schema(model)
    version = _version_of(model_uri)
    result = BatchResult(schema.labels, "local", model_uri, review_out=str(review_out) if review_out else None)
    with record_writers((out, schema.row_names(explain)), (review_out, None)) as writers:
        pending: list[dict] = []
        for item in segment_paths(inputs, progress=progress, issuer=issuer, issuer_by_file=issuer_by_file):
            if isinstance(item, NoticeError):
                result.errors.append((item.path, item.problem))
                result.files.append(item.path)
                continue
            result.notices += 1
            result.files.append(str(item.path))
            pending.extend(measure_rows(item))
            if len(pending) >= BATCH_MEASURES:
                _score(model, pending, schema, result, writers, review_below, explain, version, on_rows)
                pending.clear()
        if pending:
            _score(model, pending, schema, result, writers, review_below, explain, version, on_rows)
        if result.rows == 0:
            raise NothingToWrite()
    result.out = str(out) if out and result.rows else None
    result.review_out = result.review_out if result.rows else None
    result.seconds = time.perf_counter() - started
    return result


def read_measures_file(path: str | Path) -> pd.DataFrame:
    """JSONL objects with ``text`` and optional ``heading`` (or ``heading_path``), ``issuer``, ``id`` and ``notice``
    (or ``notice_id``); order kept."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    rows = []
    for lineno, obj in iter_jsonl(path, InputError):
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            got = "missing" if text is None else ("empty" if isinstance(text, str) else f"a {type(text).__name__}")
            raise InputError(f"{path}:{lineno}: 'text' must be a non-empty string ({got})")
        heading = heading_string(obj.get("heading") or obj.get("heading_path"))
        notice = obj.get("notice") or obj.get("notice_id") or path.stem
        rows.append({"notice": str(notice), "file": str(path), "id": obj.get("id"), "issuer": str(obj.get("issuer") or ""),
                     "heading": heading, "text": text})
    if not rows:
        raise InputError(f"{path}: no measures in the file")
    return pd.DataFrame(rows)


def _record_of(row: Mapping[str, Any], position: int) -> MeasureRecord:
    """A --measures row as the corpus record a review queue holds (id derived like the segmenter's when absent)."""
    from classify.notices.reading import to_simplified

    text = str(row["text"])
    heading = str(row.get("heading") or "")
    given = row.get("id")
    # a frame holds a missing id as NaN, which is truthy: without this check it became the id "nan"
    missing = given is None or given == "" or (isinstance(given, float) and pd.isna(given))
    return MeasureRecord(id=measure_id(row["notice"], text) if missing else str(given), notice_id=str(row["notice"]),
                         issuer=row.get("issuer") or None, date=None,
                         heading_path=tuple(heading.split(HEADING_SEP)) if heading else (), text=text,
                         text_simplified=to_simplified(text), position=position)


def predict_measures(model: Any, measures: pd.DataFrame, *, out: str | Path | None = None,
                     review_out: str | Path | None = None, review_below: float | None = None,
                     explain: bool = False, model_uri: str = "") -> tuple[pd.DataFrame, BatchResult]:
    """Classify a frame of measures (from :func:`read_measures_file`); rows in the prediction schema, written to
    ``out`` and, for the flagged ones, to ``review_out`` in the corpus format."""
    import time

    from classify.notices.issuers import issuer_kind

    started = time.perf_counter()
    schema = model_schema(model)
    frame = measures.reset_index(drop=True).copy()
    frame["issuer_kind"] = [issuer_kind(i or None) for i in frame["issuer"]]
    for column in schema.measure_names:
        if column not in frame:
            frame[column] = None
    result = BatchResult(schema.labels, "local", model_uri, review_out=str(review_out) if review_out else None)
    frame["_record"] = [_record_of(r, i) for i, r in enumerate(frame.to_dict(orient="records"))]
    frame["id"] = [r.id for r in frame["_record"]]
    collected: list[pd.DataFrame] = []
    with record_writers((out, schema.row_names(explain)), (review_out, None)) as writers:
        _score(model, frame.to_dict(orient="records"), schema, result, writers, review_below, explain,
               _version_of(model_uri), collected.append)
    result.notices = len(result.counts)
    result.out = str(out) if out else None
    result.seconds = time.perf_counter() - started
    return collected[0], result


def _version_of(model_uri: str) -> str | None:
    """``name/version`` of a registered model URI, for the review queue's provenance; None for a folder."""
    if not model_uri.startswith("models:/"):
        return model_uri or None
    from classify.tracking import model_version

    found = model_version(model_uri)
    return f"{found['registered_model']}/{found['version']}" if found else model_uri
