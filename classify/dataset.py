"""The labelled measures: loading, validating, writing.

One JSON object per line with the fields of :class:`~classify.segmenting.MeasureRecord` plus
``label``, optional ``secondary_label`` and ``note`` (../shared/codebook.md, "Label file fields").
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from classify.labels import LABELS
from classify.reading import to_simplified

REQUIRED_FIELDS = ("id", "notice_id", "text", "label")


class DataError(ValueError):
    """The labelled data cannot be used for training; the message names the file and the problem."""


class LabelCoverageWarning(UserWarning):
    """A category occurs in only one notice: leave-one-notice-out has a fold that never saw it."""


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def iter_jsonl(path: Path, error: type[ValueError]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; malformed lines raise ``error`` naming file:line."""
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise error(f"{path}:{lineno}: expected a JSON object")
                yield lineno, obj
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None


def load_labelled(path: str | Path) -> pd.DataFrame:
    """Load and validate a labelled JSONL file; raises :class:`DataError` before any training starts."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labelled data file not found")
    rows = []
    for lineno, obj in iter_jsonl(path, DataError):
        missing = [f for f in REQUIRED_FIELDS if f not in obj]
        if missing:
            raise DataError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
        if obj["label"] not in LABELS:
            raise DataError(f"{path}:{lineno}: unknown label {obj['label']!r} (expected one of {', '.join(LABELS)})")
        secondary = obj.get("secondary_label")
        if secondary is not None and secondary not in LABELS:
            raise DataError(f"{path}:{lineno}: unknown secondary_label {secondary!r}")
        if not isinstance(obj["text"], str) or not obj["text"].strip():
            raise DataError(f"{path}:{lineno}: empty text for id {obj['id']!r}")
        obj["_line"] = lineno
        rows.append(obj)
    if not rows:
        raise DataError(f"{path}: no labelled measures in the file")
    df = pd.DataFrame(rows)
    dup = df["id"][df["id"].duplicated()]
    if len(dup):
        first = dup.iloc[0]
        lines = df.loc[df["id"] == first, "_line"].tolist()
        raise DataError(f"{path}: duplicate id {first!r} on lines {', '.join(map(str, lines))}")
    # Models read simplified text; a row without it (hand-made data) gets it from the published text.
    given = df["text_simplified"] if "text_simplified" in df else pd.Series([None] * len(df))
    df["text_simplified"] = [s if isinstance(s, str) and s else to_simplified(t)
                             for s, t in zip(given, df["text"], strict=True)]
    if "heading" not in df:
        paths = df["heading_path"] if "heading_path" in df else pd.Series([None] * len(df))
        df["heading"] = [" > ".join(p) if isinstance(p, list) else "" for p in paths]
    df["heading"] = df["heading"].fillna("")
    df["heading_simplified"] = df["heading"].map(to_simplified)
    return df.drop(columns="_line")


def check_label_coverage(df: pd.DataFrame, path: str | Path = "data") -> list[str]:
    """Warn for categories found in fewer than two notices; returns those categories.

    With leave-one-notice-out the fold that holds out the only notice with a category trains
    without it and cannot predict it, which understates that class's recall.
    """
    notices_per_label = df.groupby("label")["notice_id"].nunique()
    thin = [lab for lab in LABELS if notices_per_label.get(lab, 0) == 1]
    for lab in thin:
        only = df.loc[df["label"] == lab, "notice_id"].iloc[0]
        warnings.warn(
            f"{path}: label {lab!r} occurs only in notice {only}; the fold holding it out trains without it",
            LabelCoverageWarning,
            stacklevel=2,
        )
    if df["notice_id"].nunique() < 2:
        raise DataError(f"{path}: leave-one-notice-out needs measures from at least two notices")
    return thin


def model_inputs(df: pd.DataFrame) -> pd.DataFrame:
    """The columns a model sees: simplified measure text and heading path."""
    return pd.DataFrame({"text": df["text_simplified"].tolist(), "heading": df["heading_simplified"].tolist()})


# --- writing ----------------------------------------------------------------------------------


def atomic_write_text(path: str | Path, content: str) -> None:
    """Write via a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs should get the usual permissions
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_records(records: Iterable[dict], path: str | Path) -> int:
    """Write dicts as JSONL (``.jsonl``) or CSV (``.csv``), atomically; returns the row count."""
    path = Path(path)
    rows = list(records)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        content = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    elif suffix == ".csv":
        buf = io.StringIO()
        fields: list[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        writer = csv.DictWriter(buf, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: " > ".join(v) if isinstance(v, list | tuple) else v for k, v in r.items()})
        content = buf.getvalue()
    else:
        raise ValueError(f"{path}: output must end in .jsonl or .csv")
    atomic_write_text(path, content)
    return len(rows)
