"""The prediction row: its columns, their types and which are optional, derived from a label scheme.

Both engines write these rows, the pyfunc model returns the output part, the report and the review
queue read them, and the Spark schema and the served signature are generated here. A row is the
measure (where it came from and its text) followed by the model's output for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
# Why a row needs review; None when it does not (classify.review decides).
REVIEW_REASONS: tuple[str, ...] = ("low_confidence", "out_of_domain")


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
