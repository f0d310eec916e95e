"""MLflow tracking, in four parts: where runs go (:mod:`~classify.tracking.store`), what a training run logs
(:mod:`~classify.tracking.reporter`), the served model (:mod:`~classify.tracking.pyfunc`), the registry and the
runs table (:mod:`~classify.tracking.registry`); :func:`~classify.tracking.run.train` ties them together."""

# Models logged before tracking became a package pickled their pyfunc class as classify.tracking.MeasureClassifierPyfunc:
# the name stays importable here so that they still load.
from classify.tracking.pyfunc import MeasureClassifierPyfunc
from classify.tracking.registry import (
    Promotion,
    compare_runs,
    default_model_uri,
    load_model,
    model_card,
    model_scheme,
    model_version,
    register,
    resolve_model_uri,
)
from classify.tracking.run import TrackedTraining, train
from classify.tracking.store import (
    DEFAULT_STORE_DIR,
    RUN_KIND_TAG,
    artifact_location,
    connect,
    ensure_experiment,
    resolve_tracking_uri,
)

__all__ = [
    "DEFAULT_STORE_DIR", "RUN_KIND_TAG", "MeasureClassifierPyfunc", "Promotion", "TrackedTraining", "artifact_location", "compare_runs", "connect",
    "default_model_uri", "ensure_experiment", "load_model", "model_card", "model_scheme", "model_version",
    "register", "resolve_model_uri", "resolve_tracking_uri", "train",
]
