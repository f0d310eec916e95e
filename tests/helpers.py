"""Helpers shared by several test files (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "measures.jsonl"
SEEDS = REPO / "seeds"
SAMPLES = REPO / "data" / "samples"
TFIDF_CONFIG = REPO / "configs" / "tfidf_logreg.yaml"
REGISTERED = "measure-classifier"
SIMPLIFIED_SEED = SEEDS / "000_f95aa671dc7000c0.txt"
GOOD_SEEDS = (SEEDS / "001_069fa13e86ff3dc9.txt", SEEDS / "004_4ec4d330bc6282d2.txt")
UNSEEN_SEED = SEEDS / "003_e67ed025cdbe23ec.txt"  # in no training subset below
# Three notices that each have measures of all five categories, so a subset of them warns about nothing.
SUBSET_NOTICES = ("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2")
# The trained store's data: those three science bureaus (real) and two synthetic notices of two more issuer kinds,
# so that both cross-validation schemes run and the promotion metric (loiko_real_macro_f1) exists.
STORE_NOTICES = (*SUBSET_NOTICES, "synthetic_education_01", "synthetic_health_01")
PREVIOUS = "previous output, must survive a failed run\n"
NEWS = (
    "新华社北京3月5日电 今天上午,十四届全国人大二次会议在人民大会堂开幕。会议听取了政府工作报告,"
    "代表们认真审议。与会代表表示,要坚定信心、攻坚克难,为推动高质量发展贡献力量。\n"
    "据悉,本次会议将持续一周左右,其间还将审议多项法律草案。\n"
)

# Text that only web-page chrome or contact blocks contain; never part of a measure.
CHROME_MARKERS = (
    "登录",
    "返回首页",
    "上一篇",
    "下一篇",
    "字体大小",
    "友情链接",
    "ICP备",
    "公网安备",
    "点击量",
    "政务微信",
    "政务微博",
    "查看原文",
    "热门搜索",
    "最近搜索",
    "相关推荐",
    "电话咨询",
    "QQ咨询",
    "在线客服",
    "备案号",
    "发布时间",
    "人觉得有用",
    "标签:",
    "网站标识码",
    "访问量",
    "收藏",
)


# --- data ---------------------------------------------------------------------------------------


def subset_rows(notices: tuple[str, ...] = SUBSET_NOTICES, per_label: int = 3) -> list[dict]:
    """At most ``per_label`` labelled measures of each category from each of ``notices`` (fast trainings)."""
    taken: dict[tuple[str, str], int] = {}
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        key = (obj["notice_id"], obj["label"])
        if obj["notice_id"] in notices and taken.get(key, 0) < per_label:
            taken[key] = taken.get(key, 0) + 1
            rows.append(obj)
    return rows


def store_rows() -> list[dict]:
    """The rows the trained store's model learnt from (see :data:`STORE_NOTICES`)."""
    return subset_rows(STORE_NOTICES, per_label=3)


def corpus_rows() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# --- notices ------------------------------------------------------------------------------------

# A notice that names no issuer (no title line with one, no signature): three measures.
PLAIN_NOTICE = """关于巡察整改情况的通报
一、整改落实情况
(一)理论学习不够深入的问题
1.落实第一议题制度,每月召开理论学习中心组学习会。
2.规范财务报销审批,5万元以上支出经集体研究决定。
3.严格干部选拔任用程序,落实任前公示制度。
"""


def empty_notice(d: Path) -> Path:
    (d / "empty.txt").write_bytes(b"")
    return d / "empty.txt"


def blank_notice(d: Path) -> Path:
    (d / "blank.txt").write_text(" \n\u3000\n\t\n", encoding="utf-8")
    return d / "blank.txt"


