"""Bad input through the command line (issue 5): notices, labelled data, configs, an interrupted train.

Every case checks the exit code, a one-line error on stderr that names the file (or URI) and the
problem, and that nothing was half-written: a ``--out`` file that existed before a failed run is
untouched, a failed ``train`` creates no MLflow run, an interrupted one no registered version and
no alias move. Everything runs in a temporary folder against a temporary SQLite store.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from helpers import subset_rows as shared_subset_rows

from classify.cli import main
from classify.dataset import LabelCoverageWarning
from classify.tracking import TrackingError

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
DATA = REPO / "data" / "measures.jsonl"
TFIDF_CONFIG = REPO / "configs" / "tfidf_logreg.yaml"
SIMPLIFIED_SEED = SEEDS / "000_f95aa671dc7000c0.txt"
GOOD_SEEDS = (SEEDS / "001_069fa13e86ff3dc9.txt", SEEDS / "004_4ec4d330bc6282d2.txt")
# Three notices that each have measures of all five categories, so the subset warns about nothing.
SUBSET_NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2")
REGISTERED = "measure-classifier"
PREVIOUS = "previous output, must survive a failed run\n"

# MLflow's own log records ("2024/01/01 12:00:00 INFO mlflow...: ...") are not classify's messages.
_MLFLOW_LOG = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (DEBUG|INFO|WARNING) ")
NEWS = (
    "新华社北京3月5日电 今天上午,十四届全国人大二次会议在人民大会堂开幕。会议听取了政府工作报告,"
    "代表们认真审议。与会代表表示,要坚定信心、攻坚克难,为推动高质量发展贡献力量。\n"
    "据悉,本次会议将持续一周左右,其间还将审议多项法律草案。\n"
)


# --- helpers ------------------------------------------------------------------------------------


def subset_rows(per_label: int = 3) -> list[dict]:
    return shared_subset_rows(SUBSET_NOTICES, per_label)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def messages(err: str) -> list[str]:
    """Non-empty stderr lines, MLflow's own log records left out."""
    return [line for line in err.splitlines() if line.strip() and not _MLFLOW_LOG.match(line)]


