"""Helpers shared by several test files (imported as a plain module: tests/ is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "measures.jsonl"

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


def subset_rows(notices: tuple[str, ...], per_label: int = 3) -> list[dict]:
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


def train_subset_store(root: Path, mp, *, db_dir: str = "") -> str:
    """Train and promote a TF-IDF model on a seed subset into a fresh SQLite store under ``root``; returns its URI.

    ``mp`` (a MonkeyPatch) is left pointing the environment and the working folder at the store, for
    commands run inside the caller's context.
    """
    from classify.cli import main

    subset = root / "subset.jsonl"
    rows = subset_rows(("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2"))
    subset.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (root / db_dir).mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / db_dir / 'mlflow.db'}"
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    config = REPO / "configs" / "tfidf_logreg.yaml"
    assert main(["train", "--config", str(config), "--set", f"data.path={subset}", "--promote", "--quiet"]) == 0
    return uri
