"""Prediction: measures -> labels, calibrated probabilities, review flags; notices streamed to a file.

The model is a pyfunc model (``models:/measure-classifier@champion``, ``runs:/…``, a folder); it
takes ``text`` with optional ``heading`` and ``issuer`` and returns label, confidence, prob_*,
needs_review and secondary_label.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from classify.errors import InputError, NoticeError
from classify.fileio import iter_jsonl, record_writer
from classify.labels import LABELS
from classify.models.trained import OUTPUT_COLUMNS

MEASURE_COLUMNS = ["notice", "file", "id", "issuer", "issuer_kind", "date", "heading", "text"]
ROW_COLUMNS = [*MEASURE_COLUMNS, *OUTPUT_COLUMNS]
BATCH_MEASURES = 512  # measures scored per model call when streaming notices


def trained_model_of(model: Any):
    """The :class:`~classify.models.trained.TrainedModel` inside a pyfunc model (for explanations)."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    return getattr(inner, "model", inner)


def classify_frame(model: Any, frame: pd.DataFrame, *, review_below: float | None = None,
                   explain: bool = False) -> pd.DataFrame:
    """Model outputs for a frame with ``text`` and optional ``heading``/``issuer`` (row order kept)."""
    if frame.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS + (["explanation"] if explain else []))
    columns = [c for c in ("text", "heading", "issuer") if c in frame]
    inputs = frame[columns].astype(object).where(frame[columns].notna(), None)
    for c in ("heading", "issuer"):
        if c in inputs:
            inputs[c] = inputs[c].map(lambda v: "" if v is None else str(v))
    params = {"review_below": float(review_below)} if review_below is not None else None
    out = pd.DataFrame(model.predict(inputs, params=params) if params else model.predict(inputs)).reset_index(drop=True)
    if explain:
        explanations = trained_model_of(model).explain(inputs.reset_index(drop=True))
        out["explanation"] = [json.dumps(e, ensure_ascii=False) for e in explanations]
    return out


def measure_rows(segmented) -> list[dict]:
    from classify.notices.issuers import issuer_kind

    return [{"notice": m.notice_id, "file": str(segmented.path), "id": m.id, "issuer": m.issuer,
             "issuer_kind": issuer_kind(m.issuer), "date": m.date, "heading": m.heading, "text": m.text,
             "_record": m} for m in segmented.measures]


@dataclass
class PredictionSummary:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    review: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[NoticeError] = field(default_factory=list)
    rows: int = 0
    notices: int = 0

    def add(self, scored: pd.DataFrame) -> None:
        for notice, label, flagged in zip(scored["notice"], scored["label"], scored["needs_review"], strict=True):
            self.counts[notice][label] += 1
            self.review[notice] += int(bool(flagged))
        self.rows += len(scored)

    def table(self) -> pd.DataFrame:
        """Counts per category for each notice, measures needing review, and a total row."""
        if not self.counts:
            return pd.DataFrame(columns=[*LABELS, "measures", "review"])
        table = pd.DataFrame({n: {lab: c.get(lab, 0) for lab in LABELS} for n, c in self.counts.items()}).T
        table.index.name = "notice"
        table["measures"] = table[list(LABELS)].sum(axis=1)
        table["review"] = [self.review[n] for n in table.index]
        table.loc["total"] = table.sum()
        return table.astype(int)


def review_record(row: dict, record) -> dict:
    """A measure flagged for review, in the labelled-data format of data/ (the label is the model's guess)."""
    d = record.to_dict()
    d.update({"source": "real", "label": row["label"], "secondary_label": row.get("secondary_label"),
              "note": f"model guess, confidence {row['confidence']:.2f}: check against the codebook"})
    return d


def predict_notices(model: Any, inputs: list[str | Path], *, out: str | Path | None = None,
                    review_out: str | Path | None = None, review_below: float | None = None,
                    explain: bool = False, progress: bool = True,
                    on_rows: Callable[[pd.DataFrame], None] | None = None) -> PredictionSummary:
    """Segment every notice and classify its measures, streaming rows to ``out`` (moved into place at the end).

    Bad files are collected in the summary, not fatal. ``on_rows`` sees each scored batch (tests, the
    report). With no ``out`` nothing is written.
    """
    summary = PredictionSummary()
    with contextlib.suppress(_NothingToWrite):  # no file gave a measure: an existing --out file is left as it was
        _stream(model, inputs, summary, out, review_out, review_below, explain, progress, on_rows)
    return summary


def _stream(model, inputs, summary, out, review_out, review_below, explain, progress, on_rows) -> None:
    from classify.notices.files import segment_paths

    with _maybe_writer(out, ROW_COLUMNS + (["explanation"] if explain else [])) as writer, \
            _maybe_writer(review_out, None) as review_writer:
        pending: list[dict] = []

        def flush() -> None:
            if not pending:
                return
            frame = pd.DataFrame(pending)
            scored = pd.concat([frame[MEASURE_COLUMNS].reset_index(drop=True),
                                classify_frame(model, frame, review_below=review_below, explain=explain)], axis=1)
            summary.add(scored)
            records = scored.astype(object).where(pd.notna(scored), None).to_dict(orient="records")
            for row, src in zip(records, pending, strict=True):
                if writer is not None:
                    writer.write(row)
                if review_writer is not None and row["needs_review"]:
                    review_writer.write(review_record(row, src["_record"]))
            if on_rows is not None:
                on_rows(scored)
            pending.clear()

        for item in segment_paths(inputs, progress=progress):
            if isinstance(item, NoticeError):
                summary.errors.append(item)
                continue
            summary.notices += 1
            pending.extend(measure_rows(item))
            if len(pending) >= BATCH_MEASURES:
                flush()
        flush()
        if summary.rows == 0 and summary.errors:
            raise _NothingToWrite()


class _NothingToWrite(Exception):
    """Raised inside the writers' block so that they discard their temporary files."""


class _maybe_writer:
    """record_writer for a path, or nothing for None; a _NothingToWrite inside discards the file."""

    def __init__(self, path: str | Path | None, fields: list[str] | None) -> None:
        self.path, self.fields = path, fields
        self.cm = None

    def __enter__(self):
        if self.path is None:
            return None
        self.cm = record_writer(self.path, self.fields)
        return self.cm.__enter__()

    def __exit__(self, *exc) -> bool:
        if self.cm is not None:
            self.cm.__exit__(*exc)
        return False


def read_measures_file(path: str | Path) -> pd.DataFrame:
    """JSONL objects with ``text`` and optional ``heading`` (or ``heading_path``), ``issuer`` and ``id``; order kept."""
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
        heading = obj.get("heading") or obj.get("heading_path") or ""
        if isinstance(heading, list):
            heading = " > ".join(map(str, heading))
        issuer = obj.get("issuer") or ""
        rows.append({"id": obj.get("id"), "issuer": str(issuer), "heading": str(heading), "text": text})
    if not rows:
        raise InputError(f"{path}: no measures in the file")
    return pd.DataFrame(rows)


def predict_measures(model: Any, measures: pd.DataFrame, *, review_below: float | None = None,
                     explain: bool = False) -> pd.DataFrame:
    preds = classify_frame(model, measures, review_below=review_below, explain=explain)
    return pd.concat([measures.reset_index(drop=True), preds], axis=1)


def write_rows(rows: pd.DataFrame, path: str | Path) -> int:
    from classify.fileio import write_records

    clean = rows.astype(object).where(pd.notna(rows), None)
    return write_records(clean.to_dict(orient="records"), path)
