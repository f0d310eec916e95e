"""The registry and the runs table (classify/tracking/registry.py): registering a version, ``candidate`` and
``champion`` (promotion on ``tracking.promote_metric``), what a model URI names, loading a model with one-line errors,
``classify compare`` (older stores' names read too)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import (
    GOOD_SEEDS,
    REGISTERED,
    TFIDF_CONFIG,
    assert_model_then_error,
    registry_state,
    run,
    server_api,
    training_runs,
)

from classify.errors import TrackingError
from classify.tracking import connect, model_card, model_scheme, register, resolve_model_uri
from classify.tracking.registry import Promotion, decide_promotion, model_version, old_metric_name, run_metric
from classify.tracking.store import RUN_KIND_TAG


def _champion_metrics(store) -> dict[str, float]:
    from mlflow import MlflowClient

    return MlflowClient(store.uri).get_run(store.run_id).data.metrics


def _model_source(store) -> str:
    from mlflow import MlflowClient

    return MlflowClient(store.uri, store.uri).get_model_version(REGISTERED, "1").source


# --- promotion ----------------------------------------------------------------------------------

# (promote metric, the new run's value: a function of the champion's metrics) -> the reason's words
WORSE_RUNS = {
    "worse-on-the-default-metric": ("loiko_real_macro_f1", lambda m: m["loiko_real_macro_f1"] - 0.2,
                                    "does not beat the champion's (v1)"),
    "equal-is-not-better": ("loiko_real_macro_f1", lambda m: m["loiko_real_macro_f1"], "does not beat"),
    "worse-on-leave-one-notice-out": ("lono_macro_f1", lambda m: m["lono_macro_f1"] - 0.05, "does not beat"),
    "run-without-the-metric": ("loiko_real_macro_f1", lambda m: None,
                               "the run has no loiko_real_macro_f1 (is its scheme configured?)"),
    "champion-without-the-metric": ("loiko_university_macro_f1", lambda m: 1.0,
                                    "the champion (v1) has no loiko_university_macro_f1 to compare with"),
}


@pytest.mark.parametrize("case", list(WORSE_RUNS))
def test_a_run_that_is_not_better_never_takes_champion(case: str, store_copy) -> None:
    """Whatever the schemes and metric: a run that is worse, equal, or cannot be compared leaves champion alone,
    becomes candidate, and the decision says which metric decided."""
    metric, value_of, reason = WORSE_RUNS[case]
    connect(store_copy.uri)
    value = value_of(_champion_metrics(store_copy))
    version, promotion = register(_model_source(store_copy), REGISTERED, store_copy.run_id, promote=True,
                                  metric=metric, value=value)
    assert version == "2" and promotion is not None and not promotion.promoted
    assert reason in promotion.reason and "champion unchanged" in promotion.reason and metric in promotion.reason
    assert registry_state(store_copy.uri) == (["1", "2"], {"candidate": "2", "champion": "1"})


def test_a_better_run_takes_champion(store_copy) -> None:
    connect(store_copy.uri)
    best = _champion_metrics(store_copy)["loiko_real_macro_f1"]
    version, promotion = register(_model_source(store_copy), REGISTERED, store_copy.run_id, promote=True,
                                  metric="loiko_real_macro_f1", value=best + 0.1)
    assert promotion == Promotion(True, f"loiko_real_macro_f1 {best + 0.1:.3f} beats the champion's (v1) {best:.3f}")
    assert registry_state(store_copy.uri) == (["1", "2"], {"candidate": "2", "champion": "2"})
    # without --promote nothing is decided: the new version is the candidate only
    version, promotion = register(_model_source(store_copy), REGISTERED, store_copy.run_id, promote=False,
                                  metric="loiko_real_macro_f1", value=1.0)
    assert (version, promotion) == ("3", None)
    assert registry_state(store_copy.uri)[1] == {"candidate": "3", "champion": "2"}


def test_the_first_run_takes_champion_only_with_the_metric(store_copy) -> None:
    connect(store_copy.uri)
    assert decide_promotion("new-model", "loiko_real_macro_f1", 0.1).promoted  # no champion yet
    assert not decide_promotion("new-model", "loiko_real_macro_f1", None).promoted


def test_promote_keeps_champion_when_new_model_is_worse(store_copy, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(store_copy.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy.uri)
    # five features cannot separate five categories: clearly worse than the champion
    code, out, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--quiet", "--promote", "--set",
                         f"data.path={store_copy.data}", "--set", "model.max_features=5", "--set", "model.features=chars")
    assert code == 0, err
    assert "not promoted: loiko_real_macro_f1" in out and "champion unchanged" in out
    assert registry_state(store_copy.uri) == (["1", "2"], {"candidate": "2", "champion": "1"})


# --- what a model URI names ---------------------------------------------------------------------


def test_model_card_of_a_registered_model(trained_store) -> None:
    connect(trained_store.uri)
    card = model_card(trained_store.model_uri, note="a note")
    assert card["uri"] == trained_store.model_uri and card["note"] == "a note"
    assert (card["registered_model"], card["version"], card["run_id"]) == (REGISTERED, "1", trained_store.run_id)
    assert (card["family"], card["config"], card["label_scheme"]) == ("tfidf", "tfidf_logreg", "codebook")
    assert {"lono_macro_f1", "loiko_real_macro_f1", "ece", "review_threshold"} <= set(card["metrics"])
    assert model_version(trained_store.model_uri) == {"registered_model": REGISTERED, "version": "1",
                                                      "run_id": trained_store.run_id}
    assert model_version(f"models:/{REGISTERED}/1") == model_version(trained_store.model_uri)
    assert model_version("runs:/abc/model") is None
    # the logged model's own URI (models:/m-…, what training returns) names the same model
    logged = model_card(_model_source(trained_store))
    assert (logged["family"], logged["label_scheme"]) == ("tfidf", "codebook") and logged["metrics"] == card["metrics"]
    assert model_scheme(_model_source(trained_store)).labels == model_scheme(trained_store.model_uri).labels


def test_a_uri_with_no_classify_model_is_a_tracking_error(trained_store, tmp_path: Path) -> None:
    connect(trained_store.uri)
    for uri in (f"runs:/{trained_store.run_id}/evaluation", str(tmp_path)):
        with pytest.raises(TrackingError, match="no classify model there"):
            model_card(uri)
    with pytest.raises(TrackingError, match="no alias 'nosuch'"):
        model_card(f"models:/{REGISTERED}@nosuch")


def test_an_old_card_is_read_under_the_new_names(store_copy) -> None:
    """A model logged before the vocabulary was unified carries cv_/kind_ numbers; the card shows them by today's
    names."""
    import mlflow
    import pandas as pd

    from classify.models.tfidf import TfidfMeasureClassifier
    from classify.models.trained import TrainedModel
    from classify.tracking.pyfunc import log_pyfunc_model

    connect(store_copy.uri)
    X = pd.DataFrame({"text": ["规范财务报销", "学习党章", "干部选拔"]})
    model = TrainedModel(TfidfMeasureClassifier().fit(X, ["finance", "political_study", "personnel"]),
                         card={"family": "tfidf", "cv_macro_f1": 0.7, "kind_real_macro_f1": 0.6})
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("classify").experiment_id):
        info = log_pyfunc_model(model, X)
    assert model_card(info.model_uri)["metrics"] == {"lono_macro_f1": 0.7, "loiko_real_macro_f1": 0.6}


def test_resolve_model_uri(store_copy, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    assert resolve_model_uri(str(tmp_path), REGISTERED) == str(tmp_path.resolve())  # a folder, made absolute
    assert resolve_model_uri("runs:/abc/model", REGISTERED, store_copy.uri) == "runs:/abc/model"
    assert resolve_model_uri(None, REGISTERED, store_copy.uri) == f"models:/{REGISTERED}@champion"
    MlflowClient(store_copy.uri, store_copy.uri).delete_registered_model_alias(REGISTERED, "champion")
    assert resolve_model_uri(None, REGISTERED, store_copy.uri) == f"models:/{REGISTERED}@candidate"
    with pytest.raises(TrackingError, match="registered model 'other' has no 'champion' or 'candidate' version"):
        resolve_model_uri(None, "other", store_copy.uri)


def test_an_unknown_alias_lists_the_known_ones(in_store, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0], "--model", f"models:/{REGISTERED}@nosuch")
    assert code == 2
    line = assert_model_then_error(err, f"models:/{REGISTERED}@nosuch", "no alias 'nosuch'")
    assert "@candidate" in line and "@champion" in line


def test_a_model_whose_files_are_gone_is_one_line(store_copy, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # MLflow's own "Successfully registered…/Created version…" lines stay quiet: classify says it itself
    assert "Successfully registered" not in store_copy.train_output
    assert "Created version" not in store_copy.train_output
    assert f"registered {REGISTERED} v1 (candidate, champion)" in store_copy.train_output
    shutil.rmtree(store_copy.db_dir / "mlartifacts")
    monkeypatch.chdir(store_copy.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_copy.uri)
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_model_then_error(err, f"models:/{REGISTERED}@champion", f"models:/{REGISTERED}@champion", "cannot be loaded")


# --- the runs table -----------------------------------------------------------------------------


def test_compare_lists_runs_best_first(in_store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "compare")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:6] == ["#", "config", "family", "input", "lono_f1", "loiko_f1"]
    assert "loiko_real_f1" in lines[0]
    assert "tfidf_logreg" in lines[2] and len(lines) == 3  # one row per training, however many folds
    code, out, _ = run(capsys, "compare", "--experiment", "nosuch")
    assert code == 2


def test_compare_and_promotion_read_older_stores(store_copy) -> None:
    """Runs written before the vocabulary was unified (cv_/kind_ metrics, run kind 'parent') are compared by
    today's names; fold, audit and batch runs are not training runs."""
    import mlflow

    from classify.tracking import compare_runs

    connect(store_copy.uri)
    exp_id = mlflow.get_experiment_by_name("classify").experiment_id
    with mlflow.start_run(experiment_id=exp_id, tags={RUN_KIND_TAG: "parent", "config_name": "old_config"}) as old:
        mlflow.log_metrics({"cv_macro_f1": 0.51, "kind_macro_f1": 0.41, "kind_real_macro_f1": 0.99})
    for kind in ("fold", "audit", "batch"):
        with mlflow.start_run(experiment_id=exp_id, tags={RUN_KIND_TAG: kind}):
            mlflow.log_metric("lono_macro_f1", 1.0)
    table = compare_runs("classify")
    assert table["config"].tolist() == ["old_config", "tfidf_logreg"]  # best loiko_real_f1 first
    assert table.loc[0, ["lono_f1", "loiko_f1", "loiko_real_f1"]].tolist() == [0.51, 0.41, 0.99]
    assert old_metric_name("loiko_real_macro_f1") == "kind_real_macro_f1"
    assert old_metric_name("lono_f1_finance") == "cv_f1_finance" and old_metric_name("ece") is None
    assert run_metric(old.info.run_id, "loiko_real_macro_f1") == 0.99
    assert run_metric(old.info.run_id, "loiko_university_macro_f1") is None
    assert run_metric("no-such-run", "lono_macro_f1") is None
    assert len(training_runs(store_copy.uri)) == 1  # a 'parent' run is a training run for compare, not here


