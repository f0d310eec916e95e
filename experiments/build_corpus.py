#!/usr/bin/env python
"""Build data/measures.jsonl: every notice of the corpus segmented, with its provenance and its labels.

Collections (each notice goes through the real reader and segmenter):
  seeds/                    five science bureaus, real (labels of the first release)
  data/samples/             four synthetic notices of other issuers (labelled separately)
  data/notices/real/        openings of real public notices of other issuers; sources.jsonl: url, issuer, date
  data/notices/synthetic/   synthetic notices per issuer kind; sources.jsonl: issuer, date, layouts
Labels are joined by measure id from the label files given with --labels (JSONL: id, label,
secondary_label?, note?, not_a_measure?); a measure without a label is reported and left out.

    python experiments/build_corpus.py --labels data/labels/*.jsonl [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = (("seeds", "real"), ("data/samples", "synthetic"), ("data/notices/real", "real"),
               ("data/notices/synthetic", "synthetic"))
FIELDS = ("id", "notice_id", "issuer", "issuer_kind", "source", "url", "date", "heading_path", "heading", "text",
          "text_simplified", "position", "label", "secondary_label", "note")


def corpus_measures() -> list[dict]:
    """Every segmented measure of every collection, with provenance (no labels)."""
    from classify.notices.files import segment_file
    from classify.notices.issuers import issuer_kind
    from classify.notices.reading import iter_notice_paths

    rows = []
    for folder, source in COLLECTIONS:
        root = REPO / folder
        meta = {}
        if (root / "sources.jsonl").is_file():
            meta = {r["file"]: r for r in map(json.loads, (root / "sources.jsonl").read_text(encoding="utf-8").splitlines())}
        paths, errors = iter_notice_paths([root])
        if errors:
            raise SystemExit(f"{root}: {errors[0]}")
        for path in paths:
            seg = segment_file(path)
            info = meta.get(path.name, {})
            for m in seg.measures:
                d = m.to_dict()
                issuer = info.get("issuer") or d["issuer"]
                d.update(issuer=issuer, issuer_kind=issuer_kind(issuer), source=source, url=info.get("url"),
                         date=info.get("date") or d["date"])
                if info.get("issuer_kind") and info["issuer_kind"] != d["issuer_kind"]:
                    print(f"note: {path.name}: issuer {issuer!r} derives kind {d['issuer_kind']!r}, the source list "
                          f"says {info['issuer_kind']!r}", file=sys.stderr)
                rows.append(d)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs="*", type=Path, default=[])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "measures.jsonl")
    parser.add_argument("--unlabelled-out", type=Path, help="write the measures that have no label yet")
    args = parser.parse_args()
    import os

    os.chdir(REPO)
    labels: dict[str, dict] = {}
    for path in args.labels:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                labels[obj["id"]] = obj
    rows, missing, dropped = [], [], 0
    for d in corpus_measures():
        lab = labels.get(d["id"])
        if lab is None:
            missing.append(d)
            continue
        if lab.get("not_a_measure"):
            dropped += 1
            continue
        d.update(label=lab["label"], secondary_label=lab.get("secondary_label"), note=lab.get("note"))
        rows.append({k: d.get(k) for k in FIELDS})
    from classify.fileio import atomic_write_text, dumps_jsonl

    atomic_write_text(args.out, dumps_jsonl(rows))
    if args.unlabelled_out:
        atomic_write_text(args.unlabelled_out, dumps_jsonl(missing))
    print(f"wrote {len(rows)} labelled measures to {args.out}; {len(missing)} without a label, "
          f"{dropped} marked not a measure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
