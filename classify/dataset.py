"""The labelled measures: loading and validating them before any training starts.

One JSON object per line with the fields of :class:`~classify.notices.segmenting.MeasureRecord` plus
``label``, optional ``secondary_label`` and ``note`` (../shared/codebook.md, "Label file fields"),
and the corpus fields ``issuer_kind`` (derived from ``issuer`` when absent) and ``source``
(``real``, ``synthetic`` or ``user`` for a user's validated corrections; ``real`` when absent).

Labels are read against a label scheme: its own ids, or, for a scheme that unites corpus labels
(``from:``), the corpus labels, which are then mapped to the scheme's.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from classify.errors import DataError
from classify.fileio import iter_jsonl
from classify.labels import LabelScheme, default_scheme
from classify.notices.issuers import ISSUER_KINDS, issuer_kind
from classify.notices.segmenting import heading_string

REQUIRED_FIELDS = ("id", "notice_id", "text", "label")
SOURCES = ("real", "synthetic", "user")


class LabelCoverageWarning(UserWarning):
    """A category is missing from the data, or occurs in only one notice."""


def _check_row(obj: dict, where: str, accepted: tuple[str, ...]) -> None:
    missing = [f for f in REQUIRED_FIELDS if f not in obj]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
    for name in ("id", "notice_id"):
        if not isinstance(obj[name], str) or not obj[name].strip():
            raise DataError(f"{where}: '{name}' must be a non-empty string, got {obj[name]!r}")
    if not isinstance(obj["text"], str):
        raise DataError(f"{where}: 'text' must be a string, got {type(obj['text']).__name__} {obj['text']!r}")
    if not obj["text"].strip():
        raise DataError(f"{where}: empty text for id {obj['id']!r}")
    if obj["label"] not in accepted:
        raise DataError(f"{where}: unknown label {obj['label']!r} (expected one of {', '.join(accepted)})")
    secondary = obj.get("secondary_label")
    if secondary is not None and secondary not in accepted:
        raise DataError(f"{where}: unknown secondary_label {secondary!r}")
    if obj.get("source", "real") not in SOURCES:
        raise DataError(f"{where}: source must be one of {', '.join(SOURCES)}, not {obj['source']!r}")
    kind = obj.get("issuer_kind")
    if kind is not None and kind not in ISSUER_KINDS:
        raise DataError(f"{where}: unknown issuer_kind {kind!r}")


def load_labelled(path: str | Path, scheme: LabelScheme | None = None) -> pd.DataFrame:
    """Load and validate a labelled JSONL file, labels as the scheme's (default: the codebook's five);
    raises :class:`DataError` naming file:line."""
    path = Path(path)
    scheme = scheme or default_scheme()
    mapping = scheme.source_map()
    accepted = tuple(mapping)
    if not path.is_file():
        raise DataError(f"{path}: labelled data file not found")
    rows = []
    for lineno, obj in iter_jsonl(path, DataError):
        _check_row(obj, f"{path}:{lineno}", accepted)
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
    from classify.notices.reading import to_simplified

    # Models read simplified text; a row without it (hand-made data) gets it from the published text.
    given = df["text_simplified"] if "text_simplified" in df else pd.Series([None] * len(df))
    df["text_simplified"] = [s if isinstance(s, str) and s else to_simplified(t)
                             for s, t in zip(given, df["text"], strict=True)]
    if "heading" not in df:
        paths = df["heading_path"] if "heading_path" in df else pd.Series([None] * len(df))
        df["heading"] = [heading_string(p) for p in paths]
    df["heading"] = df["heading"].fillna("").astype(str)
    df["issuer"] = df["issuer"].where(df["issuer"].notna(), None) if "issuer" in df else None
    kinds = df["issuer_kind"] if "issuer_kind" in df else pd.Series([None] * len(df))
    df["issuer_kind"] = [k if isinstance(k, str) else issuer_kind(i) for k, i in zip(kinds, df["issuer"], strict=True)]
    df["source"] = df["source"].fillna("real") if "source" in df else "real"
    if "secondary_label" not in df:
        df["secondary_label"] = None
    df["secondary_label"] = df["secondary_label"].astype(object).where(df["secondary_label"].notna(), None)
    if scheme.maps_corpus:
        df["label"] = [mapping[v] for v in df["label"]]
        # a runner-up inside the same united category is no secondary label any more
        # object dtype: a plain list would become a pandas string column whose missing values are NaN, not None
        df["secondary_label"] = pd.Series([None if s is None or mapping[s] == lab else mapping[s]
                                           for s, lab in zip(df["secondary_label"], df["label"], strict=True)],
                                          index=df.index, dtype=object)
    return df.drop(columns="_line").reset_index(drop=True)


def check_label_coverage(df: pd.DataFrame, path: str | Path = "data", labels: tuple[str, ...] | None = None) -> list[str]:
    """Warn for categories absent from the data or found in only one notice; returns them.

    With grouped cross-validation the fold that holds out the only notice with a category trains
    without it and cannot predict it, which understates that class's recall.
    """
    if df["notice_id"].nunique() < 2:
        raise DataError(f"{path}: grouped cross-validation needs measures from at least two notices")
    notices_per_label = df.groupby("label")["notice_id"].nunique()
    thin = []
    for lab in labels or default_scheme().labels:
        n = int(notices_per_label.get(lab, 0))
        if n == 0:
            warnings.warn(f"{path}: no measure is labelled {lab!r}; the model can never predict it",
                          LabelCoverageWarning, stacklevel=2)
            thin.append(lab)
        elif n == 1:
            only = df.loc[df["label"] == lab, "notice_id"].iloc[0]
            warnings.warn(f"{path}: label {lab!r} occurs only in notice {only}; the fold holding it out trains "
                          "without it", LabelCoverageWarning, stacklevel=2)
            thin.append(lab)
    return thin
