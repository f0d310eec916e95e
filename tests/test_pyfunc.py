"""The served model (classify/tracking/pyfunc.py): the logged pyfunc model takes text (heading, issuer optional) and
the ``review_below`` param, returns the prediction schema's columns, refuses unusable input with one message, and
loads in a fresh process."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import REGISTERED

from classify.errors import InputError
from classify.labels import LABELS, default_scheme
from classify.schema import PredictionSchema
from classify.tracking.pyfunc import check_review_below


@pytest.fixture(scope="module")
def served(trained_store):
    """The trained store's champion, loaded as MLflow serves it."""
    import mlflow

    from classify.tracking import connect

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # module fixtures run before the per-test clean environment
        connect(trained_store.uri)
        return mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")


def test_served_model_takes_text_alone_and_refuses_empty_text(served) -> None:
    from mlflow.exceptions import MlflowException

    out = served.predict(pd.DataFrame({"text": ["建立网站信息发布三审三校制度。"]}))
    assert list(out.columns) == PredictionSchema.of(default_scheme()).output_names
    out = served.predict(pd.DataFrame({"text": ["规范财务报销。"], "issuer": ["中共某县教育局党组"]}))
    assert len(out) == 1
    for bad in (None, "", "   "):
        with pytest.raises(MlflowException, match="'text'"):
            served.predict(pd.DataFrame({"text": ["规范财务报销。", bad]}))


def test_review_below_is_a_confidence(served) -> None:
    from mlflow.exceptions import MlflowException

    X = pd.DataFrame({"text": ["规范财务报销。", "落实第一议题制度。"]})
    assert served.predict(X, params={"review_below": 1.0})["needs_review"].all()
    kept = served.predict(X, params={"review_below": 0.0})
    assert not kept["needs_review"].any() and kept["review_reason"].isna().all()
    for bad in (1.5, -0.2, float("nan")):
        with pytest.raises(MlflowException, match="review_below must be between 0 and 1") as info:
            served.predict(X, params={"review_below": bad})
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"  # HTTP 400 when served


def test_check_review_below() -> None:
    assert check_review_below(None) is None and check_review_below("0.5") == 0.5 and check_review_below(1) == 1.0
    for bad in (1.5, -0.2, math.nan, "high", [0.5]):
        with pytest.raises(InputError, match="review_below must be"):
            check_review_below(bad)


def test_signature_and_requirements(trained_store) -> None:
    import mlflow

    from classify.tracking import connect

    connect(trained_store.uri)
    info = mlflow.models.get_model_info(f"models:/{REGISTERED}@champion")
    schema = PredictionSchema.of(default_scheme())
    assert info.signature.inputs.input_names() == ["text", "heading", "issuer"]
    assert info.signature.outputs.input_names() == schema.output_names
    assert [p.name for p in info.signature.params.params] == ["review_below"]
    requirements = mlflow.pyfunc.get_model_dependencies(f"models:/{REGISTERED}@champion")
    names = {line.split("==")[0] for line in Path(requirements).read_text(encoding="utf-8").split()}
    assert {"classify", "mlflow", "scikit-learn", "pandas", "opencc", "rjieba", "jieba"} <= names
    assert "torch" not in names  # a TF-IDF model does not need it


@pytest.mark.slow
def test_logged_model_loads_in_fresh_process(trained_store) -> None:
    code = (
        "import json, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({trained_store.uri!r})\n"
        "m = mlflow.pyfunc.load_model('models:/measure-classifier@candidate')\n"
        "X = pd.DataFrame({'text': ['开展政府采购专题培训,制定采购内控管理制度。', '落实三会一课制度,讲党课。'],"
        " 'heading': ['', '']})\n"
        "print(m.predict(X).to_json(orient='records'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=trained_store.root)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(rows) == 2
    for row in rows:
        assert row["label"] in LABELS
        probs = [row[f"prob_{lab}"] for lab in LABELS]
        assert sum(probs) == pytest.approx(1.0, abs=1e-6)
        assert row["confidence"] == pytest.approx(max(probs))
    assert rows[0]["label"] == "finance"
