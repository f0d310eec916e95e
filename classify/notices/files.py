"""The loop over input files, shared by ``segment`` and ``predict``: paths -> notices -> measures.

Files are read and segmented one at a time (memory stays flat in the number of notices); a file
that cannot be read or holds no measure is reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from classify.errors import NoticeError
from classify.notices.reading import Notice, iter_notice_paths, read_notice
from classify.notices.segmenting import MeasureRecord, segment_notice

NO_MEASURE = "no rectification measure found (is this an inspection-rectification notice?)"


@dataclass
class SegmentedNotice:
    path: Path
    notice: Notice
    measures: list[MeasureRecord]


def with_issuer(measures: list[MeasureRecord], default: str | None, given: str | None) -> list[MeasureRecord]:
    """The measures with the issuer a user named: ``given`` (for this file) always wins; ``default`` fills in a
    notice whose page names no issuer."""
    issuer = given or (default if not (measures and measures[0].issuer) else None)
    return [replace(m, issuer=issuer) for m in measures] if issuer else measures


def segment_file(path: Path, *, issuer: str | None = None,
                 issuer_by_file: Mapping[str, str] | None = None) -> SegmentedNotice:
    """Read and segment one notice; raises :class:`NoticeError` when it cannot be used.

    ``issuer`` is used where the notice names no issuer; ``issuer_by_file`` (file name -> issuer) sets it."""
    notice = read_notice(path)
    measures = segment_notice(notice)
    if not measures:
        raise NoticeError(path, NO_MEASURE)
    given = (issuer_by_file or {}).get(Path(path).name)
    return SegmentedNotice(path, notice, with_issuer(measures, issuer, given))


def segment_paths(inputs: list[str | Path], *, progress: bool = False, issuer: str | None = None,
                  issuer_by_file: Mapping[str, str] | None = None) -> Iterator[SegmentedNotice | NoticeError]:
    """Each input notice (folders expanded) segmented, or the error that stopped it, in order."""
    from tqdm.auto import tqdm

    paths, errors = iter_notice_paths(inputs)
    yield from errors
    with tqdm(paths, desc="notices", unit="notice", disable=not progress, dynamic_ncols=True) as bar:
        for path in bar:
            try:
                yield segment_file(path, issuer=issuer, issuer_by_file=issuer_by_file)
            except NoticeError as exc:
                yield exc


def read_issuer_map(path: str | Path) -> dict[str, str]:
    """A CSV with columns ``file`` and ``issuer`` (file names as in the batch) -> {file name: issuer}."""
    import csv

    from classify.errors import InputError

    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the issuer list ({type(exc).__name__})") from None
    if not rows or not {"file", "issuer"} <= set(rows[0]):
        raise InputError(f"{path}: the issuer list needs a header with columns 'file' and 'issuer'")
    out = {}
    for i, row in enumerate(rows, 2):
        name, issuer = (row.get("file") or "").strip(), (row.get("issuer") or "").strip()
        if not name or not issuer:
            raise InputError(f"{path}:{i}: 'file' and 'issuer' must both be given")
        out[Path(name).name] = issuer
    return out
