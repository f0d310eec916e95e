"""Train -> track -> register -> predict with the TF-IDF baseline, in a temporary MLflow store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from classify.cli import main
from classify.config import ConfigError, load_config, parse_config
from classify.labels import LABELS
from classify.reading import read_notice
from classify.segmenting import segment_notice

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


def test_config_unknown_key_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  family: tfidf\n  colour: blue\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.colour'"):
        load_config(cfg)


def test_config_wrong_type_is_named(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("model:\n  family: tfidf\n  C: lots\n")
    with pytest.raises(ConfigError, match=r"model\.C: .*'lots'"):
        load_config(cfg)
    with pytest.raises(ConfigError, match=r"seed"):
        parse_config({"seed": "x"})


def test_config_override_is_validated():
    cfg = parse_config({}, overrides=["model.C=2.5", "input.text=heading+measure"])
    assert cfg.model.C == 2.5 and cfg.input.text == "heading+measure"
    with pytest.raises(ConfigError, match="input.text"):
        parse_config({}, overrides=["input.text=everything"])


def test_shipped_configs_validate():
    for path in (REPO / "configs").glob("*.yaml"):
        cfg = load_config(path)
        assert cfg.name == path.stem