def binary_notice(d: Path) -> Path:
    (d / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    return d / "scan.txt"


def binary_html_notice(d: Path) -> Path:
    (d / "page.html").write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00\x01\x02\x03" * 500)
    return d / "page.html"


def news_notice(d: Path) -> Path:
    """A news item: text, but no rectification measure."""
    (d / "news.txt").write_text(NEWS, encoding="utf-8")
    return d / "news.txt"


def docx_notice(d: Path) -> Path:
    (d / "notice.docx").write_bytes(SIMPLIFIED_SEED.read_bytes())
    return d / "notice.docx"


def missing_notice(d: Path) -> Path:
    return d / "nowhere.txt"


def big_notice(d: Path, mb: int = 20) -> Path:
    """Real Chinese text (repeated seed paragraphs), ``mb`` MB: not sparse, decodes fine if ever read."""
    chunk = SIMPLIFIED_SEED.read_text(encoding="utf-8").encode("utf-8")
    path = d / "huge.txt"
    with path.open("wb") as fh:
        for _ in range(mb * 1024 * 1024 // len(chunk) + 1):
            fh.write(chunk)
    return path


# --- properties of read and segmented notices (hypothesis tests) --------------------------------


def check_measures(notice, measures: list) -> None:
    """What every segmentation must satisfy: unique ids, positions in order, texts that are substrings of the notice
    (published and simplified alike), headings of one line."""
    ids = [m.id for m in measures]
    assert len(ids) == len(set(ids))
    for i, m in enumerate(measures):
        assert m.position == i
        assert m.notice_id == notice.notice_id
        assert m.text and m.text_simplified
        assert m.text == m.text.strip()
        assert len(m.text) == len(m.text_simplified)
        assert m.text in notice.text, m.text
        assert m.text_simplified in notice.simplified, m.text_simplified
        assert all(h and "\n" not in h for h in m.heading_path)


def read_or_none(path: Path):
    """The notice, or None when it is refused with a NoticeError (whose message must be one line naming the file)."""
    from classify.errors import NoticeError
    from classify.notices.reading import read_notice

    try:
        return read_notice(path)
    except NoticeError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.startswith(str(path)), msg
        return None


# --- the command line ---------------------------------------------------------------------------

# MLflow's own log records ("2024/01/01 12:00:00 INFO mlflow...: ...") are not classify's messages.
_MLFLOW_LOG = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (DEBUG|INFO|WARNING) ")


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


def assert_model_then_error(err: str, model_uri: str, *fragments: str) -> str:
    """stderr of a ``predict`` that fails on its model or input: one line, the error (the model is named on stdout
    only once the batch ran)."""
    assert f"model: {model_uri}" not in err, err
    return assert_one_line(err, *fragments)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    """``classify ARGV`` in this process: (exit status, stdout, stderr)."""
    from classify.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- tracking stores ----------------------------------------------------------------------------


def store_runs(store_dir: Path) -> int:
    """Runs in the SQLite store under ``store_dir`` (0 when the store was never created)."""
    db = store_dir / "mlflow.db"
    if not db.exists():
        return 0
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(exp_ids)) if exp_ids else 0


def registry_state(uri: str, name: str = REGISTERED) -> tuple[list[str], dict[str, str]]:
    """(versions, {alias: version}) of a registered model."""
    from mlflow import MlflowClient

    client = MlflowClient(uri, uri)
    versions = sorted(mv.version for mv in client.search_model_versions(f"name = '{name}'"))
    aliases = dict(client.get_registered_model(name).aliases)
    return [str(v) for v in versions], {k: str(v) for k, v in aliases.items()}


def training_runs(uri: str, experiment: str = "classify") -> list:
    """The experiment's training runs, newest first."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], "tags.`classify.run_kind` = 'training'",
                              order_by=["attributes.start_time DESC"])


@dataclass(frozen=True)
class TrainedStore:
    """A temporary SQLite store holding one trained, registered and promoted TF-IDF model (version 1)."""

    root: Path  # subset.jsonl (the training data) and db/ (mlflow.db and mlartifacts/)
    uri: str  # the tracking URI
    model_uri: str  # models:/measure-classifier@champion
    run_id: str  # the training run
    train_output: str  # what `classify train` printed

    @property
    def data(self) -> Path:
        return self.root / "subset.jsonl"

    @property
    def db_dir(self) -> Path:
        return self.root / "db"


def train_store(root: Path, *extra: str, registered: str = REGISTERED) -> TrainedStore:
    """``classify train --promote`` of the TF-IDF config on :func:`store_rows` into the SQLite store under ``root``
    (created when it does not exist), registered as ``registered``; environment and working folder are restored
    afterwards. ``extra``: more ``--set`` overrides."""
    import contextlib
    import io

    import pytest

    from classify.cli import main

    root.mkdir(parents=True, exist_ok=True)
    data = write_jsonl(root / "subset.jsonl", store_rows())
    (root / "db").mkdir(exist_ok=True)
    uri = f"sqlite:///{root / 'db' / 'mlflow.db'}"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        with contextlib.redirect_stdout(printed):
            code = main(["train", "--config", str(TFIDF_CONFIG), "--set", f"data.path={data}", "--set",
                         f"tracking.registered_model={registered}", *extra, "--promote", "--quiet"])
    assert code == 0, printed.getvalue()
    newest = training_runs(uri)[0]
    return TrainedStore(root, uri, f"models:/{registered}@champion", newest.info.run_id, printed.getvalue())


def copy_store(store: TrainedStore, dest: Path) -> TrainedStore:
    """A copy of a trained store under ``dest`` (which must not exist), for a test that changes its store.

    The database names its artifact folder by absolute path; the copy's names are rewritten to its own folder,
    so nothing the copy does reaches the original."""
    shutil.copytree(store.root, dest)
    old, new = str(store.root), str(dest)
    con = sqlite3.connect(dest / "db" / "mlflow.db")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in (r[1] for r in con.execute(f"PRAGMA table_info('{table}')")
                           if str(r[2]).upper().startswith(("VARCHAR", "TEXT", "CHAR"))):
                con.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE instr("{column}", ?)',
                            (old, new, old))
        con.commit()
    finally:
        con.close()
    return replace(store, root=dest, uri=f"sqlite:///{dest / 'db' / 'mlflow.db'}")


def server_api(server: str, method: str, endpoint: str, **kwargs) -> dict:
    """A call of the tracking server's REST API; the response must be OK."""
    import requests

    response = requests.request(method, f"{server}/api/2.0/mlflow/{endpoint}", timeout=30, **kwargs)
    assert response.ok, (endpoint, response.status_code, response.text[:500])
    return response.json()


# --- models -------------------------------------------------------------------------------------

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tiny_bert(directory: Path, extra_texts: tuple[str, ...] = ()) -> Path:
    """A random 2-layer, 32-wide BERT saved like a pretrained one (no hub, well under a second).

    Its vocabulary is every character of the shipped measures (text, simplified text and heading)
    plus ``extra_texts``.
    """
    import torch
    import transformers

    chars: set[str] = set()
    for line in DATA.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        chars.update(obj["text"], obj.get("text_simplified") or "", obj.get("heading") or "")
    for text in extra_texts:
        chars.update(text)
    vocab = BERT_SPECIALS + sorted(c for c in chars if not c.isspace())
    # transformers 5: BertTokenizerFast is BertTokenizer and ignores vocab_file=; pass the mapping.
    tokenizer = transformers.BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)})
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
        # With BERT's default 0.02 some seeds stall at two merged classes; 0.1 learns on every seed tried.
        initializer_range=0.1,
    )
    torch.manual_seed(0)
    transformers.utils.logging.disable_progress_bar()
    try:
        transformers.BertModel(config).save_pretrained(directory)
    finally:
        transformers.utils.logging.enable_progress_bar()
    tokenizer.save_pretrained(directory)
    return directory


# three categories, three short measures each: a toy training frame for fast family tests
TOY_TEXTS = {
    "political_study": ["落实第一议题制度,开展中心组学习", "召开专题民主生活会,开展批评与自我批评", "严格执行三会一课制度"],
    "finance": ["规范财务报销审批,5万元以上支出集体研究", "开展政府采购专项检查,规范招投标", "追回违规发放的津补贴"],
    "personnel": ["严格干部选拔任用程序,落实任前公示", "开展干部人事档案专项审核", "核定内设机构和编制"],
}


def toy_frame() -> tuple[pd.DataFrame, list[str]]:
    """The toy measures as a model-input frame (one issuer, no heading) and their labels."""
    rows = [(t, lab) for lab, ts in TOY_TEXTS.items() for t in ts]
    return pd.DataFrame({"text": [t for t, _ in rows], "heading": "", "issuer": "中共某县教育局党组"}), \
        [lab for _, lab in rows]