def assert_one_line(err: str, *fragments: str) -> str:
    lines = messages(err)
    assert len(lines) == 1, f"expected a one-line error, got:\n{err}"
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in err
    return lines[0]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def store_runs(store_dir: Path) -> int:
    """Runs in the SQLite store under ``store_dir`` (0 when the store was never created)."""
    db = store_dir / "mlflow.db"
    if not db.exists():
        return 0
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(exp_ids)) if exp_ids else 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = a fresh tmp folder with its own (not yet created) SQLite store in ``store/``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    monkeypatch.setenv("CLASSIFY_MODELS_DIR", str(tmp_path / "no-models"))
    return tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One TF-IDF model trained (and promoted) into a module-wide SQLite store: version 1, both aliases."""
    root = tmp_path_factory.mktemp("trained")
    write_jsonl(root / "subset.jsonl", subset_rows())
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        code = main(["train", "--config", str(TFIDF_CONFIG), "--set", f"data.path={root / 'subset.jsonl'}",
                     "--promote", "--quiet"])
    assert code == 0
    return {"root": root, "uri": uri, "data": root / "subset.jsonl"}


def registry_state(uri: str) -> tuple[list[str], dict[str, str]]:
    from mlflow import MlflowClient

    client = MlflowClient(uri, uri)
    versions = sorted(mv.version for mv in client.search_model_versions(f"name = '{REGISTERED}'"))
    aliases = dict(client.get_registered_model(REGISTERED).aliases)
    return [str(v) for v in versions], {k: str(v) for k, v in aliases.items()}


# --- notices ------------------------------------------------------------------------------------


def _empty(d: Path) -> Path:
    (d / "empty.txt").write_bytes(b"")
    return d / "empty.txt"


def _blank(d: Path) -> Path:
    (d / "blank.txt").write_text(" \n\u3000\n\t\n", encoding="utf-8")
    return d / "blank.txt"


def _binary(d: Path) -> Path:
    (d / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    return d / "scan.txt"


def _binary_html(d: Path) -> Path:
    (d / "page.html").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00\x01\x02\x03" * 500)
    return d / "page.html"


def _no_measure(d: Path) -> Path:
    (d / "news.txt").write_text(NEWS, encoding="utf-8")
    return d / "news.txt"


def _unsupported(d: Path) -> Path:
    (d / "notice.docx").write_bytes(SIMPLIFIED_SEED.read_bytes())
    return d / "notice.docx"


def _missing(d: Path) -> Path:
    return d / "nowhere.txt"


def _big(d: Path, mb: int = 20) -> Path:
    """Real Chinese text (repeated seed paragraphs), ``mb`` MB: not sparse, decodes fine if ever read."""
    chunk = SIMPLIFIED_SEED.read_text(encoding="utf-8").encode("utf-8")
    path = d / "huge.txt"
    with path.open("wb") as fh:
        for _ in range(mb * 1024 * 1024 // len(chunk) + 1):
            fh.write(chunk)
    return path


NOTICE_CASES = {
    "empty": (_empty, "empty file"),
    "blank": (_blank, "no text in the file"),
    "binary": (_binary, "binary file"),
    "binary-html": (_binary_html, "binary file"),
    "no-measure": (_no_measure, "no rectification measure found"),
    "unsupported-extension": (_unsupported, "unsupported file type '.docx'"),
    "missing": (_missing, "file not found"),
    "20MB": (_big, "too large"),
}


@pytest.mark.parametrize("case", list(NOTICE_CASES))
def test_bad_notice_segment(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, problem = NOTICE_CASES[case]
    path = make(work)
    out = work / "measures.jsonl"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, _, err = run(capsys, "segment", path, "--out", out)
    assert code == 1
    assert_one_line(err, str(path), problem)
    assert out.read_text(encoding="utf-8") == PREVIOUS


def test_folder_with_other_files_names_them(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files in a folder that are not notices are skipped, but named: a .docx notice would otherwise vanish."""
    folder = work / "notices"
    folder.mkdir()
    (folder / "a.txt").write_bytes(SIMPLIFIED_SEED.read_bytes())
    (folder / "b.docx").write_bytes(b"PK\x03\x04")
    (folder / ".DS_Store").write_bytes(b"\0")
    with pytest.warns(UserWarning) as caught:
        code, out, _ = run(capsys, "segment", folder, "--out", work / "m.jsonl")
    assert code == 0
    assert "a.txt" in out
    assert [str(w.message) for w in caught] == [f"{folder}: skipped 1 file(s) that are not .txt/.html/.htm: b.docx"]