# --- against a tracking server --------------------------------------------------------------------


@pytest.mark.slow
def test_registered_versions_on_a_server_have_aliases(server_trained: dict) -> None:
    server = server_trained["url"]
    model = server_api(server, "GET", "registered-models/get", params={"name": REGISTERED})["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    assert aliases == {"candidate": "2"}  # neither run was promoted; the last one is the candidate

    exp = server_api(server, "GET", "experiments/get-by-name", params={"experiment_name": "classify"})["experiment"]
    found = server_api(server, "POST", "runs/search", json={
        "experiment_ids": [exp["experiment_id"]], "filter": "tags.`classify.run_kind` = 'training'", "max_results": 50})
    runs = {r["info"]["run_id"]: r for r in found["runs"]}
    families = {}
    for version in ("1", "2"):
        mv = server_api(server, "GET", "model-versions/get", params={"name": REGISTERED, "version": version})
        mv = mv["model_version"]
        assert mv["status"] == "READY"
        assert mv["run_id"] in runs
        tags = {t["key"]: t["value"] for t in runs[mv["run_id"]]["data"]["tags"]}
        families[version] = tags["model_family"]
    assert families == {"1": "tfidf", "2": "bert"}

    by_alias = server_api(server, "GET", "registered-models/alias", params={"name": REGISTERED, "alias": "candidate"})
    assert by_alias["model_version"]["version"] == "2"
    assert "candidate" in by_alias["model_version"].get("aliases", [])
