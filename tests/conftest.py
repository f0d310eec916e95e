"""Shared fixtures: the seed notices, read and segmented once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from classify.notices.reading import read_notice
from classify.notices.segmenting import segment_notice

SEED_DIR = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="session")
def seeds() -> dict[str, tuple]:
    """{"000": (path, Notice, [MeasureRecord, ...]), ...} for every seed."""
    out = {}
    for path in sorted(SEED_DIR.glob("*.txt")):
        notice = read_notice(path)
        out[path.name[:3]] = (path, notice, segment_notice(notice))
    return out
