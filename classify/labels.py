"""The label scheme: which categories a model predicts, their names, colours, hints and codebook anchors.

A scheme is data, loaded from a YAML file (``classify/schemes/codebook.yaml``, the project codebook's
five categories, is the default; ``coarse3`` unites them three ways). Everything that lists the
categories derives from the scheme a model was trained with: prediction columns (``prob_<id>``), the
served signature, the Spark schema, the report's colours and legend, review records, the annotation
interface. A scheme may map its labels onto the corpus's (``from:``), so a user can coarsen the
codebook without relabelling; a scheme without ``from`` trains on data labelled with its own ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from classify.errors import ConfigError

SCHEMES_DIR = Path(__file__).resolve().parent / "schemes"
DEFAULT_SCHEME = "codebook"
PROB_PREFIX = "prob_"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# tab10, for schemes that name no colours
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")


@dataclass(frozen=True)
class Category:
    id: str
    name_zh: str = ""
    name_en: str = ""
    colour: str = ""
    hint_zh: str = ""  # a short rule hint shown to annotators
    hint_en: str = ""
    topics: str = ""  # a topic list, used as one codebook anchor
    sources: tuple[str, ...] = ()  # the corpus labels this category unites (empty: the data use this id)


@dataclass(frozen=True)
class LabelScheme:
    """An ordered set of categories; the order is the order of every ``prob_`` column."""

    name: str
    categories: tuple[Category, ...]
    decided_cases: tuple[tuple[str, str], ...] = ()
    description: str = ""
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {c.id: i for i, c in enumerate(self.categories)})

    # -- what callers ask ------------------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.categories)

    @property
    def prob_columns(self) -> list[str]:
        return [prob_column(lab) for lab in self.labels]

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def index(self, label: str) -> int:
        return self._index[label]

    def category(self, label: str) -> Category:
        return self.categories[self._index[label]]

    def colour(self, label: str) -> str:
        return self.category(label).colour if label in self else "#7f7f7f"

    def name_zh(self, label: str) -> str:
        return self.category(label).name_zh if label in self else ""

    @property
    def maps_corpus(self) -> bool:
        """True when the scheme's labels are unions of other (corpus) labels."""
        return any(c.sources for c in self.categories)

    def source_map(self) -> dict[str, str]:
        """Corpus label -> this scheme's label (identity for a scheme without ``from``)."""
        if not self.maps_corpus:
            return {lab: lab for lab in self.labels}
        return {src: c.id for c in self.categories for src in c.sources}

    def map_labels(self, values: Iterable[Any]) -> list[Any]:
        """Corpus labels as this scheme's labels; None stays None, an unmapped label stays as it is
        (the data check then names it)."""
        mapping = self.source_map()
        return [None if v is None else mapping.get(v, v) for v in values]

    def anchor_records(self) -> list[dict]:
        """The decided cases and one topic list per category, as records with ``text`` and ``label``.

        A scheme that unites the codebook's labels and has no anchors of its own takes the codebook's,
        mapped to its labels."""
        rows = [{"text": text, "label": label} for text, label in self.decided_cases]
        rows += [{"text": c.topics, "label": c.id} for c in self.categories if c.topics]
        if not rows and self.maps_corpus:
            base = default_scheme()
            mapping = self.source_map()
            rows = [{"text": r["text"], "label": mapping[r["label"]]} for r in base.anchor_records()
                    if r["label"] in mapping]
        return rows

    # -- saving ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        cats = []
        for c in self.categories:
            d = {"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en, "colour": c.colour,
                 "hint_zh": c.hint_zh, "hint_en": c.hint_en, "topics": c.topics}
            if c.sources:
                d["from"] = list(c.sources)
            cats.append({k: v for k, v in d.items() if v != ""})
        out: dict[str, Any] = {"name": self.name, "description": self.description, "categories": cats}
        if self.decided_cases:
            out["decided_cases"] = [list(case) for case in self.decided_cases]
        return out


def prob_column(label: str) -> str:
    return f"{PROB_PREFIX}{label}"