def test_big_notice_rejected_by_size_before_decoding(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _big(work)
    assert path.stat().st_size >= 20 * 1024 * 1024

    def must_not_run(*args, **kwargs):
        raise AssertionError("a 20 MB file was read and decoded")

    monkeypatch.setattr("classify.notices.reading.decode_bytes", must_not_run)
    monkeypatch.setattr(Path, "read_bytes", must_not_run)
    code, _, err = run(capsys, "segment", path)
    assert code == 1
    line = assert_one_line(err, str(path), "too large")
    assert re.search(r"\(2\d\.\d MB > \d+\.\d MB limit\)", line), line


def test_big_notice_through_the_entry_point(tmp_path: Path) -> None:
    """The same rejection as a real process: exit status, nothing but the one line on stderr."""
    path = _big(tmp_path)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "classify.cli", "segment", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert_one_line(proc.stderr, str(path), "too large")
    assert time.perf_counter() - t0 < 60


def test_unreadable_notice(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "locked.txt"
    path.write_bytes(SIMPLIFIED_SEED.read_bytes())
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read a mode-000 file (root)")
        code, _, err = run(capsys, "segment", path)
        assert code == 1
        assert_one_line(err, str(path), "permission denied")
    finally:
        path.chmod(0o644)


def test_unreadable_notice_simulated(work: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The same case where the tests run as root (who reads mode-000 files): the OS refusal is simulated."""
    path = work / "locked.txt"
    path.write_bytes(SIMPLIFIED_SEED.read_bytes())
    real_read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == path.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    out = work / "measures.jsonl"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, _, err = run(capsys, "segment", path, "--out", out)
    assert code == 1
    assert_one_line(err, str(path), "permission denied")
    assert out.read_text(encoding="utf-8") == PREVIOUS


def test_gbk_without_hint_reads_like_utf8(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A GBK file with no BOM, no <meta charset> and no flag gives the same measures (and ids) as UTF-8."""
    text = SIMPLIFIED_SEED.read_text(encoding="utf-8").replace("\xa0", " ")  # GBK has no NBSP
    (work / "gbk").mkdir()
    (work / "utf8").mkdir()
    name = SIMPLIFIED_SEED.name
    (work / "gbk" / name).write_bytes(text.encode("gbk"))
    (work / "utf8" / name).write_text(text, encoding="utf-8")
    with pytest.raises(UnicodeDecodeError):
        (work / "gbk" / name).read_bytes().decode("utf-8")

    code, _, err = run(capsys, "segment", work / "gbk" / name, "--out", work / "gbk.jsonl")
    assert code == 0, err
    assert run(capsys, "segment", work / "utf8" / name, "--out", work / "utf8.jsonl")[0] == 0
    gbk = [json.loads(line) for line in (work / "gbk.jsonl").read_text(encoding="utf-8").splitlines()]
    utf8 = [json.loads(line) for line in (work / "utf8.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(gbk) > 20
    assert gbk == utf8


def test_predict_folder_with_bad_files_goes_on(trained: dict, work: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    folder = work / "incoming"
    folder.mkdir()
    for seed in GOOD_SEEDS:
        (folder / seed.name).write_bytes(seed.read_bytes())
    bad = [_empty(folder), _binary_html(folder), _no_measure(folder), _big(folder, mb=6)]
    out = work / "predictions.csv"
    out.write_text(PREVIOUS, encoding="utf-8")

    code, stdout, err = run(capsys, "predict", folder, "--model", f"models:/{REGISTERED}@candidate",
                            "--out", out, "--quiet")
    assert code == 1
    rows = pd.read_csv(out)
    expected = {seed.stem for seed in GOOD_SEEDS}
    assert set(rows["notice"]) == expected
    segmented = [json.loads(line) for path in GOOD_SEEDS
                 for line in _segment_jsonl(path, work, capsys).splitlines()]
    assert len(rows) == len(segmented)
    assert rows["label"].notna().all()
    assert "total" in stdout

    lines = messages(err)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == len(bad)
    for path in bad:
        assert sum(str(path) in line for line in errors) == 1, (path, errors)
    # the bad files are reported at the end, after the model line, with a count
    assert lines[-1] == f"{len(bad)} file(s) could not be used"
    assert lines[-1 - len(bad):-1] == errors


def _segment_jsonl(path: Path, work: Path, capsys: pytest.CaptureFixture[str]) -> str:
    target = work / f"{path.stem}.jsonl"
    assert run(capsys, "segment", path, "--out", target)[0] == 0
    return target.read_text(encoding="utf-8")


def test_predict_only_bad_input_leaves_out_untouched(trained: dict, work: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    path = _no_measure(work)
    out = work / "predictions.csv"
    out.write_text(PREVIOUS, encoding="utf-8")
    code, _, err = run(capsys, "predict", path, "--model", f"models:/{REGISTERED}@candidate", "--out", out,
                       "--quiet")
    assert code == 1
    errors = [line for line in messages(err) if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "no rectification measure" in errors[0]
    assert out.read_text(encoding="utf-8") == PREVIOUS


# --- labelled data ------------------------------------------------------------------------------


def _unknown_label(rows: list[dict]) -> tuple[list[dict], str]:
    rows[4]["label"] = "party_building"
    return rows, ":5: unknown label 'party_building'"


def _duplicate_ids(rows: list[dict]) -> tuple[list[dict], str]:
    rows[7]["id"] = rows[2]["id"]
    return rows, f"duplicate id '{rows[2]['id']}' on lines 3, 8"


def _empty_text(rows: list[dict]) -> tuple[list[dict], str]:
    rows[1]["text"] = "  \u3000 "
    rows[1].pop("text_simplified", None)
    return rows, f":2: empty text for id '{rows[1]['id']}'"


def _missing_field(rows: list[dict]) -> tuple[list[dict], str]:
    del rows[3]["label"]
    return rows, ":4: missing field(s) label"


def _one_notice(rows: list[dict]) -> tuple[list[dict], str]:
    return [r for r in rows if r["notice_id"] == SUBSET_NOTICES[0]], "at least two notices"


DATA_CASES = {
    "unknown-label": _unknown_label,
    "duplicate-ids": _duplicate_ids,
    "empty-text": _empty_text,
    "missing-field": _missing_field,
    "one-notice": _one_notice,
}


@pytest.mark.filterwarnings("ignore::classify.dataset.LabelCoverageWarning")  # one-notice warns, then fails
@pytest.mark.parametrize("case", list(DATA_CASES))
def test_bad_data_fails_before_any_run(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows, problem = DATA_CASES[case](subset_rows())
    path = write_jsonl(work / f"{case}.jsonl", rows)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, str(path), problem)
    assert store_runs(work / "store") == 0


def test_missing_data_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "nowhere.jsonl"
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, str(path), "labelled data file not found")
    assert store_runs(work / "store") == 0


def test_data_not_json(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = work / "broken.jsonl"
    path.write_text(json.dumps(subset_rows()[0], ensure_ascii=False) + "\n{\"id\": \"x\", \n", encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2
    assert_one_line(err, f"{path}:2", "not valid JSON")
    assert store_runs(work / "store") == 0


def test_category_in_one_notice_warns_before_tracking(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """'finance' only in one notice: a LabelCoverageWarning naming label and notice, before any MLflow call."""
    only = SUBSET_NOTICES[1]
    rows = [r for r in subset_rows() if r["label"] != "finance" or r["notice_id"] == only]
    path = write_jsonl(work / "thin.jsonl", rows)
    seen_at_connect: list[str] = []

    def stop_at_connect(*args, **kwargs):
        seen_at_connect.extend(str(w.message) for w in caught if issubclass(w.category, LabelCoverageWarning))
        raise TrackingError("test stops here, before the tracking store is touched")

    monkeypatch.setattr("classify.tracking.connect", stop_at_connect)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={path}", "--quiet")
    assert code == 2 and "test stops here" in err
    assert seen_at_connect == [
        f"{path}: label 'finance' occurs only in notice {only}; the fold holding it out trains without it"
    ]
    assert store_runs(work / "store") == 0


# --- configs ------------------------------------------------------------------------------------


def _config_text(body: str, data: Path) -> str:
    return f"data:\n  path: {data}\n{body}"


CONFIG_CASES = {
    "unknown-top-key": ("modle:\n  family: tfidf\n", "unknown key 'modle'"),
    "unknown-nested-key": ("model:\n  family: tfidf\n  learning_rat: 0.1\n", "unknown key 'model.learning_rat'"),
    "unknown-family": ("model:\n  family: svm\n", "model.family: unknown model family 'svm'"),
    "wrong-type-int": ("seed: abc\n", "seed: Input should be a valid integer"),
    "wrong-type-float": ("model:\n  family: tfidf\n  C: high\n", "model.C: Input should be a valid number"),
    "wrong-range": ("model:\n  family: tfidf\n  C: -1\n", "model.C: Input should be greater than 0"),
    "wrong-type-bert": ("model:\n  family: bert\n  epochs: many\n", "model.epochs: Input should be a valid integer"),
    "bad-ngrams": ("model:\n  family: tfidf\n  char_ngram_range: [3, 1]\n", "model.char_ngram_range"),
    "model-path-missing": ("model:\n  family: bert\n  pretrained: ./no/such/model\n",
                           "model path './no/such/model' does not exist"),
    "not-a-mapping": (None, "a config must be a mapping"),
    "not-yaml": (None, "not valid YAML"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(case: str, work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, problem = CONFIG_CASES[case]
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    path = work / f"{case}.yaml"
    if case == "not-a-mapping":
        path.write_text("- family: tfidf\n- seed: 1\n", encoding="utf-8")
    elif case == "not-yaml":
        path.write_text("model: {family: tfidf\n", encoding="utf-8")
    else:
        path.write_text(_config_text(body, data), encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert code == 2
    assert_one_line(err, str(path), problem)
    assert store_runs(work / "store") == 0


def test_bad_override(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", "model.max_iter=lots", "--quiet")
    assert code == 2
    assert_one_line(err, str(TFIDF_CONFIG), "model.max_iter: Input should be a valid integer")


def test_missing_config_file(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "--config", work / "nope.yaml", "--quiet")
    assert code == 2
    assert_one_line(err, str(work / "nope.yaml"), "config file not found")


def test_pulled_model_missing(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A BERT config naming a model that was never pulled fails before any run, pointing at the fix."""
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    path = work / "bert.yaml"
    path.write_text(_config_text("model:\n  family: bert\n  pretrained: m3e-small\n", data), encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert code == 2
    assert_one_line(err, str(work / "no-models" / "m3e-small"), "classify models pull m3e-small")
    assert store_runs(work / "store") == 0


@pytest.mark.parametrize("how", ["config", "env"])
def test_unreachable_tracking_server_fails_fast(how: str, work: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    # connect() sets these with setdefault; set them here so they are undone after the test
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    path = work / "remote.yaml"
    if how == "config":
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        path.write_text(_config_text(f"tracking:\n  tracking_uri: {uri}\n", data), encoding="utf-8")
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        path.write_text(_config_text("", data), encoding="utf-8")
    t0 = time.perf_counter()
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert time.perf_counter() - t0 < 20
    assert code == 2
    assert_one_line(err, uri, "cannot reach MLflow tracking server")
    assert not (work / "experiments").exists() and not (work / "mlruns").exists()


def test_silent_tracking_server_fails_fast(work: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A port that accepts connections but never answers (a hung server): a timeout, not a hang."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nobody ever reads or replies
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        t0 = time.perf_counter()
        code, _, err = run(capsys, "predict", SIMPLIFIED_SEED, "--model", f"models:/{REGISTERED}@candidate",
                           "--quiet")
        assert time.perf_counter() - t0 < 20
    assert code == 2
    assert_one_line(err, uri, "cannot reach MLflow tracking server")


# --- interrupted train --------------------------------------------------------------------------


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def _interrupt_in_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("classify.tracking.MlflowReporter.on_cv", _interrupt)


def _interrupt_in_final_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the final fit on all measures, after every cross-validation fold has trained."""
    import classify.training

    real_build = classify.training.build_estimator
    n_rows = len(subset_rows())

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
    monkeypatch.setattr("classify.tracking.log_pyfunc_model", _interrupt)


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


def train_again(trained: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``classify train --promote`` into the module's trained store with the test's patches, then undo them."""
    monkeypatch.chdir(trained["root"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={trained['data']}",
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
def test_interrupted_train_changes_nothing(where: str, trained: dict, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    uri = trained["uri"]
    assert registry_state(uri) == (["1"], {"candidate": "1", "champion": "1"})
    INTERRUPTS[where](monkeypatch)
    code, err = train_again(trained, monkeypatch, capsys)
    assert code == 130
    lines = [line for line in messages(err) if line.startswith(("error:", "interrupted:"))]
    assert lines == ["interrupted: nothing was registered and no alias moved"], err
    assert "Traceback" not in err
    assert registry_state(uri) == (["1"], {"candidate": "1", "champion": "1"})

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("classify")
    latest = client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'parent'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert latest.info.status == "KILLED"


@pytest.mark.slow
def test_real_ctrl_c_during_cross_validation(trained: dict) -> None:
    """SIGINT to a real ``classify train`` process once its first fold is logged: exit 130, registry unchanged."""
    from mlflow import MlflowClient

    uri = trained["uri"]
    client = MlflowClient(uri)
    exp_id = client.get_experiment_by_name("classify").experiment_id
    folds_before = len(client.search_runs([exp_id], "tags.`classify.run_kind` = 'fold'"))
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    proc = subprocess.Popen(
        [sys.executable, "-m", "classify.cli", "train", "--config", str(TFIDF_CONFIG), "--set",
         f"data.path={trained['data']}", "--promote", "--quiet"],
        cwd=trained["root"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # under a background job SIGINT is ignored, and the child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while len(client.search_runs([exp_id], "tags.`classify.run_kind` = 'fold'")) == folds_before:
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
    assert registry_state(uri) == (["1"], {"candidate": "1", "champion": "1"})
    latest = client.search_runs([exp_id], "tags.`classify.run_kind` = 'parent'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert latest.info.status == "KILLED"


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler for the test: under a background job SIGINT is ignored instead."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_held_ctrl_c_is_raised_when_the_block_ends(sigint_raises: None) -> None:
    from classify.tracking import hold_interrupts

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
    from classify.tracking import hold_interrupts

    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_IGN)
    installed: list[object] = []
    monkeypatch.setattr(signal, "signal", lambda signum, handler: installed.append(handler))
    with hold_interrupts():
        pass
    assert installed == []


@pytest.mark.slow
def test_ctrl_c_during_a_fold_write_lets_the_write_finish(trained: dict, sigint_raises: None,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT while a fold's metrics are being written: the fold run is complete, the train stops cleanly."""
    import mlflow
    from mlflow import MlflowClient

    uri = trained["uri"]
    real_log_metrics = mlflow.log_metrics

    def log_metrics_with_ctrl_c(metrics, *args, **kwargs):
        if "train_seconds" in metrics and "cv_macro_f1" not in metrics:  # a fold's metrics
            os.kill(os.getpid(), signal.SIGINT)
        return real_log_metrics(metrics, *args, **kwargs)

    monkeypatch.setattr(mlflow, "log_metrics", log_metrics_with_ctrl_c)
    code, err = train_again(trained, monkeypatch, capsys)
    assert code == 130, err
    assert "Traceback" not in err and "database is locked" not in err
    assert registry_state(uri) == (["1"], {"candidate": "1", "champion": "1"})

    client = MlflowClient(uri)
    exp_id = client.get_experiment_by_name("classify").experiment_id
    parent = client.search_runs([exp_id], "tags.`classify.run_kind` = 'parent'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert parent.info.status == "KILLED"
    folds = client.search_runs([exp_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(folds) == 1  # the interrupt stopped cross-validation after the first fold ...
    assert folds[0].info.status == "FINISHED"  # ... whose write had finished
    assert "macro_f1" in folds[0].data.metrics and "train_seconds" in folds[0].data.metrics


@pytest.mark.slow
def test_ctrl_c_during_registration_undoes_it(trained: dict, sigint_raises: None,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """SIGINT while the new version is being registered: version and aliases are rolled back."""
    from mlflow import MlflowClient

    real = MlflowClient.set_registered_model_alias

    def alias_with_ctrl_c(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", alias_with_ctrl_c)
    code, err = train_again(trained, monkeypatch, capsys)
    assert code == 130, err
    assert [line for line in messages(err) if line.startswith(("error:", "interrupted:"))] == [
        "interrupted: nothing was registered and no alias moved"], err
    assert registry_state(trained["uri"]) == (["1"], {"candidate": "1", "champion": "1"})


@pytest.mark.slow
def test_interrupted_first_registration_leaves_no_registered_model(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow import MlflowClient

    write_jsonl(work / "subset.jsonl", subset_rows())
    _interrupt_after_version_created(monkeypatch)
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={work / 'subset.jsonl'}",
                       "--quiet")
    monkeypatch.undo()
    assert code == 130, err
    uri = f"sqlite:///{work / 'store' / 'mlflow.db'}"
    assert MlflowClient(uri, uri).search_registered_models() == []


@pytest.mark.slow
def test_ctrl_c_while_creating_the_store_leaves_no_half_built_store(work: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """MLflow builds a new store in ~50 migrations; cut halfway, the store is absent, not broken."""
    import mlflow.store.db.utils

    def half_initialize(engine) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)")
        raise KeyboardInterrupt

    write_jsonl(work / "subset.jsonl", subset_rows())
    argv = ("train", "--config", TFIDF_CONFIG, "--set", f"data.path={work / 'subset.jsonl'}", "--quiet")
    monkeypatch.setattr(mlflow.store.db.utils, "_initialize_tables", half_initialize)
    code, _, err = run(capsys, *argv)
    assert code == 130, err
    assert list((work / "store").iterdir()) == []  # neither the store nor its temporary copy
    monkeypatch.undo()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'store' / 'mlflow.db'}")
    code, _, err = run(capsys, *argv)
    assert code == 0, err  # the next run builds the store and trains


def test_store_in_a_missing_folder(work: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'no-such-folder' / 'mlflow.db'}")
    code, _, err = run(capsys, "train", "--config", TFIDF_CONFIG, "--set", f"data.path={DATA}", "--quiet")
    assert code == 2
    assert_one_line(err, "no-such-folder", "does not exist")
