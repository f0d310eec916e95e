"""What a batch of predictions gives back, whichever engine ran it: counts per notice and label, measures
flagged for review, files that could not be used, where the rows went."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class BatchResult:
    labels: tuple[str, ...]  # the model's label scheme, in column order
    engine: str = "local"
    model_uri: str = ""
    out: str | None = None  # None when nothing was written
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # notice -> label -> measures
    review: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # notice -> measures flagged
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, one-line reason)
    files: list[str] = field(default_factory=list)  # the input files read, in order (hashed by --log-run)
    rows: int = 0
    notices: int = 0
    review_out: str | None = None  # the review queue file, None without --review-out
    review_written: int = 0  # measures written to it
    seconds: float = 0.0
    run_id: str | None = None  # the MLflow run that records the batch (--log-run)

    def add(self, notices: Iterable[str], labels: Iterable[str], flagged: Iterable[bool]) -> None:
        for notice, label, flag in zip(notices, labels, flagged, strict=True):
            self.counts[str(notice)][label] += 1
            self.review[str(notice)] += int(bool(flag))
            self.rows += 1

    @property
    def review_total(self) -> int:
        return sum(self.review.values())

    def label_counts(self) -> dict[str, int]:
        """Measures per label over the batch, every label of the scheme listed (zeros kept)."""
        total = dict.fromkeys(self.labels, 0)
        for per_label in self.counts.values():
            for label, n in per_label.items():
                total[label] = total.get(label, 0) + n
        return total

    def table(self) -> pd.DataFrame:
        """Counts per category for each notice, measures needing review, and a total row."""
        columns = [*self.labels, "measures", "review"]
        if not self.counts:
            return pd.DataFrame(columns=columns)
        table = pd.DataFrame({n: {lab: c.get(lab, 0) for lab in self.labels} for n, c in self.counts.items()}).T
        table.index.name = "notice"
        table["measures"] = table[list(self.labels)].sum(axis=1)
        table["review"] = [self.review[n] for n in table.index]
        table.loc["total"] = table.sum()
        return table[columns].astype(int)
