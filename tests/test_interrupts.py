"""Ctrl-C and SIGTERM (classify/interrupts.py): held while a store write runs and raised when it ends; an interrupted or
terminated ``train`` ends its run KILLED, registers nothing and moves no alias (each test on its own copy of the
trained store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import TFIDF_CONFIG, messages, registry_state, run, store_rows, training_runs, write_jsonl

from classify.interrupts import hold_interrupts

UNCHANGED = (["1"], {"candidate": "1", "champion": "1"})


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler for the test: under a background job SIGINT is ignored instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_held_ctrl_c_is_raised_when_the_block_ends(sigint_raises: None) -> None:
    handler_before = signal.getsignal(signal.SIGINT)
    steps: list[str] = []
    with pytest.raises(KeyboardInterrupt), hold_interrupts():
        with hold_interrupts():  # nested: the outer block decides when to raise
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")
        steps.append("after the inner block")
    assert steps == ["after the signal", "after the inner block"]
    assert signal.getsignal(signal.SIGINT) is handler_before

    with hold_interrupts():  # nothing pending: nothing raised
        steps.append("quiet block")
    assert steps[-1] == "quiet block"


def test_held_ctrl_c_respects_an_ignored_sigint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_IGN)
    installed: list[object] = []
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append(handler))
    with hold_interrupts():
        pass
    assert installed == []


def test_sigterm_is_a_keyboard_interrupt_that_says_so(sigint_raises: None) -> None:
    from classify.interrupts import Terminated, install_signal_handlers

    previous = signal.getsignal(signal.SIGTERM)
    try:
        install_signal_handlers()
        with pytest.raises(Terminated), hold_interrupts() as hold:
            os.kill(os.getpid(), signal.SIGTERM)
            assert hold.pending == signal.SIGTERM
        assert issubclass(Terminated, KeyboardInterrupt)
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- an interrupted train -----------------------------------------------------------------------


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _interrupt_in_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("classify.tracking.reporter.MlflowReporter.on_cv", _interrupt)


def _interrupt_in_final_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the final fit on all measures, after every cross-validation fold has trained."""
    import classify.training

    real_build = classify.training.build_estimator
    n_rows = len(store_rows())

    def build(*args, **kwargs):
        model = real_build(*args, **kwargs)
        real_fit = model.fit

        def fit(X, y):
            if len(X) == n_rows:
                raise KeyboardInterrupt
            return real_fit(X, y)

        model.fit = fit
        return model

    monkeypatch.setattr(classify.training, "build_estimator", build)


def _interrupt_in_log_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("classify.tracking.run.log_pyfunc_model", _interrupt)


