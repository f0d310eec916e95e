"""The prediction row (classify/schema.py): columns from a label scheme, the Spark DDL and the MLflow signature."""

from __future__ import annotations

from classify.labels import LABELS, default_scheme, load_scheme
from classify.review import REVIEW_REASONS
from classify.schema import EXPLANATION, MEASURE_COLUMNS, PredictionSchema

MEASURE = ["notice", "file", "id", "issuer", "issuer_kind", "date", "heading", "text"]


def test_columns_come_from_the_scheme() -> None:
    schema = PredictionSchema.of(default_scheme())
    assert schema.labels == LABELS
    assert schema.measure_names == MEASURE == [c.name for c in MEASURE_COLUMNS]
    assert schema.output_names == ["label", "confidence", *(f"prob_{lab}" for lab in LABELS), "needs_review",
                                   "review_reason", "secondary_label"]
    assert schema.row_names() == MEASURE + schema.output_names
    assert schema.row_names(explain=True) == [*schema.row_names(), EXPLANATION]
    assert set(schema.required) <= set(schema.row_names())
    coarse = PredictionSchema.of(load_scheme("coarse3"))
    assert coarse.prob_columns == ["prob_party_building", "prob_internal_management", "prob_line_work"]
    assert coarse.measure_names == MEASURE  # the measure part is the same for every scheme
    assert PredictionSchema.of(["yes", "no"]).prob_columns == ["prob_yes", "prob_no"]
    assert set(REVIEW_REASONS) == {"out_of_domain", "low_confidence"}  # the values of review_reason


def test_a_predictions_files_columns_give_its_schema() -> None:
    coarse = PredictionSchema.of(load_scheme("coarse3"))
    assert PredictionSchema.from_columns(coarse.row_names(explain=True)) == coarse
    assert PredictionSchema.from_columns(["notice", "text", "prob_b", "label", "prob_a"]).labels == ("b", "a")
    assert PredictionSchema.from_columns(["notice", "text"]).labels == ()


def test_spark_ddl() -> None:
    coarse = PredictionSchema.of(load_scheme("coarse3"))
    assert coarse.spark_output_ddl() == (
        "label string, confidence double, prob_party_building double, prob_internal_management double, "
        "prob_line_work double, needs_review boolean, review_reason string, secondary_label string")
    assert coarse.spark_measure_ddl() == ", ".join(f"{c} string" for c in MEASURE)


def test_mlflow_signature() -> None:
    schema = PredictionSchema.of(load_scheme("coarse3"))
    out = schema.mlflow_output_schema()
    assert out.input_names() == schema.output_names
    types = {c.name: (c.type.name, c.required) for c in out.inputs}
    assert types["label"] == ("string", True) and types["confidence"] == ("double", True)
    assert types["prob_line_work"] == ("double", True) and types["needs_review"] == ("boolean", True)
    assert types["review_reason"] == ("string", False) and types["secondary_label"] == ("string", False)
    inputs = {c.name: c.required for c in PredictionSchema.mlflow_input_schema().inputs}
    assert inputs == {"text": True, "heading": False, "issuer": False}
