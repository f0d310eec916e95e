"""The MLflow pyfunc model: a trained model folder wrapped so that MLflow loads, serves and Spark-applies it.

Input: ``text`` and optional ``heading``, ``issuer``; param ``review_below``. Output: the prediction
schema's columns for the model's label scheme (:mod:`classify.schema`). Unusable input is refused
with a message that leads with the row and the problem (HTTP 400 when served).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from classify.errors import InputError

# what every served model imports, whatever its family (pip names)
BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "opencc", "pyyaml")


def _pyfunc_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


def check_review_below(value: Any) -> float | None:
    """``review_below`` as a float in [0, 1], or None; anything else is an InputError saying the range."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"review_below must be a number between 0 and 1, got {value!r}") from None
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise InputError(f"review_below must be between 0 and 1 (a confidence), got {value!r}")
    return number


def _input_exception():
    from mlflow.exceptions import MlflowException

    class ServedInputError(MlflowException):
        """An MlflowException (HTTP 400) whose message stays the one line we wrote: MLflow's scoring server
        prefixes "Failed to predict data '<the whole request frame>'" to ``message``, which would bury the row
        and the problem under a dump of the input."""

        def __init__(self, message: str) -> None:
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            self._own_message = message
            super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

        @property
        def message(self) -> str:
            return self._own_message

        @message.setter
        def message(self, value: str) -> None:  # the server's prefix is dropped on purpose
            pass

    return ServedInputError


class MeasureClassifierPyfunc(_pyfunc_base()):
    """Loads the trained model folder (artifact ``model_dir``) and predicts the schema's output columns."""

    def load_context(self, context) -> None:
        from classify.models.trained import TrainedModel

        self.model = TrainedModel.load(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            review_below = check_review_below((params or {}).get("review_below"))
            return self.model.predict_frame(pd.DataFrame(model_input), review_below=review_below)
        except InputError as exc:
            raise _input_exception()(str(exc)) from None


def requirements(model: Any) -> list[str]:
    """Pinned pip requirements of a served model: classify, the shared base and what its family imports."""
    from importlib.metadata import PackageNotFoundError, version

    names = dict.fromkeys([*BASE_REQUIREMENTS, *model.estimator.requirements()])
    pinned = [f"classify=={version('classify')}"]
    for name in names:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def signature(model: Any):
    """Input, output (from the model's prediction schema) and the ``review_below`` param."""
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    return ModelSignature(inputs=model.schema.mlflow_input_schema(), outputs=model.schema.mlflow_output_schema(),
                          params=ParamSchema([ParamSpec("review_below", "double", None)]))


def log_pyfunc_model(model: Any, example: pd.DataFrame) -> Any:
    """Save the trained model to a folder and log it as the active run's pyfunc model; returns ModelInfo."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model_dir"
        model.save(model_dir)
        return mlflow.pyfunc.log_model(
            name="model", python_model=MeasureClassifierPyfunc(), artifacts={"model_dir": str(model_dir)},
            signature=signature(model), input_example=example, pip_requirements=requirements(model),
        )
