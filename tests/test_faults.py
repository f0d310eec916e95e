"""Faults and bad input as a new user meets them (issue 'Faults and bad input'): one line naming the file or
store and the problem, a non-zero exit, nothing half-written, no traceback unless --debug."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import train_subset_store
from test_bad_input import (
    GOOD_SEEDS,
    REGISTERED,
    SUBSET_NOTICES,
    TFIDF_CONFIG,
    assert_one_line,
    registry_state,
    run,
    subset_rows,
    write_jsonl,
)

from classify.cli import fmt_table, main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as mp:
        uri = train_subset_store(root, mp, db_dir="db")
    return {"root": root, "uri": uri}


def test_served_model_takes_text_alone_and_refuses_empty_text(store: dict) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(store["uri"])
    model = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
    out = model.predict(pd.DataFrame({"text": ["建立网站信息发布三审三校制度。"]}))
    assert {"label", "confidence", "needs_review", "secondary_label"} <= set(out.columns)
    out = model.predict(pd.DataFrame({"text": ["规范财务报销。"], "issuer": ["中共某县教育局党组"]}))
    assert len(out) == 1
    for bad in (None, "", "   "):
        with pytest.raises(MlflowException, match="'text'"):
            model.predict(pd.DataFrame({"text": ["规范财务报销。", bad]}))


def test_artifacts_live_beside_the_database_not_in_the_current_folder(store: dict) -> None:
    root = store["root"]
    assert (root / "db" / "mlartifacts").is_dir()
    assert not (root / "mlruns").exists()


def test_experiment_is_a_model_training_experiment_with_its_dataset(store: dict) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(store["uri"])
    exp = client.get_experiment_by_name("classify")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    run_ = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'parent'")[0]
    inputs = run_.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.digest and "subset.jsonl" in inputs[0].dataset.source


def test_predict_never_creates_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, "no MLflow store at", str(tmp_path / "experiments" / "mlflow.db"), "MLFLOW_TRACKING_URI")
    assert not (tmp_path / "experiments").exists()
    code, _, err = run(capsys, "compare")
    assert code == 2 and not (tmp_path / "experiments").exists()


@pytest.mark.parametrize("out, problem", [("o.txt", "must end in .jsonl or .csv"), ("nodir/o.csv", "does not exist"),
                                          (".", "is a folder")])
def test_bad_out_is_refused_before_any_work(out: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    code, stdout, err = run(capsys, "segment", REPO / "seeds", "--out", out)
    assert code == 2 and stdout == ""  # no notice was read
    assert_one_line(err, problem)
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0], "--out", out)
    assert code == 2
    assert_one_line(err, problem)  # before the store is even looked for


def test_out_equal_to_an_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_jsonl(tmp_path / "m.jsonl", [{"text": "规范财务报销。"}])
    code, _, err = run(capsys, "predict", "--measures", src, "--out", src)
    assert code == 2
    assert_one_line(err, "is also an input file")
    assert json.loads(src.read_text(encoding="utf-8"))["text"] == "规范财务报销。"


def test_store_faults_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], store: dict) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{empty}")
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, str(empty), "empty file")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{corrupt}")
    code, _, err = run(capsys, "compare")
    assert code == 2
    assert_one_line(err, str(corrupt))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "ftp://example.org/store")
    code, _, err = run(capsys, "compare")
    assert code == 2
    assert_one_line(err, "unknown scheme 'ftp'")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0], "--model", f"models:/{REGISTERED}@nosuch")
    assert code == 2
    line = assert_one_line(err, "no alias 'nosuch'")
    assert "@candidate" in line and "@champion" in line


@pytest.mark.parametrize("row, problem", [({"notice_id": None}, "'notice_id' must be a non-empty string"),
                                          ({"notice_id": 7}, "'notice_id' must be a non-empty string"),
                                          ({"text": 12345}, "'text' must be a string")])
def test_bad_rows_fail_before_any_run(row: dict, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    rows = subset_rows()
    rows[2] = {**rows[2], **row}
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    (tmp_path / "s").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 's' / 'mlflow.db'}")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={data}", "--quiet")
    assert code == 2
    assert_one_line(err, f"{data}:3:", problem)
    assert not (tmp_path / "s" / "mlflow.db").exists()


def test_jsonl_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    from classify.dataset import load_labelled

    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "notice_id": "n", "text": "规范报销", "label": "finance"},
                                               ensure_ascii=False).encode("utf-8") + b"\n")
    assert load_labelled(p)["id"].tolist() == ["a"]


def test_a_category_missing_from_the_data_warns(tmp_path: Path) -> None:
    from classify.dataset import LabelCoverageWarning, check_label_coverage, load_labelled

    rows = [r for r in subset_rows() if r["label"] != "ideology"]
    df = load_labelled(write_jsonl(tmp_path / "d.jsonl", rows))
    with pytest.warns(LabelCoverageWarning, match="no measure is labelled 'ideology'"):
        check_label_coverage(df, "d.jsonl")


def test_symlink_loop_and_utf16_without_bom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    code, _, err = run(capsys, "segment", loop)
    assert code == 1
    assert_one_line(err, str(loop), "symbolic link loop")
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "x.txt").symlink_to(folder / "x.txt")
    code, _, err = run(capsys, "segment", folder)
    assert code == 1 and "x.txt" in err and "symbolic link loop" in err
    utf16 = tmp_path / "u16.txt"
    utf16.write_bytes(GOOD_SEEDS[1].read_text(encoding="utf-8").encode("utf-16-le"))
    code, out, _ = run(capsys, "segment", utf16)
    assert code == 0 and "u16.txt" in out


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import classify.notices.files

    def boom(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(classify.notices.files, "segment_file", boom)
    code, _, err = run(capsys, "segment", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, "unexpected ZeroDivisionError", "--debug")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "segment", str(GOOD_SEEDS[0])])


def test_tables_align_by_display_width() -> None:
    table = pd.DataFrame({"measures": [3, 12]}, index=["中文通知 甲", "ab"])
    table.index.name = "notice"
    lines = fmt_table(table).splitlines()
    from classify.cli import _width

    assert len({_width(line) for line in lines}) == 1  # every row as wide as the header


def test_sigterm_during_train_kills_the_run_and_registers_nothing(store: dict, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    before = registry_state(store["uri"])
    env = dict(os.environ, MLFLOW_TRACKING_URI=store["uri"])
    cmd = [sys.executable, "-m", "classify.cli", "train", "--config", str(TFIDF_CONFIG), "--quiet", "--promote",
           "--set", f"data.path={store['root'] / 'subset.jsonl'}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = MlflowClient(store["uri"])
    exp = client.get_experiment_by_name("classify").experiment_id
    n_before = len(client.search_runs([exp]))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(client.search_runs([exp])) == n_before:
        time.sleep(0.2)  # wait until the run exists, then stop it mid-way
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err and "terminated (SIGTERM): nothing was registered" in err
    assert registry_state(store["uri"]) == before
    parents = client.search_runs([exp], "tags.`classify.run_kind` = 'parent'", order_by=["start_time DESC"])
    assert parents[0].info.status == "KILLED"
    assert SUBSET_NOTICES


def test_a_model_whose_files_are_gone_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    write_jsonl(tmp_path / "subset.jsonl", subset_rows())
    (tmp_path / "db").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'db' / 'mlflow.db'}")
    assert main(["train", "--config", str(TFIDF_CONFIG), "--set", f"data.path={tmp_path / 'subset.jsonl'}",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Successfully registered" not in out and "Created version" not in out  # MLflow's own lines stay quiet
    shutil.rmtree(tmp_path / "db" / "mlartifacts")
    code, _, err = run(capsys, "predict", GOOD_SEEDS[0])
    assert code == 2
    assert_one_line(err, f"models:/{REGISTERED}@candidate", "cannot be loaded")
