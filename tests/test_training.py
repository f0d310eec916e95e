"""Train -> track -> register -> predict with the TF-IDF baseline, in a temporary MLflow store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classify.cli import main
from classify.config import load_config, parse_config
from classify.labels import LABELS
from classify.notices.reading import read_notice
from classify.notices.segmenting import segment_notice

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "002_498a692be3e6a6d3.txt"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One trained baseline (promoted to champion) in a fresh SQLite store."""
    root = tmp_path_factory.mktemp("store")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.chdir(root)  # the experiment's default artifact root (./mlruns) lands in tmp too
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    config = load_config(REPO / "configs" / "tfidf_svm.yaml", [f"data.path={REPO / 'data' / 'measures.jsonl'}",
                                                               "data.issuer_kinds=[science_bureau]",
                                                               "evaluation.schemes=[leave_one_notice_out]",
                                                               "tracking.experiment=test-exp"])
    from classify.tracking import train

    result = train(config, promote=True, progress=False)
    yield root, config, result
    mp.undo()


def test_parent_and_fold_runs_with_metrics_and_artifacts(store):
    import mlflow
    from mlflow import MlflowClient

    _, config, result = store
    client = MlflowClient()
    exp = mlflow.get_experiment_by_name("test-exp")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("classify.run_kind") == "parent"]
    folds = [r for r in runs if r.data.tags.get("classify.run_kind") == "fold"]
    assert len(parents) == 1
    assert len(folds) == 5  # one per held-out notice
    assert {r.data.tags["mlflow.parentRunId"] for r in folds} == {result.run_id}
    assert {r.data.params["held_out"] for r in folds} == {p.stem for p in (REPO / "seeds").glob("*.txt")}

    parent = parents[0]
    metrics = parent.data.metrics
    for key in ["cv_macro_f1", "cv_accuracy", "train_seconds",
                *[f"cv_{m}_{lab}" for lab in LABELS for m in ("precision", "recall", "f1")]]:
        assert key in metrics, key
    assert 0.0 <= metrics["cv_macro_f1"] <= 1.0
    assert parent.data.params["model.classifier"] == "linear_svm"
    assert parent.data.tags["model_family"] == "tfidf"
    assert len(parent.data.tags["data_sha256"]) == 64
    assert "git_commit" in parent.data.tags

    artifacts = {a.path for a in client.list_artifacts(result.run_id, "evaluation/cv")}
    for name in ("confusion_matrix.png", "classification_report.txt", "oof_predictions.csv", "by_issuer_kind.csv"):
        assert f"evaluation/cv/{name}" in artifacts
    assert "evaluation/config.yaml" in {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    calibration = {a.path for a in client.list_artifacts(result.run_id, "evaluation/calibration")}
    assert "evaluation/calibration/reliability_diagram.png" in calibration
    for key in ("ece", "brier", "ece_uncalibrated", "review_threshold", "review_flagged_fraction"):
        assert key in metrics, key
    oof = pd.read_csv(client.download_artifacts(result.run_id, "evaluation/cv/oof_predictions.csv"))
    assert len(oof) == 269 and oof["misclassified"].sum() == (oof["label"] != oof["predicted"]).sum()

    mv = client.get_model_version_by_alias("measure-classifier", "candidate")
    assert str(mv.version) == result.version
    assert str(client.get_model_version_by_alias("measure-classifier", "champion").version) == result.version


def test_logged_model_loads_in_fresh_process(store):
    root, _, result = store
    code = (
        "import json, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri('sqlite:///{root / 'mlflow.db'}')\n"
        "m = mlflow.pyfunc.load_model('models:/measure-classifier@candidate')\n"
        "X = pd.DataFrame({'text': ['开展政府采购专题培训,制定采购内控管理制度。', '落实三会一课制度,讲党课。'],"
        " 'heading': ['', '']})\n"
        "print(m.predict(X).to_json(orient='records'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(rows) == 2
    for row in rows:
        assert row["label"] in LABELS
        probs = [row[f"prob_{lab}"] for lab in LABELS]
        assert sum(probs) == pytest.approx(1.0, abs=1e-6)
        assert row["confidence"] == pytest.approx(max(probs))
    assert rows[0]["label"] == "finance"


def test_predict_writes_one_row_per_measure(store, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    code = main(["predict", str(SEED), "--out", str(out), "--quiet"])
    assert code == 0
    rows = pd.read_csv(out)
    expected = segment_notice(read_notice(SEED))
    assert len(rows) == len(expected)
    assert rows["id"].tolist() == [m.id for m in expected]
    assert set(rows["label"]) <= set(LABELS)
    printed = capsys.readouterr().out
    assert SEED.stem in printed and "total" in printed


def test_predict_measures_keeps_order_and_ids(store, tmp_path):
    items = [
        {"id": "z9", "text": "严格执行政府采购制度,10万元以上比价。"},
        {"text": "落实意识形态工作责任制,开展舆情研判。", "heading": "二、意识形态"},
        {"id": "a1", "text": "加强干部选拔任用,规范动议、推荐、考察。"},
    ]
    src = tmp_path / "m.jsonl"
    src.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    out = tmp_path / "m_out.jsonl"
    assert main(["predict", "--measures", str(src), "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["z9", None, "a1"]
    assert [r["text"] for r in rows] == [i["text"] for i in items]
    assert all(r["label"] in LABELS for r in rows)


def test_promote_keeps_champion_when_new_model_is_worse(store, capsys):
    _, _, first = store
    from mlflow import MlflowClient

    # five features cannot separate five categories: clearly worse than the champion
    code = main(["train", "--config", str(REPO / "configs" / "tfidf_svm.yaml"), "--quiet", "--promote",
                 "--set", f"data.path={REPO / 'data' / 'measures.jsonl'}", "--set", "tracking.experiment=test-exp",
                 "--set", "data.issuer_kinds=[science_bureau]", "--set", "evaluation.schemes=[leave_one_notice_out]",
                 "--set", "model.max_features=5", "--set", "model.tokenizer=char"])
    assert code == 0
    assert "champion unchanged" in capsys.readouterr().out
    client = MlflowClient()
    assert str(client.get_model_version_by_alias("measure-classifier", "champion").version) == first.version
    candidate = client.get_model_version_by_alias("measure-classifier", "candidate")
    assert int(candidate.version) == int(first.version) + 1


def test_compare_lists_runs_best_first(store, capsys):
    assert main(["compare", "--experiment", "test-exp"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "lono_f1" in lines[0]
    assert "tfidf_svm" in lines[2]


def test_run_training_reports_through_its_callbacks(tmp_path):
    """The experiment without MLflow: both schemes, calibration, thresholds, a shipped model, callbacks in order."""
    from helpers import subset_rows

    from classify.training import TrainingReporter, run_training

    rows = subset_rows(("000_f95aa671dc7000c0", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2"), per_label=4)
    other = [json.loads(line) for line in (REPO / "data" / "measures.jsonl").read_text(encoding="utf-8").splitlines()
             if json.loads(line)["issuer_kind"] in ("education", "hospital")][:40]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows + other), encoding="utf-8")
    calls = []

    class Recorder(TrainingReporter):
        def on_start(self, config, df):
            calls.append(("start", len(df)))

        def on_fold(self, fold):
            calls.append(("fold", fold.scheme))

        def on_cv(self, cv):
            calls.append(("cv", cv.scheme))

        def on_calibrated(self, calibrated):
            calls.append(("calibrated", calibrated.scheme))

    config = parse_config({"data": {"path": str(data)}})
    result = run_training(config, reporter=Recorder(), progress=False)
    assert calls[0] == ("start", len(rows) + len(other))
    schemes = [c[1] for c in calls if c[0] == "cv"]
    assert schemes == ["leave_one_notice_out", "leave_one_issuer_kind_out"]
    kinds = {r["issuer_kind"] for r in rows + other}
    assert sum(1 for c in calls if c == ("fold", "leave_one_issuer_kind_out")) == len(kinds)
    assert calls[-1] == ("calibrated", "leave_one_issuer_kind_out")
    m = result.metrics
    for key in ("cv_macro_f1", "kind_macro_f1", "kind_education_macro_f1", "ece", "brier", "review_threshold",
                "secondary_precision", "train_seconds", "predict_measures_per_second"):
        assert key in m, key
    out = result.model.predict_frame(pd.DataFrame({"text": ["规范财务报销审批"]}))
    assert out["label"].iloc[0] in LABELS and "needs_review" in out
    assert result.model.review_threshold == m["review_threshold"]


def test_scikit_learn_calibration_is_saved_inside_the_model(tmp_path):
    """evaluation.calibration: sigmoid ships a fitted CalibratedClassifierCV that predictions go through."""
    from helpers import subset_rows

    from classify.calibration import ProbabilityCalibrator
    from classify.evaluation import align_proba
    from classify.inputs import model_input
    from classify.models.trained import TrainedModel
    from classify.training import run_training

    rows = subset_rows(("000_f95aa671dc7000c0", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2"), per_label=4)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    config = parse_config({"data": {"path": str(data)}, "evaluation": {"calibration": "sigmoid",
                                                                      "schemes": ["leave_one_notice_out"],
                                                                      "calibrate_on": "leave_one_notice_out"}})
    result = run_training(config, progress=False)
    model = result.model
    assert isinstance(model.calibrator, ProbabilityCalibrator) and model.card["calibration"] == "sigmoid"
    probe = pd.DataFrame({"text": ["规范财务报销审批", "组织党员干部学习党的二十大精神"]})
    raw = align_proba(model.estimator.predict_proba(model_input(probe)), model.estimator.classes_)
    np.testing.assert_allclose(model.predict_proba(probe), model.calibrator.transform(raw))
    assert not np.allclose(model.predict_proba(probe), raw)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(TrainedModel.load(tmp_path / "m").predict_proba(probe), model.predict_proba(probe))
    assert "calibrated_macro_f1" in result.metrics


def test_predict_review_queue_and_explanations(store, tmp_path, capsys):
    from classify.dataset import load_labelled

    out, review = tmp_path / "p.jsonl", tmp_path / "review.jsonl"
    # every label below confidence 1.0 needs review: all measures go to the queue
    assert main(["predict", str(SEED), "--out", str(out), "--review-out", str(review), "--review-below", "1.0",
                 "--explain", "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["needs_review"] for r in rows)
    first = json.loads(rows[0]["explanation"])
    assert len(first["nearest"]) == 3 and all(n["label"] in LABELS for n in first["nearest"])
    assert first["terms"] and all(t["weight"] > 0 for t in first["terms"])
    assert "review" in capsys.readouterr().out
    queue = load_labelled(review)  # the labelled-data format of data/: can be corrected and added to the corpus
    assert queue["id"].tolist() == [r["id"] for r in rows]
    assert main(["predict", str(SEED), "--out", str(out), "--review-below", "0", "--quiet"]) == 0
    assert not any(json.loads(line)["needs_review"] for line in out.read_text(encoding="utf-8").splitlines())


def test_explain_prints_neighbours(store, capsys):
    assert main(["explain", "修订财务报销管理办法,5万元以上支出须集体研究。"]) == 0
    out = capsys.readouterr().out
    assert "->" in out and "terms:" in out and any(lab in out for lab in LABELS)


def test_audit_flags_label_issues_and_logs_them(store, tmp_path):
    from mlflow import MlflowClient

    rows = [json.loads(line) for line in (REPO / "data" / "measures.jsonl").read_text(encoding="utf-8").splitlines()
            if json.loads(line)["issuer_kind"] == "science_bureau"]
    flipped = next(i for i, r in enumerate(rows) if r["label"] == "political_study" and "第一议题" in r["text"])
    rows[flipped] = {**rows[flipped], "label": "finance"}  # a planted label error
    data = tmp_path / "planted.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "issues.csv"
    assert main(["audit", "--config", str(REPO / "configs" / "tfidf_svm.yaml"), "--set", f"data.path={data}",
                 "--set", "tracking.experiment=test-exp", "--out", str(out), "--quiet"]) == 0
    issues = pd.read_csv(out)
    assert rows[flipped]["id"] in set(issues["id"])
    assert issues.loc[issues["id"] == rows[flipped]["id"], "given"].item() == "finance"
    client = MlflowClient()
    exp = client.get_experiment_by_name("test-exp")
    audits = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'audit'")
    assert audits and "audit/label_issues.csv" in {a.path for a in client.list_artifacts(audits[0].info.run_id, "audit")}
