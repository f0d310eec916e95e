"""The prediction row: its columns, their types and which are optional, derived from a label scheme.

Both engines write these rows, the pyfunc model returns the output part, the report and the review
queue read them, and the Spark schema and the served signature are generated here. A row is the
measure (where it came from and its text) followed by the model's output for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from classify.labels import PROB_PREFIX, LabelScheme, prob_column

DType = Literal["string", "double", "boolean"]


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    required: bool = True  # optional columns may be missing or null


# The measure part: where the measure comes from and what it says (the same for every scheme).
MEASURE_COLUMNS: tuple[Column, ...] = (
    Column("notice", "string"), Column("file", "string"), Column("id", "string", False),
    Column("issuer", "string", False), Column("issuer_kind", "string", False), Column("date", "string", False),
    Column("heading", "string", False), Column("text", "string"),
)
EXPLANATION = "explanation"  # optional: nearest labelled measures and terms, a JSON object


@dataclass(frozen=True)
class PredictionSchema:
    """The columns of a prediction row for one label scheme."""

    labels: tuple[str, ...]

    @classmethod
    def of(cls, scheme: LabelScheme | Sequence[str]) -> PredictionSchema:
        return cls(tuple(scheme.labels if isinstance(scheme, LabelScheme) else scheme))

    @classmethod
    def from_columns(cls, columns: Iterable[str]) -> PredictionSchema:
        """The schema of a predictions file, its labels read from its ``prob_`` columns (in file order)."""
        return cls(tuple(c[len(PROB_PREFIX):] for c in columns if str(c).startswith(PROB_PREFIX)))

    @property
    def prob_columns(self) -> list[str]:
        return [prob_column(lab) for lab in self.labels]

    @property
    def output(self) -> tuple[Column, ...]:
        """What a model returns per measure."""
        return (Column("label", "string"), Column("confidence", "double"),
                *(Column(c, "double") for c in self.prob_columns), Column("needs_review", "boolean"),
                Column("review_reason", "string", False), Column("secondary_label", "string", False))

    @property
    def output_names(self) -> list[str]:
        return [c.name for c in self.output]

    @property
    def measure_names(self) -> list[str]:
        return [c.name for c in MEASURE_COLUMNS]

    def row_names(self, explain: bool = False) -> list[str]:
        return [*self.measure_names, *self.output_names, *([EXPLANATION] if explain else [])]

    @property
    def required(self) -> list[str]:
        """Columns a predictions file must have to be read (report, validation)."""
        return ["notice", "text", "label", "confidence", "needs_review"]

    def spark_output_ddl(self) -> str:
        """The struct a model's spark_udf returns, in output order."""
        return ", ".join(f"{c.name} {c.dtype}" for c in self.output)

    def spark_measure_ddl(self) -> str:
        return ", ".join(f"{c.name} string" for c in MEASURE_COLUMNS)

    def mlflow_output_schema(self):
        from mlflow.types import ColSpec, Schema

        return Schema([ColSpec(c.dtype, c.name, required=c.required) for c in self.output])

    @staticmethod
    def mlflow_input_schema():
        from mlflow.types import ColSpec, Schema

        return Schema([ColSpec("string", "text"), ColSpec("string", "heading", required=False),
                       ColSpec("string", "issuer", required=False)])


# --- a file of prediction rows ---------------------------------------------------------------------


def _truthy(value: object) -> bool:
    """needs_review as JSONL (true), the local CSV (True) or Spark's CSV (true) writes it."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and value != value)  # NaN: missing


def read_predictions(path: str | Path):
    """Rows written by ``classify predict`` (.jsonl, .csv, or the spark engine's .parquet), types normalised, and
    the label scheme they use (read from their ``prob_`` columns; the codebook's five for a file without them). Labels outside it, confidences that are not
    numbers in [0, 1] and files without rows are refused with one line naming the file and the row."""
    import pandas as pd

    from classify.errors import InputError
    from classify.fileio import iter_jsonl
    from classify.labels import scheme_for_labels

    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if suffix == ".jsonl":
        frame = pd.DataFrame([obj for _, obj in iter_jsonl(path, InputError)])
    elif suffix == ".csv":
        # every column as text ("NA" is a notice name, not a missing value); numbers converted below
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        raise InputError(f"{path}: predictions must be .jsonl, .csv or .parquet")
    schema = PredictionSchema.from_columns(frame.columns)
    missing = [c for c in schema.required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a predictions file (no column {', '.join(missing)}); "
                         "make one with classify predict --out")
    if frame.empty:
        raise InputError(f"{path}: no predictions in the file (a header only)")
    scheme = scheme_for_labels(schema.labels) if schema.labels else scheme_for_labels(None)
    frame = frame.reset_index(drop=True)
    bad = [i for i, v in enumerate(frame["label"]) if v not in scheme]
    if bad:
        raise InputError(f"{path}: row {bad[0] + 1}: label {frame['label'][bad[0]]!r} is not a category of the "
                         f"predictions ({', '.join(scheme.labels)}); {len(bad)} row(s) like it")
    confidence = pd.to_numeric(frame["confidence"], errors="coerce")
    for i, (raw, value) in enumerate(zip(frame["confidence"], confidence, strict=True)):
        if not 0.0 <= value <= 1.0:  # NaN too: not a number
            raise InputError(f"{path}: row {i + 1}: confidence {raw!r} is not a number between 0 and 1")
    frame["confidence"] = confidence
    for column in schema.prob_columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["notice"] = frame["notice"].astype(str)
    frame["needs_review"] = [_truthy(v) for v in frame["needs_review"]]
    if "date" in frame and pd.api.types.is_datetime64_any_dtype(frame["date"]):
        frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")  # Parquet written by other tools keeps timestamps
    frame.attrs["source"] = str(path)
    return frame, scheme
