"""Building the labelled corpus: every notice of the corpus's collections segmented by the package's own reader
and segmenter, with its provenance, joined with the labels of the label files (``classify corpus build``).

Collections, under the corpus root:
  seeds/                    five science bureaus, real (labels of the first release)
  data/samples/             four synthetic notices of other issuers
  data/notices/real/        openings of real public notices of other issuers; sources.jsonl: url, issuer, date
  data/notices/synthetic/   synthetic notices per issuer kind; sources.jsonl: issuer, date, layouts
A label file holds JSON objects with ``id``, ``label``, and optional ``secondary_label``, ``note`` and
``not_a_measure``; a measure without a label is reported and left out.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from classify.errors import DataError
from classify.fileio import atomic_write_text, dumps_jsonl, iter_jsonl

COLLECTIONS = (("seeds", "real"), ("data/samples", "synthetic"), ("data/notices/real", "real"),
               ("data/notices/synthetic", "synthetic"))
FIELDS = ("id", "notice_id", "issuer", "issuer_kind", "source", "url", "date", "heading_path", "heading", "text",
          "text_simplified", "position", "label", "secondary_label", "note")


@dataclass
class BuiltCorpus:
    labelled: int
    unlabelled: int
    not_measures: int


def corpus_measures(root: str | Path = ".") -> list[dict]:
    """Every segmented measure of every collection under ``root``, with provenance (no labels)."""
    from classify.notices.files import segment_file
    from classify.notices.issuers import issuer_kind
    from classify.notices.reading import SUPPORTED_SUFFIXES, iter_notice_paths

    root = Path(root)
    rows = []
    for folder, source in COLLECTIONS:
        base = root / folder
        if not base.is_dir():
            continue
        meta = {r["file"]: r for _, r in iter_jsonl(base / "sources.jsonl", DataError)} \
            if (base / "sources.jsonl").is_file() else {}
        paths, errors = iter_notice_paths(sorted(p for p in base.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES))
        if errors:
            raise DataError(f"{base}: {errors[0]}")
        for path in paths:
            seg = segment_file(path)
            info = meta.get(path.name, {})
            for m in seg.measures:
                d = m.to_dict()
                issuer = info.get("issuer") or d["issuer"]
                d.update(issuer=issuer, issuer_kind=issuer_kind(issuer), source=source, url=info.get("url"),
                         date=info.get("date") or d["date"])
                if info.get("issuer_kind") and info["issuer_kind"] != d["issuer_kind"]:
                    warnings.warn(f"{path.name}: issuer {issuer!r} derives kind {d['issuer_kind']!r}, the source "
                                  f"list says {info['issuer_kind']!r}", stacklevel=2)
                rows.append(d)
    return rows


def read_label_files(paths: Iterable[str | Path]) -> dict[str, dict]:
    """Labels by measure id; a later file's label for an id replaces an earlier one."""
    labels: dict[str, dict] = {}
    for path in paths:
        for lineno, obj in iter_jsonl(path, DataError):
            if not isinstance(obj.get("id"), str):
                raise DataError(f"{path}:{lineno}: a label needs an 'id'")
            labels[obj["id"]] = obj
    return labels


def build_corpus(label_files: Iterable[str | Path], *, out: str | Path, unlabelled_out: str | Path | None = None,
                 root: str | Path = ".") -> BuiltCorpus:
    """Segment the corpus under ``root``, join the labels, write the labelled measures to ``out`` (atomically)."""
    labels = read_label_files(label_files)
    rows, missing, dropped = [], [], 0
    for d in corpus_measures(root):
        lab = labels.get(d["id"])
        if lab is None:
            missing.append(d)
            continue
        if lab.get("not_a_measure"):
            dropped += 1
            continue
        d.update(label=lab["label"], secondary_label=lab.get("secondary_label"), note=lab.get("note"))
        rows.append({k: d.get(k) for k in FIELDS})
    atomic_write_text(out, dumps_jsonl(rows))
    if unlabelled_out:
        atomic_write_text(unlabelled_out, dumps_jsonl(missing))
    return BuiltCorpus(len(rows), len(missing), dropped)