def _interrupt_after_version_created(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C inside register(), after MLflow created the version but before any alias moved."""
    from mlflow import MlflowClient

    real = MlflowClient.set_registered_model_alias
    calls: list[tuple] = []

    def first_call_interrupted(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", first_call_interrupted)


def train_again(store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *extra: str
                ) -> tuple[int, str]:
    """``classify train --promote`` into ``store`` with the test's patches, then undo them."""
    monkeypatch.chdir(store.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={store.data}", *extra,
                       "--promote", "--quiet")
    monkeypatch.undo()  # the real MLflow again, for the checks
    return code, err


INTERRUPTS = {
    "artifacts": _interrupt_in_artifacts,
    "final-fit": _interrupt_in_final_fit,
    "log-model": _interrupt_in_log_model,
    "after-version-created": _interrupt_after_version_created,
}


@pytest.mark.slow
@pytest.mark.parametrize("where", list(INTERRUPTS))
def test_interrupted_train_changes_nothing(where: str, store_copy, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    uri = store_copy.uri
    assert registry_state(uri) == UNCHANGED
    INTERRUPTS[where](monkeypatch)
    code, err = train_again(store_copy, monkeypatch, capsys)
    assert code == 130
    lines = [line for line in messages(err) if line.startswith(("error:", "interrupted:"))]
    assert lines == ["interrupted: nothing was registered and no alias moved"], err
    assert "Traceback" not in err
    assert registry_state(uri) == UNCHANGED
    latest = training_runs(uri)[0]
    assert latest.info.run_id != store_copy.run_id and latest.info.status == "KILLED"


@pytest.mark.slow
def test_real_ctrl_c_during_cross_validation(store_copy) -> None:
    """SIGINT to a real ``classify train`` process once its first fold is logged: exit 130, registry unchanged."""
    from mlflow import MlflowClient

    uri = store_copy.uri
    client = MlflowClient(uri)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    proc = subprocess.Popen(
        [sys.executable, "-m", "classify.cli", "train", "--config", str(TFIDF_CONFIG), "--set",
         f"data.path={store_copy.data}", "--promote", "--quiet"],
        cwd=store_copy.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # under a background job SIGINT is ignored, and the child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # the new run's first fold: step 0 of its per-fold metric
            new = [r for r in training_runs(uri) if r.info.run_id != store_copy.run_id]
            if new and client.get_metric_history(new[0].info.run_id, "lono_fold_macro_f1"):
                break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no fold was logged within 120 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # 130, or killed by SIGINT when Python re-raises the signal at exit (shells show 130 for both)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert [line for line in messages(err) if line.startswith(("error:", "interrupted:"))] == [
        "interrupted: nothing was registered and no alias moved"], err
    assert "Traceback" not in err and "database is locked" not in err
    assert registry_state(uri) == UNCHANGED
    assert training_runs(uri)[0].info.status == "KILLED"


@pytest.mark.parametrize("fold_runs", [False, True])
def test_ctrl_c_during_a_fold_write_lets_the_write_finish(fold_runs: bool, store_copy, sigint_raises: None,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT while a fold's numbers are being written: the write completes, the train stops cleanly after it."""
    import mlflow
    from mlflow import MlflowClient

    uri = store_copy.uri
    real_log_metrics = mlflow.log_metrics

    def log_metrics_with_ctrl_c(metrics, *args, **kwargs):
        if "lono_fold_macro_f1" in metrics:  # the first fold's step metrics
            os.kill(os.getpid(), signal.SIGINT)
        return real_log_metrics(metrics, *args, **kwargs)

    monkeypatch.setattr(mlflow, "log_metrics", log_metrics_with_ctrl_c)
    code, err = train_again(store_copy, monkeypatch, capsys, "--set", f"tracking.fold_runs={str(fold_runs).lower()}")
    assert code == 130, err
    assert "Traceback" not in err and "database is locked" not in err
    assert registry_state(uri) == UNCHANGED

    client = MlflowClient(uri)
    training = training_runs(uri)[0]
    assert training.info.status == "KILLED"
    history = client.get_metric_history(training.info.run_id, "lono_fold_macro_f1")
    assert [m.step for m in history] == [0]  # the interrupt stopped cross-validation after the first fold ...
    exp_id = client.get_experiment_by_name("classify").experiment_id
    folds = client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{training.info.run_id}'")
    if fold_runs:  # ... whose child run, written inside the same held block, finished
        assert len(folds) == 1 and folds[0].info.status == "FINISHED"
        assert "macro_f1" in folds[0].data.metrics and "train_seconds" in folds[0].data.metrics
    else:
        assert folds == []


@pytest.mark.slow
def test_ctrl_c_during_registration_undoes_it(store_copy, sigint_raises: None, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT while the new version is being registered: version and aliases are rolled back."""
    from mlflow import MlflowClient

    real = MlflowClient.set_registered_model_alias

    def alias_with_ctrl_c(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", alias_with_ctrl_c)
    code, err = train_again(store_copy, monkeypatch, capsys)
    assert code == 130, err
    assert [line for line in messages(err) if line.startswith(("error:", "interrupted:"))] == [
        "interrupted: nothing was registered and no alias moved"], err
    assert registry_state(store_copy.uri) == UNCHANGED


@pytest.mark.slow
def test_interrupted_first_registration_leaves_no_registered_model(work, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    write_jsonl(work / "subset.jsonl", store_rows())
    _interrupt_after_version_created(monkeypatch)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={work / 'subset.jsonl'}",
                       "--quiet")
    monkeypatch.undo()
    assert code == 130, err
    uri = f"sqlite:///{work / 'store' / 'mlflow.db'}"
    assert MlflowClient(uri, uri).search_registered_models() == []


@pytest.mark.slow
def test_sigterm_during_train_kills_the_run_and_registers_nothing(store_copy, tmp_path) -> None:
    uri = store_copy.uri
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "classify.cli", "train", "--config", str(TFIDF_CONFIG), "--quiet", "--promote",
           "--set", f"data.path={store_copy.data}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in training_runs(uri) if r.info.run_id != store_copy.run_id]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the training run was not created within 60 s"
            time.sleep(0.2)  # wait until the run exists, then stop it mid-way
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err and "terminated (SIGTERM): nothing was registered" in err
    assert registry_state(uri) == UNCHANGED
    killed = training_runs(uri)[0]
    assert killed.info.run_id != store_copy.run_id and killed.info.status == "KILLED"  # the run this process started
