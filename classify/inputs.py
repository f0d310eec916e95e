"""The one boundary between records and models.

Whatever comes in — labelled data, segmented measures, a ``--measures`` file, a served request —
becomes a :data:`ModelInput` frame here and nowhere else. Its columns say which form of the text
they hold, so the published text (``text``, traditional where the issuer wrote traditional) and
the simplified text every model reads cannot be confused.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

import pandas as pd

from classify.errors import InputError
from classify.notices.issuers import issuer_kind
from classify.notices.segmenting import HEADING_SEP, heading_string

MEASURE = "measure_simplified"
HEADING = "heading_simplified"
ISSUER = "issuer_simplified"
KIND = "issuer_kind"
MODEL_INPUT_COLUMNS: tuple[str, ...] = (MEASURE, HEADING, ISSUER, KIND)

# What a model reads: the measure, optionally preceded by its heading path and the issuer.
InputText = Literal["measure", "heading+measure", "issuer+measure", "issuer+heading+measure"]


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _simplify(values: list[str]) -> list[str]:
    from classify.notices.reading import to_simplified

    return [to_simplified(v) if v else "" for v in values]


def is_model_input(frame: object) -> bool:
    return isinstance(frame, pd.DataFrame) and all(c in frame.columns for c in MODEL_INPUT_COLUMNS)


def model_input(records: pd.DataFrame | Iterable[Mapping], *, source: str = "input") -> pd.DataFrame:
    """Records -> the frame every model takes (simplified measure, heading path, issuer, issuer kind).

    A record needs ``text`` (a non-empty string, any script). Optional: ``text_simplified``
    (used as is when present), ``heading`` (a string) or ``heading_path`` (a list), ``issuer``
    and ``issuer_kind`` (derived from ``issuer`` when absent). A frame that already is a model
    input is returned unchanged. Bad rows raise :class:`InputError` naming the row.
    """
    if is_model_input(records):
        return records  # type: ignore[return-value]
    frame = records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if "text" not in frame.columns:
        raise InputError(f"{source}: needs a 'text' column (the measure)")
    texts = frame["text"].tolist()
    for i, value in enumerate(texts):
        if not isinstance(value, str):
            shown = "null" if _blank(value) else f"a {type(value).__name__} ({value!r})"
            raise InputError(f"{source}: row {i}: 'text' must be a string, got {shown}")
        if not value.strip():
            raise InputError(f"{source}: row {i}: 'text' is empty")
    n = len(frame)

    def column(name: str) -> list[str]:
        return [heading_string(v) for v in frame[name].tolist()] if name in frame.columns else [""] * n

    given = column("text_simplified")
    measures = [g if g else None for g in given]
    missing = [i for i, g in enumerate(measures) if g is None]
    if missing:
        converted = _simplify([texts[i] for i in missing])
        for i, value in zip(missing, converted, strict=True):
            measures[i] = value
    headings = column("heading_simplified") if "heading_simplified" in frame.columns else (
        _simplify(column("heading") if "heading" in frame.columns else column("heading_path")))
    issuers = _simplify(column("issuer"))
    kinds = column("issuer_kind")
    kinds = [k if k else issuer_kind(iss or None) for k, iss in zip(kinds, issuers, strict=True)]
    return pd.DataFrame({MEASURE: measures, HEADING: headings, ISSUER: issuers, KIND: kinds},
                        index=pd.RangeIndex(n))


def context_texts(X: pd.DataFrame, input_text: str) -> list[str] | None:
    """The context segment for ``input_text`` (issuer and/or heading path), or None for the measure alone."""
    parts = input_text.split("+")[:-1]
    if not parts:
        return None
    cols = [X[ISSUER if p == "issuer" else HEADING].tolist() for p in parts]
    return [HEADING_SEP.join(v for v in values if v) for values in zip(*cols, strict=True)]


def measure_texts(X: pd.DataFrame) -> list[str]:
    return X[MEASURE].tolist()
