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