def scheme_from_dict(raw: Mapping[str, Any], source: str = "<label scheme>") -> LabelScheme:
    """Validate a mapping into a :class:`LabelScheme`; a bad one raises ConfigError naming ``source``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a label scheme must be a mapping with 'name' and 'categories'")
    unknown = set(raw) - {"name", "description", "categories", "decided_cases"}
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}")
    cats_raw = raw.get("categories")
    if not isinstance(cats_raw, list) or len(cats_raw) < 2:
        raise ConfigError(f"{source}: 'categories' must list at least two categories")
    categories, seen_sources = [], {}
    for i, c in enumerate(cats_raw):
        where = f"{source}: categories[{i}]"
        if not isinstance(c, Mapping) or not isinstance(c.get("id"), str):
            raise ConfigError(f"{where}: needs an 'id'")
        extra = set(c) - {"id", "name_zh", "name_en", "colour", "hint_zh", "hint_en", "topics", "from"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        cid = c["id"]
        if not _ID.match(cid):
            raise ConfigError(f"{where}: id {cid!r} must be lower-case letters, digits and _ (a column name)")
        colour = str(c.get("colour") or _PALETTE[i % len(_PALETTE)])
        if not _COLOUR.match(colour):
            raise ConfigError(f"{where}: colour {colour!r} must look like #1f77b4")
        sources = c.get("from") or []
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ConfigError(f"{where}: 'from' must be a list of label ids")
        for s in sources:
            if s in seen_sources:
                raise ConfigError(f"{where}: label {s!r} is already taken by {seen_sources[s]!r}")
            seen_sources[s] = cid
        categories.append(Category(cid, str(c.get("name_zh", "")), str(c.get("name_en", "")), colour,
                                   str(c.get("hint_zh", "")), str(c.get("hint_en", "")), str(c.get("topics", "")),
                                   tuple(sources)))
    ids = [c.id for c in categories]
    dup = sorted({x for x in ids if ids.count(x) > 1})
    if dup:
        raise ConfigError(f"{source}: duplicate category id(s) {', '.join(dup)}")
    if any(c.sources for c in categories) and not all(c.sources for c in categories):
        raise ConfigError(f"{source}: either every category lists 'from' labels or none does")
    cases = []
    for case in raw.get("decided_cases") or []:
        if not (isinstance(case, list | tuple) and len(case) == 2 and case[1] in ids):
            raise ConfigError(f"{source}: decided case {case!r} must be [text, one of {', '.join(ids)}]")
        cases.append((str(case[0]), str(case[1])))
    return LabelScheme(str(raw.get("name") or Path(source).stem), tuple(categories), tuple(cases),
                       str(raw.get("description", "")))


def load_scheme(name_or_path: str | Path = DEFAULT_SCHEME) -> LabelScheme:
    """A shipped scheme by name (``codebook``, ``coarse3``) or a YAML file."""
    return _load(str(name_or_path))


@lru_cache(maxsize=32)
def _load(name_or_path: str) -> LabelScheme:
    import yaml

    path = Path(name_or_path)
    if not path.suffix and (SCHEMES_DIR / f"{name_or_path}.yaml").is_file():
        path = SCHEMES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCHEMES_DIR.glob("*.yaml")))
        raise ConfigError(f"label scheme {name_or_path!r}: no such file or shipped scheme (shipped: {shipped})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return scheme_from_dict(raw, str(path))


def default_scheme() -> LabelScheme:
    return load_scheme(DEFAULT_SCHEME)


def scheme_for_labels(labels: Sequence[str] | None) -> LabelScheme:
    """The shipped scheme with exactly these labels (names, colours), else a plain scheme of them; the default
    scheme for None."""
    if labels is None:
        return default_scheme()
    for path in sorted(SCHEMES_DIR.glob("*.yaml")):
        shipped = load_scheme(path.stem)
        if shipped.labels == tuple(labels):
            return shipped
    return scheme_from_dict({"name": "labels", "categories": [{"id": lab} for lab in labels]}, "predictions")


# The codebook's five ids, for code that documents or tests the shipped default.
LABELS: tuple[str, ...] = default_scheme().labels
