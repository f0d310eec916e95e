#!/usr/bin/env python
"""Segment real notice pages as published (tests/data/real_pages) and score issuer and measures against a hand cut.

Every page is read and cut by the package (``read_notice`` + ``segment_notice``, what ``classify segment`` does;
a page with no measure is scored as such instead of being an error). Printed per page: the issuer found, its
kind against the expected kind, and the measures found / expected / matched; then the totals: issuer kind right
(pages that name their issuer), issuers that carry breadcrumb text, measure precision / recall / F1.

A measure is matched when its text equals a hand-cut text after removing white space and punctuation (both
sides simplified), or when one contains the other and the shorter has at least 90% of the longer's characters;
each hand-cut measure matches at most one found measure.

    python experiments/real_pages_eval.py [--dir tests/data/real_pages] [-v]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO / "tests" / "data" / "real_pages"
CONTAIN_RATIO = 0.9
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
# Text that only a breadcrumb or a page header puts in a line ("首页 > …", "当前位置:").
BREADCRUMB = re.compile(r"[>›»|]|首页|当前位置|您的位置|您现在的位置|所在位置|位置\s*[::]")


def key(text: str) -> str:
    from classify.notices.reading import to_simplified

    return _DROP.sub("", to_simplified(text))


def same_measure(a: str, b: str) -> bool:
    ka, kb = key(a), key(b)
    if not ka or not kb:
        return False
    if ka == kb:
        return True
    short, long_ = sorted((ka, kb), key=len)
    return short in long_ and len(short) >= CONTAIN_RATIO * len(long_)


def match_count(found: list[str], expected: list[str]) -> int:
    """Matched pairs, one-to-one, in document order (greedy)."""
    used: set[int] = set()
    n = 0
    for f in found:
        for i, e in enumerate(expected):
            if i not in used and same_measure(f, e):
                used.add(i)
                n += 1
                break
    return n


def page_issuer(notice) -> str | None:
    """The issuer the package reads from a page (also for a page with no measure)."""
    from classify.notices import segmenting

    if hasattr(segmenting, "notice_issuer"):
        return segmenting.notice_issuer(notice)
    # before notice_issuer existed: the issuer segment_notice gives its records
    lines = [segmenting._line_pair(p, s) for p, s in zip(notice.text.split("\n"), notice.simplified.split("\n"),
                                                         strict=True)]
    end = next((i for i, ln in enumerate(lines) if i > 0 and segmenting._CLOSING.search(ln.simp)), len(lines))
    return segmenting._issuer_and_date(notice, lines[end:], lines[:end])[0]


@dataclass
class PageResult:
    file: str
    issuer: str | None
    kind: str
    expected_issuer: str | None
    expected_kind: str
    found: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    matched: int = 0

    @property
    def names_issuer(self) -> bool:
        return self.expected_issuer is not None

    @property
    def kind_right(self) -> bool:
        return self.kind == self.expected_kind

    @property
    def breadcrumb(self) -> bool:
        return bool(self.issuer and BREADCRUMB.search(self.issuer))


def evaluate(folder: Path = DEFAULT_DIR) -> list[PageResult]:
    from classify.notices.issuers import issuer_kind
    from classify.notices.reading import read_notice
    from classify.notices.segmenting import segment_notice

    results = []
    for line in (folder / "expected.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        exp = json.loads(line)
        notice = read_notice(folder / exp["file"])
        records = segment_notice(notice)
        issuer = records[0].issuer if records else page_issuer(notice)
        found = [r.text for r in records]
        results.append(PageResult(exp["file"], issuer, issuer_kind(issuer), exp["issuer"], exp["issuer_kind"],
                                  found, exp["measures"], match_count(found, exp["measures"])))
    return results


def totals(results: list[PageResult]) -> dict:
    named = [r for r in results if r.names_issuer]
    n_found = sum(len(r.found) for r in results)
    n_exp = sum(len(r.expected) for r in results)
    n_match = sum(r.matched for r in results)
    p = n_match / n_found if n_found else 1.0
    rec = n_match / n_exp if n_exp else 1.0
    f1 = 2 * p * rec / (p + rec) if p + rec else 0.0
    return {
        "pages": len(results),
        "pages_naming_issuer": len(named),
        "issuer_kind_right": sum(r.kind_right for r in named),
        "issuer_kind_other": sum(r.kind == "other" for r in named),
        "breadcrumb_issuers": sum(r.breadcrumb for r in results),
        "measures_found": n_found,
        "measures_expected": n_exp,
        "measures_matched": n_match,
        "precision": round(p, 3),
        "recall": round(rec, 3),
        "f1": round(f1, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("-v", "--verbose", action="store_true", help="print unmatched measures")
    args = parser.parse_args()
    results = evaluate(args.dir)
    for r in results:
        mark = "ok " if r.kind_right else ("-- " if not r.names_issuer else "XX ")
        crumb = "  BREADCRUMB" if r.breadcrumb else ""
        print(f"{mark}{r.file[:46]:46s} {r.kind:24s} (want {r.expected_kind:24s}) {str(r.issuer)[:30]!s:30s}"
              f"  measures {r.matched}/{len(r.expected)} found {len(r.found)}{crumb}")
        if args.verbose:
            for f in r.found:
                if not any(same_measure(f, e) for e in r.expected):
                    print(f"      + {f[:90]}")
            for e in r.expected:
                if not any(same_measure(f, e) for f in r.found):
                    print(f"      - {e[:90]}")
    t = totals(results)
    print(json.dumps(t, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
