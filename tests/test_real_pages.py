"""Real notice pages as published (tests/data/real_pages): issuer kind and measures against a hand cut.

34 pages found with the search tool's stored web pages (urls and queries in expected.jsonl), kept with their
web chrome: breadcrumbs, 来源/信息来源 lines, site banners, news-style feedback reports, tallies, pages cut off
in mid-sentence. Scored the way experiments/real_pages_eval.py scores them (the functions are its own).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "tests" / "data" / "real_pages"


def _eval_module():
    if "real_pages_eval" in sys.modules:
        return sys.modules["real_pages_eval"]
    spec = importlib.util.spec_from_file_location("real_pages_eval", REPO / "experiments" / "real_pages_eval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_pages_eval"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored():
    ev = _eval_module()
    results = ev.evaluate(PAGES)
    return ev, results, ev.totals(results)


def test_the_set_is_real_pages_of_many_layouts_and_kinds():
    rows = [json.loads(line) for line in (PAGES / "expected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 30 and len({r["url"] for r in rows}) == len(rows)
    assert all((PAGES / r["file"]).is_file() for r in rows)
    assert len({r["issuer_kind"] for r in rows}) >= 8
    assert {r["issuer_source"] for r in rows} >= {"title", "body", "source_line", "none"}
    assert sum(bool(r["measures"]) for r in rows) >= 5 and sum(not r["measures"] for r in rows) >= 5
    sources = REPO / "data" / "notices" / "real" / "sources.jsonl"
    corpus_urls = {json.loads(line)["url"] for line in sources.read_text(encoding="utf-8").splitlines()}
    assert not corpus_urls & {r["url"] for r in rows}  # held out from the training corpus


def test_every_page_that_names_its_issuer_gets_its_kind(scored):
    _, results, _ = scored
    wrong = [(r.file, r.issuer, r.kind, r.expected_kind) for r in results if r.names_issuer and not r.kind_right]
    assert not wrong


def test_no_issuer_carries_breadcrumb_text(scored):
    _, results, _ = scored
    assert not [(r.file, r.issuer) for r in results if r.breadcrumb]


def test_measures_match_the_hand_cut(scored):
    _, _, totals = scored
    assert totals["measures_expected"] >= 15
    assert totals["f1"] >= 0.95, totals


def test_matching_rule():
    ev = _eval_module()
    assert ev.same_measure("成立领导小组,召开专题会议。", "成立领导小组，召开专题会议")  # punctuation and spaces ignored
    long_ = "成立巡察整改工作领导小组,由党组书记任组长,制定整改方案,建立问题清单、任务清单、责任清单。"
    assert ev.same_measure(long_, long_[:-3])  # one holds the other with >= 90% of its characters
    assert not ev.same_measure(long_, long_[:20])
    assert ev.match_count(["甲乙丙丁戊己庚辛壬癸"], ["甲乙丙丁戊己庚辛壬癸", "甲乙丙丁戊己庚辛壬癸"]) == 1
