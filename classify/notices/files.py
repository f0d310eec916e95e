"""The loop over input files, shared by ``segment`` and ``predict``: paths -> notices -> measures.

Files are read and segmented one at a time (memory stays flat in the number of notices); a file
that cannot be read or holds no measure is reported, not fatal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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


def segment_file(path: Path) -> SegmentedNotice:
    """Read and segment one notice; raises :class:`NoticeError` when it cannot be used."""
    notice = read_notice(path)
    measures = segment_notice(notice)
    if not measures:
        raise NoticeError(path, NO_MEASURE)
    return SegmentedNotice(path, notice, measures)


def segment_paths(inputs: list[str | Path], *, progress: bool = False) -> Iterator[SegmentedNotice | NoticeError]:
    """Each input notice (folders expanded) segmented, or the error that stopped it, in order."""
    from tqdm.auto import tqdm

    paths, errors = iter_notice_paths(inputs)
    yield from errors
    with tqdm(paths, desc="notices", unit="notice", disable=not progress, dynamic_ncols=True) as bar:
        for path in bar:
            try:
                yield segment_file(path)
            except NoticeError as exc:
                yield exc
