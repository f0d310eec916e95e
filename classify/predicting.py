"""Prediction on new notices (read -> segment -> classify) or on given measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from classify.labels import LABELS
from classify.reading import NoticeError
from classify.segmenting import segment_files


@dataclass
class NoticePredictions:
    rows: pd.DataFrame
    errors: list[NoticeError] = field(default_factory=list)


def load_model(uri: str):
    """Load a pyfunc model from anything MLflow resolves (models:/name@alias, runs:/…, a path)."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


def _classify(model, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["label", "confidence", *[f"prob_{lab}" for lab in LABELS]])
    out = model.predict(frame[["text", "heading"]])
    return pd.DataFrame(out).reset_index(drop=True)


def predict_notices(model, inputs: list[str | Path], *, progress: bool = True) -> NoticePredictions:
    """Segment every notice and classify its measures; bad files are collected, not fatal."""
    segmented, errors = segment_files(inputs, progress=progress)
    records = [{"notice": m.notice_id, "file": str(path), "id": m.id, "issuer": m.issuer, "date": m.date,
                "heading": m.heading, "text": m.text, "_model_text": m.text_simplified}
               for path, measures in segmented for m in measures]
    base = pd.DataFrame(records, columns=["notice", "file", "id", "issuer", "date", "heading", "text", "_model_text"])
    # the pyfunc model simplifies its inputs itself; the measure's simplified text is at hand already
    preds = _classify(model, pd.DataFrame({"text": base["_model_text"], "heading": base["heading"]}))
    rows = pd.concat([base.drop(columns=["_model_text"]).reset_index(drop=True), preds], axis=1)
    return NoticePredictions(rows=rows, errors=errors)


class MeasuresFileError(ValueError):
    pass


def read_measures_file(path: str | Path) -> pd.DataFrame:
    """JSONL objects with ``text`` and optional ``heading`` and ``id``; order is kept."""
    path = Path(path)
    if not path.exists():
        raise MeasuresFileError(f"{path}: file not found")
    if not path.is_file():
        raise MeasuresFileError(f"{path}: not a regular file")
    from classify.dataset import iter_jsonl

    rows = []
    for lineno, obj in iter_jsonl(path, MeasuresFileError):
        if not isinstance(obj.get("text"), str) or not obj["text"].strip():
            raise MeasuresFileError(f"{path}:{lineno}: each line needs a non-empty 'text'")
        heading = obj.get("heading") or ""
        if isinstance(heading, list):
            heading = " > ".join(heading)
        rows.append({"id": obj.get("id"), "heading": str(heading), "text": obj["text"]})
    if not rows:
        raise MeasuresFileError(f"{path}: no measures in the file")
    return pd.DataFrame(rows)


def predict_measures(model, measures: pd.DataFrame) -> pd.DataFrame:
    preds = _classify(model, measures[["text", "heading"]])
    return pd.concat([measures.reset_index(drop=True), preds], axis=1)


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Counts per category for each notice, with a total row."""
    if rows.empty:
        return pd.DataFrame(columns=[*LABELS, "measures"])
    table = pd.crosstab(rows["notice"], rows["label"]).reindex(columns=list(LABELS), fill_value=0)
    table["measures"] = table.sum(axis=1)
    table.loc["total"] = table.sum()
    return table


def write_predictions(rows: pd.DataFrame, path: str | Path) -> int:
    from classify.dataset import write_records

    clean = rows.astype(object).where(pd.notna(rows), None)
    return write_records(clean.to_dict(orient="records"), path)
