"""Validating a predictions file with a human-coded sample, and correcting the category shares with it.

Researchers count measures (the share of rectification going to finance in hospitals vs schools,
2022 vs 2025). A classifier's errors pass into such counts, and classify-and-count is biased
whenever the errors are asymmetric (more political_study read as finance than the reverse). The
practice this module supports:

1. :func:`draw_sample` draws a stratified random sample of the user's own predicted measures,
   stratified by predicted label (optionally also by ``issuer_kind``, ``year`` or another column).
   A *blind* sample carries the measure (issuer, heading, text, ...) but never the model's label,
   confidence or probabilities, and lists its rows in random order; a *review* sample pre-fills the
   model's label (``model_label``) and can never be used for estimates.
2. People code the sample (annotations JSONL: ``id``, ``label``, ``annotator``, ``time``, optional
   ``secondary_label``, ``note``, ``adjudicated``).
3. :func:`validate` estimates, for the whole predictions file, the accuracy, per-category
   precision/recall/F1, the confusion matrix scaled to the corpus, and the category shares overall
   and per group, each with a 95% interval; beside them classify-and-count, probabilistic
   classify-and-count and a no-label adjusted estimate (PACC; EMQ when the training prior is known).
4. :func:`corpus_records` turns the coded rows into labelled-corpus records (``source: user``), so
   corrections rejoin the corpus. :func:`sample_file` and :func:`validate_files` are what the
   ``classify sample`` and ``classify validate`` commands call; ``result.tables()`` is what they print.

Allocation (:func:`allocate`). Square-root ("power 1/2", Bankier 1988) allocation n_h ∝ sqrt(N_h),
with a floor of ``min_per_stratum`` rows (or the whole stratum when it is smaller) and no stratum
given more rows than it has. Why: the quantities wanted pull in two directions. The corpus-wide
shares and accuracy are most precise under proportional allocation (weights all equal), but
proportional allocation leaves a rare predicted class (8% of the predictions: 4 rows out of 50) with
too few rows to say anything about its precision, and precision is what moves the rare shares.
Equal allocation serves every class's precision but makes the weights very unequal, which inflates
the variance of the corpus-wide estimates. Square-root allocation sits between the two; the floor
guarantees rows in every stratum (also when a stratum is a predicted class x issuer kind). Neyman
allocation would need each stratum's error rate before coding; the model's own confidence is the
only guess available then, and it is exactly what is being checked, so it is not used.

Estimates and intervals. Every number is a function of the corpus confusion totals T[j, k] (true j,
predicted k) = sum over strata h with predicted label k of N_h * P_h[j], where P_h is the true-label
mix of stratum h. The point estimate plugs in the sample mix p_h = c_h / n_h (the design-weighted,
Horvitz-Thompson estimate; the shares are sum_k W_k * p(true=j | predicted=k)). The uncertainty
comes from a stratified finite-population Bayesian bootstrap (a Polya posterior per stratum): the
unsampled N_h - n_h measures of each stratum are drawn from a Dirichlet-multinomial with parameters
c_h + alpha_h, so a stratum coded in full has no uncertainty left (the finite-population correction
comes out by itself), and alpha_h (1/2 on the stratum's predicted label, 1/4 on each other label)
keeps errors possible where the sample saw none. A plain stratified bootstrap calls such a stratum
certain: on the project's corpus its intervals for a share covered 20-70% of the time at n = 50-200.
From the draws: for accuracy, shares, precision and confusion cells (proportions linear in the
strata's mixes) a Korn & Graubard (1998) effective-sample-size interval in Jeffreys' form centred on
the design-based estimate, with n_eff = p(1 - p) / (variance of the draws)
(:func:`effective_size_interval`; the posterior's own percentiles sit too low for accuracy, as the
prior's pull toward errors adds up over the strata); for recall and F1 (with 1/8 instead of 1/4 on
each wrong label: their denominators, a label's true total, gain the prior's mass from every stratum)
and group shares, the 2.5% and 97.5% percentiles of the draws. The prior's two constants were chosen
on the project's corpus by that simulation. ``experiments/validation_simulation.py`` checks the coverage
(92-98% for accuracy and shares at n = 100 and 200; above 98% where a category's errors are rare,
and at n = 50, see experiments/results/validation_simulation.md).

Groups (shares per issuer kind, year, notice). A group's share of category j is the sum over
strata h of its N_hg measures' true labels over N_g. When the sample is stratified by the group's
column, every stratum belongs to one group and the estimate is design-based. Otherwise the
estimate rests on a model, stated in the result: within a predicted-label stratum a group's
true-label mix varies around the stratum's, theta_hg ~ Dirichlet(tau * theta_h + c_hg) with
tau = 3 (the group's own coded rows count fully, the stratum's pooled mix as 3 rows). The plain
assumption "the mix is the same in every group" (tau infinite) gave 60% coverage on the corpus,
where the model's errors differ by issuer kind; tau = 3 gave 93%. Stratify by the column
(``strata=("label", "issuer_kind")``) when group comparisons matter.

The module needs pandas, numpy, scipy, statsmodels and scikit-learn only (no torch, no MLflow). QuaPy,
which imports torch, is not used: PACC and EMQ are a few lines here, checked against it in the tests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from classify.errors import InputError

PURPOSES = {"blind": "validation", "review": "review"}
DESIGN_COLUMNS = ("id", "stratum", "strata", "stratum_size", "stratum_sample", "inclusion_probability", "weight",
                  "seed", "predictions_sha256", "purpose")
# the measure as a coder sees it; everything else in a predictions row is the model's
CONTENT_COLUMNS = ("notice", "issuer", "issuer_kind", "date", "heading", "text")
DEFAULT_MIN_PER_STRATUM = 5
DEFAULT_DRAWS = 2000
DEFAULT_PRIOR = (0.5, 0.25)  # pseudo-rows per stratum: on its predicted label, on each other label
RATIO_PRIOR = (0.5, 0.125)  # the same for the recall and F1 intervals (see estimate_counts)
DEFAULT_GROUP_ROWS = 3.0
LEVEL = 0.95
_SHOWN = 5  # ids named in an error message before "+N more"


# --- reading and writing --------------------------------------------------------------------------


def _source(frame: pd.DataFrame, default: str) -> str:
    return str(frame.attrs.get("source", default))


def load_predictions(path: str | Path) -> pd.DataFrame:
    """A predictions file written by ``classify predict`` (.jsonl, .csv, or the Spark engine's .parquet).

    CSV cells are read as text ("NA" is a notice name, not a missing value), then ``prob_`` and
    ``confidence`` columns become numbers.
    """
    from classify.schema import read_predictions

    return read_predictions(path)[0]


def _load_jsonl(path: str | Path) -> pd.DataFrame:
    from classify.fileio import iter_jsonl

    rows = []
    for lineno, obj in iter_jsonl(path, InputError):
        obj["_line"] = lineno
        rows.append(obj)
    if not rows:
        raise InputError(f"{path}: no rows in the file")
    frame = pd.DataFrame(rows)
    frame.attrs["source"] = str(path)
    return frame


def load_sample(path: str | Path) -> pd.DataFrame:
    """A sample written by :func:`write_sample` (JSONL)."""
    return _load_jsonl(path)


def load_annotations(path: str | Path) -> pd.DataFrame:
    """Annotations JSONL: ``id``, ``label`` and optional ``annotator``, ``time``, ``secondary_label``,
    ``note``, ``adjudicated``."""
    return _load_jsonl(path)


def write_sample(sample: pd.DataFrame, path: str | Path) -> int:
    """The sample as JSONL (one object per row, nulls as null); returns the rows written."""
    from classify.fileio import write_records

    rows = sample.drop(columns=[c for c in sample.columns if c.startswith("_")])
    clean = rows.astype(object).where(pd.notna(rows), None)
    return write_records(clean.to_dict(orient="records"), path)


# --- shared checks ---------------------------------------------------------------------------------


def _few(values: Iterable[Any]) -> str:
    values = [str(v) for v in values]
    shown = ", ".join(values[:_SHOWN])
    return shown + (f" (+{len(values) - _SHOWN} more)" if len(values) > _SHOWN else "")


def _where(frame: pd.DataFrame, mask: Any, default: str) -> str:
    """'file:line' of the first row under ``mask`` when the frame came from a file, else its name."""
    src = _source(frame, default)
    if "_line" in frame:
        lines = frame.loc[mask, "_line"]
        if len(lines):
            return f"{src}:{int(lines.iloc[0])}"
    return src


def predictions_sha256(predictions: pd.DataFrame) -> str:
    """A hash of what a sample depends on: each row's id, predicted label and text, in id order.

    The same predictions read from JSONL, CSV or Parquet, or in another row order, hash the same; a
    predictions file from another model or corpus does not.
    """
    ids = predictions["id"].astype(str).to_numpy()
    labels = predictions["label"].astype(str).to_numpy()
    texts = predictions["text"].fillna("").astype(str).to_numpy() if "text" in predictions else [""] * len(ids)
    digest = hashlib.sha256()
    for i in np.argsort(ids, kind="stable"):
        digest.update(f"{ids[i]}\x1f{labels[i]}\x1f{texts[i]}\x1e".encode())
    return digest.hexdigest()


def _check_predictions(predictions: pd.DataFrame, labels: Sequence[str]) -> None:
    src = _source(predictions, "predictions")
    for col in ("id", "label"):
        if col not in predictions:
            raise InputError(f"{src}: no column {col!r}; make the file with classify predict --out")
    if predictions.empty:
        raise InputError(f"{src}: no predictions in the file")
    ids = predictions["id"]
    if ids.isna().any():
        raise InputError(f"{src}: {int(ids.isna().sum())} prediction row(s) have no id")
    dup = ids[ids.astype(str).duplicated()].astype(str).unique()
    if len(dup):
        raise InputError(f"{src}: duplicate prediction id(s) {_few(dup)}; every measure needs its own id")
    bad = ~predictions["label"].isin(labels)
    if bad.any():
        got = predictions.loc[bad, "label"].astype(str).unique()
        raise InputError(f"{src}: predicted label(s) {_few(got)} are not in the label scheme ({', '.join(labels)})")


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    labels = tuple(labels)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise InputError(f"labels: need two or more distinct label ids, got {list(labels)}")
    return labels


def _year(dates: pd.Series) -> pd.Series:
    return dates.astype("string").str.extract(r"^(\d{4})", expand=False)


def group_values(predictions: pd.DataFrame, column: str) -> pd.Series:
    """The values a stratum or group column takes per prediction row, as text, missing ones as 'unknown'.

    ``label`` is the predicted label, ``year`` the year of ``date``, ``notice`` the notice; any other
    name must be a column of the predictions.
    """
    if column == "year":
        if "date" not in predictions:
            raise InputError(f"{_source(predictions, 'predictions')}: no column 'date' to take the year from")
        values = _year(predictions["date"])
    elif column in predictions:
        values = predictions[column].astype("string")
    else:
        raise InputError(f"{_source(predictions, 'predictions')}: no column {column!r} to stratify or group by")
    values = values.fillna("unknown").str.strip().replace("", "unknown")
    return values.astype(str).set_axis(predictions.index)


def _stratum_keys(predictions: pd.DataFrame, strata: Sequence[str]) -> pd.Series:
    parts = [group_values(predictions, c) for c in strata]
    keys = parts[0]
    for part in parts[1:]:
        keys = keys + "|" + part
    return keys


# --- allocation and sampling -----------------------------------------------------------------------


def allocate(sizes: Sequence[int], n: int, *, min_per_stratum: int = DEFAULT_MIN_PER_STRATUM,
             power: float = 0.5) -> np.ndarray:
    """Rows per stratum: n_h ∝ N_h ** power (0.5: square root; 1: proportional; 0: equal), at least
    min(N_h, ``min_per_stratum``), at most N_h, summing to ``n``; largest-remainder rounding.

    Raises InputError when ``n`` exceeds the population or cannot give every stratum its floor.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if n < 1:
        raise InputError(f"sample size: n must be at least 1, got {n}")
    if n > total:
        raise InputError(f"sample size: n={n} is more than the {total} predictions")
    floor = np.minimum(sizes, max(int(min_per_stratum), 1))
    if floor.sum() > n:
        raise InputError(f"sample size: n={n} cannot give each of the {len(sizes)} strata its "
                         f"{max(int(min_per_stratum), 1)} rows (needs {int(floor.sum())}); draw more, "
                         "lower min_per_stratum or use fewer strata")
    # water-filling: strata pinned at their floor or their size leave the rest to the others
    target = floor.astype(float)
    free = np.ones(len(sizes), bool)
    for _ in range(len(sizes) + 1):
        share = np.where(free, sizes.astype(float) ** power, 0.0)
        left = n - target[~free].sum()
        want = np.where(free, left * share / share[free].sum() if share[free].sum() else 0.0, target)
        low, high = free & (want < floor), free & (want > sizes)
        if not (low.any() or high.any()):
            target = want
            break
        target[low], target[high] = floor[low], sizes[high]
        free &= ~(low | high)
    alloc = np.clip(np.floor(target).astype(np.int64), floor, sizes)
    short = n - int(alloc.sum())
    order = np.argsort(-(target - np.floor(target)), kind="stable")
    while short > 0:  # largest remainders first; a full stratum is skipped
        for i in order:
            if short and alloc[i] < sizes[i]:
                alloc[i] += 1
                short -= 1
    return alloc


def draw_sample(predictions: pd.DataFrame, n: int, *, labels: Sequence[str], strata: Sequence[str] = ("label",),
                seed: int = 0, min_per_stratum: int = DEFAULT_MIN_PER_STRATUM, power: float = 0.5,
                mode: Literal["blind", "review"] = "blind") -> pd.DataFrame:
    """A stratified random sample of ``n`` prediction rows (see the module docstring for the allocation).

    Strata are the predicted label crossed with the other ``strata`` columns (``issuer_kind``,
    ``year`` from ``date``, or any column); each row records its stratum, N_h (``stratum_size``),
    n_h (``stratum_sample``), inclusion probability, weight N_h / n_h, the seed, the predictions' hash
    and its purpose. ``mode="blind"``: rows carry the measure but no model output, in random order,
    strata named by opaque codes (``s01``...), purpose "validation". ``mode="review"``: rows also carry
    ``model_label``, are ordered by stratum and have purpose "review"; they are never used for estimates.
    The draw depends on the seed and the predictions' content only (not on their row order).
    """
    labels = _check_labels(labels)
    if mode not in PURPOSES:
        raise InputError(f"sample mode must be 'blind' or 'review', not {mode!r}")
    strata = tuple(strata)
    if "label" not in strata:
        raise InputError(f"strata {list(strata)}: must include 'label' (the predicted label)")
    _check_predictions(predictions, labels)
    preds = predictions.assign(id=predictions["id"].astype(str)).sort_values("id", kind="stable").reset_index(drop=True)
    keys = _stratum_keys(preds, strata)
    names = sorted(keys.unique())
    sizes = keys.value_counts().reindex(names).to_numpy()
    alloc = allocate(sizes, int(n), min_per_stratum=min_per_stratum, power=power)
    rng = np.random.default_rng(seed)
    if mode == "blind":  # codes in random order, so s01 says nothing about the label
        codes = dict(zip(names, (f"s{i + 1:02d}" for i in rng.permutation(len(names))), strict=True))
    else:
        codes = {k: k for k in names}
    picked, info = [], []
    for name, size, take in zip(names, sizes, alloc, strict=True):
        rows = np.flatnonzero((keys == name).to_numpy())
        chosen = rng.choice(rows, size=int(take), replace=False)
        picked.append(chosen)
        info += [(codes[name], int(size), int(take))] * len(chosen)
    rows = np.concatenate(picked)
    sample = preds.loc[rows, ["id"] + [c for c in CONTENT_COLUMNS if c in preds]].reset_index(drop=True)
    stratum, size, take = zip(*info, strict=True)
    sample.insert(1, "stratum", list(stratum))
    sample.insert(2, "strata", ",".join(strata))
    sample.insert(3, "stratum_size", list(size))
    sample.insert(4, "stratum_sample", list(take))
    sample.insert(5, "inclusion_probability", sample["stratum_sample"] / sample["stratum_size"])
    sample.insert(6, "weight", sample["stratum_size"] / sample["stratum_sample"])
    sample.insert(7, "seed", int(seed))
    sample.insert(8, "predictions_sha256", predictions_sha256(predictions))
    sample.insert(9, "purpose", PURPOSES[mode])
    if mode == "review":
        sample["model_label"] = preds.loc[rows, "label"].to_numpy()
    else:
        sample = sample.iloc[rng.permutation(len(sample))].reset_index(drop=True)
    return sample


def sample_table(sample: pd.DataFrame) -> str:
    """A printable table of a sample's strata: N_h, n_h and the weight."""
    per = (sample.groupby("stratum", sort=True)
           .agg(N=("stratum_size", "first"), n=("stratum_sample", "first"), weight=("weight", "first")))
    lines = [f"{'stratum':<32} {'N_h':>7} {'n_h':>5} {'weight':>8}"]
    lines += [f"{name:<32} {int(row.N):>7} {int(row.n):>5} {row.weight:>8.2f}" for name, row in per.iterrows()]
    lines.append(f"{'total':<32} {int(per['N'].sum()):>7} {int(per['n'].sum()):>5}")
    return "\n".join(lines)


# --- annotations ----------------------------------------------------------------------------------


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and np.isnan(value))


@dataclass
class Agreement:
    """Two coders on the same measures (the first two codings of each double-coded id, by time)."""

    n_items: int  # ids coded by two or more annotators (not counting adjudication rows)
    n_agree: int
    kappa: float | None  # Cohen's kappa (scikit-learn); None under two items or one label only
    n_adjudicated: int  # ids settled by an adjudicated row

    @property
    def rate(self) -> float | None:
        return self.n_agree / self.n_items if self.n_items else None

    def to_dict(self) -> dict[str, Any]:
        return {"n_items": self.n_items, "n_agree": self.n_agree, "agreement": self.rate, "kappa": self.kappa,
                "n_adjudicated": self.n_adjudicated}


def resolve_annotations(annotations: pd.DataFrame, *, labels: Sequence[str],
                        known_ids: Iterable[str] | None = None) -> tuple[pd.DataFrame, Agreement]:
    """One final label per id, and the coders' agreement.

    The rule: an ``adjudicated: true`` row decides its id; otherwise the id's annotators must agree
    (one annotator is enough); an id whose annotators disagree with no adjudicated row is an error that
    names it. Checks (InputError, one line): the columns, labels and secondary labels outside the scheme,
    the same annotator twice on one id, ids not in ``known_ids``, two adjudicated rows that disagree.
    Returns (frame with id, label, secondary_label, note, annotator, time, n_annotations; Agreement).
    """
    from sklearn.metrics import cohen_kappa_score

    labels = _check_labels(labels)
    src = _source(annotations, "annotations")
    for col in ("id", "label"):
        if col not in annotations:
            raise InputError(f"{src}: no column {col!r}; annotations need at least id and label")
    ann = annotations.copy()
    if ann["id"].isna().any():
        raise InputError(f"{_where(ann, ann['id'].isna(), src)}: annotation without an id")
    ann["id"] = ann["id"].astype(str)
    bad = ~ann["label"].isin(labels)
    if bad.any():
        raise InputError(f"{_where(ann, bad, src)}: label {ann.loc[bad, 'label'].iloc[0]!r} (id "
                         f"{ann.loc[bad, 'id'].iloc[0]}) is not in the label scheme ({', '.join(labels)})")
    for col, default in (("secondary_label", None), ("note", None), ("annotator", ""), ("time", None)):
        if col not in ann:
            ann[col] = default
    ann["annotator"] = ann["annotator"].fillna("").astype(str)
    ann["secondary_label"] = ann["secondary_label"].astype(object).where(ann["secondary_label"].notna(), None)
    bad = ann["secondary_label"].notna() & ~ann["secondary_label"].isin(labels)
    if bad.any():
        raise InputError(f"{_where(ann, bad, src)}: secondary_label {ann.loc[bad, 'secondary_label'].iloc[0]!r} "
                         f"is not in the label scheme ({', '.join(labels)})")
    ann["adjudicated"] = [_truthy(v) for v in ann["adjudicated"]] if "adjudicated" in ann else False
    if known_ids is not None:
        unknown = ~ann["id"].isin(set(map(str, known_ids)))
        if unknown.any():
            raise InputError(f"{_where(ann, unknown, src)}: annotations for {ann.loc[unknown, 'id'].nunique()} id(s) "
                             f"not in the predictions: {_few(ann.loc[unknown, 'id'].unique())}")
    dup = ann.duplicated(["id", "annotator", "adjudicated"], keep="first")
    if dup.any():
        first = ann.loc[dup].iloc[0]
        who = f"annotator {first['annotator']!r}" if first["annotator"] else "no annotator named"
        raise InputError(f"{_where(ann, dup, src)}: duplicate annotation of id {first['id']} ({who}); "
                         "keep one row per id and annotator")
    ann["_t"] = pd.to_datetime(ann["time"], errors="coerce", utc=True, format="mixed")
    ann = ann.sort_values(["id", "_t", "annotator"], kind="stable", na_position="last")
    final = ann[ann["adjudicated"]]
    split = final.groupby("id")["label"].nunique()
    if (split > 1).any():
        raise InputError(f"{src}: adjudicated rows disagree for id(s) {_few(split.index[split > 1])}")
    coded = ann[~ann["adjudicated"]]
    per_id = coded.groupby("id")["label"].nunique()
    open_ = sorted(set(per_id.index[per_id > 1]) - set(final["id"]))
    if open_:
        raise InputError(f"{src}: annotators disagree on {len(open_)} id(s) with no adjudicated row: {_few(open_)}; "
                         "add a row with adjudicated: true for each")
    # agreement: first two codings of each id coded twice or more
    pairs = coded.groupby("id").head(2)
    twice = pairs["id"].map(pairs["id"].value_counts()) == 2
    pairs = pairs[twice]
    first, second = pairs.groupby("id")["label"].first(), pairs.groupby("id")["label"].last()
    n_items = len(first)
    kappa = None
    if n_items >= 2 and len(set(first) | set(second)) > 1:
        kappa = float(cohen_kappa_score(first, second, labels=list(labels)))
    agreement = Agreement(n_items, int((first == second).sum()), kappa, int(final["id"].nunique()))
    # the deciding row per id: the adjudicated one, else the first coding (all agree)
    decided = pd.concat([final.groupby("id").tail(1), coded[~coded["id"].isin(final["id"])].groupby("id").head(1)])
    counts = ann.groupby("id").size()
    annotators = coded.groupby("id")["annotator"].agg(lambda s: ",".join(a for a in s if a))
    times = ann.groupby("id")["time"].agg(lambda s: max((str(t) for t in s if t is not None and t == t), default=None))
    out = decided.set_index("id")[["label", "secondary_label", "note", "adjudicated"]]
    out["annotator"] = annotators.reindex(out.index).fillna("")
    adjudicator = final.groupby("id")["annotator"].last()
    has = out.index.isin(adjudicator.index)
    out.loc[has, "annotator"] = [f"{a} (adjudicated by {adjudicator[i] or 'unnamed'})" if a else
                                 f"adjudicated by {adjudicator[i] or 'unnamed'}"
                                 for i, a in zip(out.index[has], out.loc[has, "annotator"], strict=True)]
    out["time"] = times.reindex(out.index)
    out["n_annotations"] = counts.reindex(out.index).astype(int)
    return out.reset_index().sort_values("id").reset_index(drop=True), agreement


# --- estimation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        def clean(x: float) -> float | None:
            return None if x is None or not np.isfinite(x) else round(float(x), 6)
        return {"estimate": clean(self.estimate), "low": clean(self.low), "high": clean(self.high)}


@dataclass
class ValidationResult:
    """Design-weighted estimates for a whole predictions file; see the module docstring for the method."""

    labels: tuple[str, ...]
    n_predictions: int
    n_validated: int
    accuracy: Estimate
    shares: dict[str, Estimate]
    per_category: dict[str, dict[str, Any]]  # label -> precision, recall, f1 (Estimates), n_predicted, n_validated
    confusion: dict[str, Any]  # rows: true labels, columns: predicted labels; counts scaled to the corpus
    groups: dict[str, dict[str, Any]]  # column -> {"assumption": str, "values": {value: {...}}}
    baselines: dict[str, dict[str, float] | None]  # classify_and_count, pcc, adjusted (PACC), emq
    agreement: Agreement
    design: dict[str, Any]
    method: str

    def to_dict(self) -> dict[str, Any]:
        def shares(d: Mapping[str, Estimate]) -> dict[str, Any]:
            return {k: v.to_dict() for k, v in d.items()}

        groups = {}
        for col, g in self.groups.items():
            values = {}
            for value, v in g["values"].items():
                values[value] = {**{k: v[k] for k in ("n_predictions", "n_validated")}, "shares": shares(v["shares"]),
                                 "classify_and_count": v["classify_and_count"], "pcc": v["pcc"]}
            groups[col] = {"stratified": g["stratified"], "assumption": g["assumption"], "values": values}
        return {
            "accuracy": self.accuracy.to_dict(),
            "shares": shares(self.shares),
            "per_category": {lab: {k: (v.to_dict() if isinstance(v, Estimate) else v) for k, v in d.items()}
                             for lab, d in self.per_category.items()},
            "confusion": self.confusion,
            "groups": groups,
            "baselines": self.baselines,
            "n_validated": self.n_validated,
            "n_predictions": self.n_predictions,
            "agreement": self.agreement.to_dict(),
            "design": self.design,
            "level": LEVEL,
            "method": self.method,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    def tables(self) -> str:
        """The result as printable text tables (what ``classify validate`` prints)."""
        return format_result(self)


def _fit_check_sample(sample: pd.DataFrame, predictions: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """The sample's design, checked against the predictions; one row per sampled id with its stratum key."""
    src = _source(sample, "sample")
    missing = [c for c in DESIGN_COLUMNS if c not in sample]
    if missing:
        raise InputError(f"{src}: not a sample file (no column {', '.join(missing)}); draw one with classify sample")
    sample = sample.assign(id=sample["id"].astype(str))
    for col in ("strata", "seed", "predictions_sha256"):
        if sample[col].astype(str).nunique() > 1:
            raise InputError(f"{src}: rows from more than one draw (several values of {col}); validate one sample")
    purposes = set(sample["purpose"].astype(str))
    if purposes - {"validation"}:
        raise InputError(f"{src}: rows with purpose {sorted(purposes - {'validation'})} (a review sample shows the "
                         "model's label to coders) cannot be used for estimates; draw a blind sample")
    hashes = set(sample["predictions_sha256"].astype(str))
    expected = predictions_sha256(predictions)
    if hashes != {expected}:
        raise InputError(f"{src}: drawn from another predictions file than {_source(predictions, 'the predictions')} "
                         f"(hash {sorted(hashes)[0][:12]}… vs {expected[:12]}…); validate the file the sample came from")
    if sample["id"].duplicated().any():
        raise InputError(f"{src}: id(s) {_few(sample.loc[sample['id'].duplicated(), 'id'].unique())} "
                         "appear twice in the sample")
    key_of = pd.Series(keys.to_numpy(), index=predictions["id"].astype(str).to_numpy())
    unknown = ~sample["id"].isin(key_of.index)
    if unknown.any():
        raise InputError(f"{src}: sampled id(s) {_few(sample.loc[unknown, 'id'])} are not in the predictions")
    sample["_key"] = key_of.reindex(sample["id"]).to_numpy()
    pairs = sample.groupby("stratum")["_key"].nunique()
    if (pairs > 1).any() or sample.groupby("_key")["stratum"].nunique().gt(1).any():
        raise InputError(f"{src}: its strata do not match the predictions' {sample['strata'].iloc[0]!r} strata")
    return sample


def _stratum_arrays(keys: pd.Series, pred: np.ndarray, sample_keys: pd.Series, truth: np.ndarray,
                    k: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted stratum names; N_h; n_h; counts c_h[j] of true labels; the predicted label index per stratum."""
    names = sorted(keys.unique())
    pos = {name: i for i, name in enumerate(names)}
    h_all = keys.map(pos).to_numpy()
    sizes = np.bincount(h_all, minlength=len(names))
    h_s = sample_keys.map(pos).to_numpy()
    counts = np.zeros((len(names), k))
    np.add.at(counts, (h_s, truth), 1.0)
    pred_of = np.zeros(len(names), dtype=np.int64)
    pred_of[h_all] = pred
    return names, sizes, counts.sum(axis=1), counts, pred_of


def _stratum_alpha(h: int, k: int, pred_of: np.ndarray, prior: tuple[float, float]) -> np.ndarray:
    alpha = np.full((h, k), float(prior[1]))
    alpha[np.arange(h), pred_of] = prior[0]
    return alpha


def posterior_draws(counts: np.ndarray, sizes: np.ndarray, pred_of: np.ndarray, *, draws: int = DEFAULT_DRAWS,
                    prior: tuple[float, float] = DEFAULT_PRIOR, rng: np.random.Generator) -> np.ndarray:
    """Draws (draws, H, k) of each stratum's true-label mix in the whole corpus, given the sample's counts.

    A Polya posterior per stratum: the N_h - n_h unsampled measures of stratum h are
    Dirichlet-multinomial with parameters c_h + alpha_h, the sampled ones are known (so a stratum
    coded in full is exact). alpha_h is ``prior[0]`` on the stratum's predicted label and ``prior[1]``
    on each other label (default 1/2 and 1/4: Jeffreys' 1/2 on "the model is right", and enough on
    each wrong label that an error the sample happened to miss in a big stratum, 13 finance measures
    among 456 predicted political_study, still widens the finance share; the simulation chose 1/4 over
    1/8 and 1/2).
    """
    h, k = counts.shape
    gamma = rng.standard_gamma(counts + _stratum_alpha(h, k, pred_of, prior), size=(draws, h, k))
    theta = gamma / gamma.sum(axis=2, keepdims=True)
    unsampled = (sizes - counts.sum(axis=1)).astype(np.int64)
    rest = rng.multinomial(np.broadcast_to(unsampled, (draws, h)), theta)
    return (counts + rest) / sizes[:, None]


def corpus_metrics(mix: np.ndarray, sizes: np.ndarray, pred_of: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Accuracy, shares, precision, recall, F1 and the confusion totals from stratum mixes (..., H, k)."""
    onehot = np.eye(k)[pred_of]  # (H, k)
    confusion = np.einsum("...hj,h,hk->...jk", mix, sizes.astype(float), onehot)  # true j, predicted k
    total = float(sizes.sum())
    diag = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted = onehot.T @ sizes  # known column totals
    true_tot = confusion.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "accuracy": diag.sum(axis=-1) / total,
            "shares": true_tot / total,
            "precision": diag / predicted,
            "recall": diag / true_tot,
            "f1": 2 * diag / (predicted + true_tot),
            "confusion": confusion / total,
        }


def effective_size_interval(point: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 95% interval for a proportion linear in the strata's mixes (accuracy, a share, a precision, a
    confusion cell): Korn & Graubard's (1998) effective-sample-size interval in Jeffreys' form, centred
    on the design-based estimate.

    n_eff = p(1 - p) / v, where p is the design-based estimate and v the variance of the posterior
    draws (not the plug-in design variance, which is 0 when every sampled row of every stratum is
    right); the interval is statsmodels' Jeffreys interval for n_eff * p successes in n_eff trials,
    with Brown, Cai & DasGupta's ends (1 when p = 1, 0 when p = 0; p(1 - p) then from the posterior
    mean). Why not the posterior's own percentiles: the prior's pull of each stratum toward its wrong
    labels adds up over the strata of a sum of right/wrong proportions and moves the whole interval
    of accuracy down; centring removes the shift and keeps the spread.
    """
    from statsmodels.stats.proportion import proportion_confint

    point = np.asarray(point, float)
    var, mean = draws.var(axis=0), draws.mean(axis=0)
    edge = (point <= 0) | (point >= 1)
    base = np.where(edge, mean * (1 - mean), point * (1 - point))
    exact = ~(var > 1e-15) | ~np.isfinite(point)  # every stratum coded in full
    n_eff = np.maximum(base / np.where(exact, 1.0, var), 1e-9)
    low, high = proportion_confint(np.clip(np.nan_to_num(point), 0, 1) * n_eff, n_eff, alpha=1 - LEVEL,
                                   method="jeffreys")
    low, high = np.where(point <= 0, 0.0, low), np.where(point >= 1, 1.0, high)
    return np.where(exact, point, low), np.where(exact, point, high)


def percentile_interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5% and 97.5% quantiles of the posterior draws: the interval for recall and F1 (ratios
    with an estimated denominator, where the prior's pulls on numerator and denominator largely cancel)
    and for group shares."""
    tail = (1 - LEVEL) / 2
    with np.errstate(invalid="ignore"):
        low, high = np.nanquantile(draws, [tail, 1 - tail], axis=0)
    return low, high


def _estimates(point: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[Estimate]:
    return [Estimate(float(a), float(b), float(c))
            for a, b, c in zip(np.ravel(point), np.ravel(low), np.ravel(high), strict=True)]


@dataclass
class CoreEstimates:
    accuracy: Estimate
    shares: dict[str, Estimate]
    per_category: dict[str, dict[str, Any]]
    confusion: dict[str, Any]


def estimate_counts(counts: np.ndarray, sizes: np.ndarray, pred_of: np.ndarray, labels: Sequence[str], *,
                    draws: int = DEFAULT_DRAWS, prior: tuple[float, float] = DEFAULT_PRIOR, seed: int = 0) -> CoreEstimates:
    """The corpus-wide estimates from a coded stratified sample given as arrays: ``counts`` (H, k) of
    true labels per stratum, ``sizes`` N_h, ``pred_of`` the predicted label index of each stratum.

    :func:`validate` calls it after its checks; the simulation calls it directly.
    """
    k = len(labels)
    n_h = counts.sum(axis=1)
    rng = np.random.default_rng(seed)
    point = {m: v[0] for m, v in corpus_metrics((counts / n_h[:, None])[None], sizes, pred_of, k).items()}
    drawn = corpus_metrics(posterior_draws(counts, sizes, pred_of, draws=draws, prior=prior, rng=rng), sizes, pred_of, k)
    # recall and F1 divide by the estimated true total of a label, which the prior's mass on wrong labels
    # inflates in every stratum; their percentile intervals cover best with half that mass (simulation)
    ratio = corpus_metrics(posterior_draws(counts, sizes, pred_of, draws=draws, prior=RATIO_PRIOR, rng=rng), sizes,
                           pred_of, k)
    n_pred = np.bincount(pred_of, weights=sizes, minlength=k)
    accuracy = _estimates(point["accuracy"], *effective_size_interval(point["accuracy"], drawn["accuracy"]))[0]
    shares = dict(zip(labels, _estimates(point["shares"], *effective_size_interval(point["shares"], drawn["shares"])),
                      strict=True))
    metric = {"precision": _estimates(point["precision"], *effective_size_interval(point["precision"],
                                                                                   drawn["precision"])),
              **{m: _estimates(point[m], *percentile_interval(ratio[m])) for m in ("recall", "f1")}}
    validated_pred = np.bincount(pred_of, weights=n_h, minlength=k)
    per_category: dict[str, dict[str, Any]] = {}
    for i, lab in enumerate(labels):
        per_category[lab] = {m: metric[m][i] for m in metric}
        per_category[lab]["n_predicted"] = int(n_pred[i])
        per_category[lab]["n_validated_predicted"] = int(validated_pred[i])
        per_category[lab]["n_validated_true"] = int(counts[:, i].sum())
    total = float(sizes.sum())
    conf_lo, conf_hi = effective_size_interval(point["confusion"], drawn["confusion"])
    confusion = {"rows": "true", "columns": "predicted", "labels": list(labels),
                 "estimate": np.round(point["confusion"] * total, 2).tolist(),
                 "low": np.round(conf_lo * total, 2).tolist(), "high": np.round(conf_hi * total, 2).tolist(),
                 "sample_counts": (counts.T @ np.eye(k)[pred_of]).astype(int).tolist()}
    return CoreEstimates(accuracy, shares, per_category, confusion)


# --- no-label baselines ----------------------------------------------------------------------------


def rates_from_oof(oof: pd.DataFrame, *, labels: Sequence[str], truth: str = "label") -> tuple[np.ndarray, np.ndarray]:
    """From out-of-fold rows (true label in ``truth``, calibrated ``prob_<label>`` columns): the (k, k)
    matrix whose row j is the mean probability vector of the rows truly j, and the rows' class prior."""
    labels = _check_labels(labels)
    y = oof[truth].to_numpy()
    probs = oof[[f"prob_{lab}" for lab in labels]].to_numpy(float)
    counts = np.array([(y == lab).sum() for lab in labels], float)
    if (counts == 0).any():
        raise InputError(f"out-of-fold rows: no row truly {labels[int(np.argmin(counts))]!r}; cannot estimate its rates")
    rates = np.stack([probs[y == lab].mean(axis=0) for lab in labels])
    return rates, counts / counts.sum()


def pacc(mean_probs: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Probabilistic adjusted classify-and-count: the prevalence pi on the simplex minimising
    ||rates.T @ pi - mean_probs|| (QuaPy's PACC with solver='minimize': same loss, same SLSQP)."""
    from scipy.optimize import minimize

    k = len(mean_probs)
    a = np.asarray(rates, float).T
    res = minimize(lambda p: np.linalg.norm(a @ p - mean_probs), np.full(k, 1 / k), method="SLSQP",
                   bounds=[(0, 1)] * k, constraints={"type": "eq", "fun": lambda p: 1 - p.sum()})
    p = np.clip(res.x, 0, None)
    return p / p.sum()


def emq(probs: np.ndarray, train_prior: np.ndarray, *, tol: float = 1e-6, max_iter: int = 1000) -> np.ndarray:
    """Saerens-Latinne-Decaestecker EM prior adjustment (QuaPy's EMQ.EM): the prevalence under which the
    posteriors, re-weighted from ``train_prior``, average to themselves."""
    prior = np.asarray(train_prior, float)
    prior = (prior + 1e-4) / (prior + 1e-4).sum() if (prior == 0).any() else prior
    q = prior.copy()
    for _ in range(max_iter):
        w = probs * (q / prior)
        new = (w / w.sum(axis=1, keepdims=True)).mean(axis=0)
        done = np.abs(new - q).max() < tol
        q = new
        if done:
            break
    return q


# --- validate --------------------------------------------------------------------------------------


def _prob_matrix(predictions: pd.DataFrame, labels: Sequence[str]) -> np.ndarray | None:
    cols = [f"prob_{lab}" for lab in labels]
    if not all(c in predictions for c in cols):
        return None
    probs = predictions[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if not np.isfinite(probs).all():
        raise InputError(f"{_source(predictions, 'predictions')}: prob_ columns hold missing or non-numeric values")
    return probs


def _rounded(values: Iterable[float], labels: Sequence[str]) -> dict[str, float]:
    return {lab: round(float(v), 6) for lab, v in zip(labels, values, strict=True)}


def validate(predictions: pd.DataFrame, sample: pd.DataFrame | None, annotations: pd.DataFrame, *,
             labels: Sequence[str], groups: Sequence[str] = ("issuer_kind", "year"),
             oof_rates: np.ndarray | pd.DataFrame | None = None, train_prior: Sequence[float] | None = None,
             draws: int = DEFAULT_DRAWS, prior: tuple[float, float] = DEFAULT_PRIOR, group_prior_rows: float = DEFAULT_GROUP_ROWS,
             seed: int = 0) -> ValidationResult:
    """Estimates for the whole ``predictions`` file from a coded blind ``sample``.

    ``sample`` is the file :func:`draw_sample` wrote (None: the annotation rows carry the design
    columns themselves, e.g. a coded copy of the sample). ``annotations`` are resolved with
    :func:`resolve_annotations`. ``groups`` are columns to give shares for (``issuer_kind``, ``year``,
    ``notice`` or any prediction column); see the module docstring for the assumption a group column
    that is not a stratum column makes. ``oof_rates``: the model's misclassification rates from its
    out-of-fold predictions, either the (k, k) matrix of mean calibrated probability vectors per true
    class or the out-of-fold rows themselves (true ``label`` + ``prob_`` columns, which also give the
    training prior); with them the no-label PACC estimate (and EMQ, given the prior) is reported.
    ``draws`` posterior draws (with ``prior``, see :func:`posterior_draws`) make the 95% intervals;
    ``seed`` makes them reproducible.
    """
    labels = _check_labels(labels)
    k = len(labels)
    _check_predictions(predictions, labels)
    ann_src = _source(annotations, "annotations")
    if sample is None:
        if not all(c in annotations for c in DESIGN_COLUMNS):
            raise InputError(f"{ann_src}: no sample given and the annotations carry no design columns "
                             "(stratum, stratum_size, predictions_sha256, ...); pass the sample file")
        sample = annotations.drop_duplicates("id")[list(DESIGN_COLUMNS)]
        sample.attrs["source"] = ann_src
    strata = str(sample["strata"].iloc[0]).split(",") if "strata" in sample and len(sample) else ["label"]
    keys = _stratum_keys(predictions, strata)
    sample = _fit_check_sample(sample, predictions, keys)
    pred_ids = predictions["id"].astype(str)
    final, agreement = resolve_annotations(annotations, labels=labels, known_ids=pred_ids)
    missing = sorted(set(sample["id"]) - set(final["id"]))
    if missing:
        raise InputError(f"{ann_src}: {len(missing)} sampled id(s) of {_source(sample, 'the sample')} have no "
                         f"annotation: {_few(missing)}")
    extra = sorted(set(final["id"]) - set(sample["id"]))
    if extra:
        raise InputError(f"{ann_src}: {len(extra)} annotated id(s) are not in the sample {_source(sample, '')}: "
                         f"{_few(extra)}; only sampled rows can be weighted")
    index = {lab: i for i, lab in enumerate(labels)}
    truth = final.set_index("id")["label"].reindex(sample["id"]).map(index).to_numpy()
    pred = predictions["label"].map(index).to_numpy()
    names, sizes, n_h, counts, pred_of = _stratum_arrays(keys, pred, sample["_key"], truth, k)
    if (n_h == 0).any():
        raise InputError(f"{_source(sample, 'sample')}: stratum {names[int(np.argmin(n_h))]!r} has predictions but no "
                         "sampled row; draw the sample from this predictions file with classify sample")
    core = estimate_counts(counts, sizes, pred_of, labels, draws=draws, prior=prior, seed=seed)
    probs = _prob_matrix(predictions, labels)
    baselines: dict[str, Any] = {
        "classify_and_count": _rounded(np.bincount(pred, minlength=k) / len(pred), labels),
        "pcc": None if probs is None else _rounded(probs.mean(axis=0), labels),
        "adjusted": None, "emq": None,
    }
    if oof_rates is not None and probs is not None:
        class_prior = None if train_prior is None else np.asarray(train_prior, float)
        if isinstance(oof_rates, pd.DataFrame):
            rates, class_prior = rates_from_oof(oof_rates, labels=labels)
        else:
            rates = np.asarray(oof_rates, float)
        if rates.shape != (k, k):
            raise InputError(f"oof_rates: expected a ({k}, {k}) matrix for labels {', '.join(labels)}, got {rates.shape}")
        baselines["adjusted"] = _rounded(pacc(probs.mean(axis=0), rates), labels)
        if class_prior is not None:
            baselines["emq"] = _rounded(emq(probs, class_prior), labels)
    group_out = {col: _group_estimates(predictions, col, keys, names, pred_of, sample, truth, probs, labels, strata,
                                       draws=draws, prior=prior, group_prior_rows=group_prior_rows, seed=seed + 1 + i)
                 for i, col in enumerate(groups)}
    design = {"strata": strata, "n_strata": len(names), "seed": int(sample["seed"].iloc[0]),
              "predictions_sha256": str(sample["predictions_sha256"].iloc[0]), "draws": draws,
              "prior": list(prior), "group_prior_rows": group_prior_rows,
              "stratum_sizes": dict(zip(names, sizes.tolist(), strict=True)),
              "stratum_samples": dict(zip(names, n_h.astype(int).tolist(), strict=True))}
    method = ("design-weighted (stratified) point estimates; 95% intervals from a stratified finite-population "
              f"Bayesian bootstrap ({draws} Polya-posterior draws, prior {prior[0]:g} on the predicted label and "
              f"{prior[1]:g} on each other label per stratum): Korn-Graubard effective-size Jeffreys intervals "
              f"around the estimate for accuracy, shares, precision and confusion cells; percentiles of the draws "
              f"for recall and F1 (prior {RATIO_PRIOR[1]:g} on each other label) and for group shares")
    return ValidationResult(labels, len(predictions), len(sample), core.accuracy, core.shares, core.per_category,
                            core.confusion, group_out, baselines, agreement, design, method)


def group_estimates(cell_sizes: np.ndarray, cell_counts: np.ndarray, pred_of: np.ndarray, *,
                    draws: int = DEFAULT_DRAWS, prior: tuple[float, float] = DEFAULT_PRIOR, group_prior_rows: float = DEFAULT_GROUP_ROWS,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shares of every label in every group: (point, low, high), each (m groups, k).

    ``cell_sizes`` (H, m) counts the predictions of stratum h in group g (N_hg); ``cell_counts``
    (H, m, k) the true labels of the sampled rows in that cell. A stratum that holds one group only
    (the sample is stratified by the group column) is estimated as in :func:`posterior_draws`. In a
    stratum shared by several groups, each cell's true-label mix is modelled as varying around the
    stratum's: theta_hg ~ Dirichlet(tau * theta_h + c_hg), tau = ``group_prior_rows`` (the stratum's
    mix counts as tau coded rows of the group; the cell's own coded rows count fully), and its
    unsampled measures are multinomial given theta_hg. So a small group's realised mix varies even
    where the model holds, and a group's own coded rows move its estimate. The point estimate is the
    cell's coded rows plus its unsampled rows at (c_hg + tau * p_h) / (n_hg + tau).
    """
    h, m = cell_sizes.shape
    k = cell_counts.shape[2]
    rng = np.random.default_rng(seed)
    c_h = cell_counts.sum(axis=1)
    n_h = c_h.sum(axis=1)
    n_hg = cell_counts.sum(axis=2)
    single = (cell_sizes > 0).sum(axis=1) <= 1  # strata that hold one group
    p_h = c_h / n_h[:, None]
    shrunk = (cell_counts + group_prior_rows * p_h[:, None, :]) / (n_hg + group_prior_rows)[:, :, None]
    cell_mix = np.where(single[:, None, None], p_h[:, None, :], shrunk)
    group_size = cell_sizes.sum(axis=0)
    point = np.where(single[:, None, None], cell_sizes[:, :, None] * p_h[:, None, :],
                     cell_counts + (cell_sizes - n_hg)[:, :, None] * cell_mix).sum(axis=0) / group_size[:, None]
    gamma = rng.standard_gamma(c_h + _stratum_alpha(h, k, pred_of, prior), size=(draws, h, k))
    theta = gamma / gamma.sum(axis=2, keepdims=True)  # (draws, H, k)
    stratum_rest = rng.multinomial(np.broadcast_to((cell_sizes.sum(axis=1) - n_h).astype(np.int64), (draws, h)), theta)
    stratum_total = c_h + stratum_rest  # a single-group stratum's draws are its group's
    cell_h, cell_g = np.nonzero(cell_sizes)  # only the cells that hold predictions
    low, high = np.empty((m, k)), np.empty((m, k))
    per_block = max(1, int(4e6 // (draws * k)))  # cells drawn at once
    order = np.argsort(cell_g, kind="stable")
    cell_h, cell_g = cell_h[order], cell_g[order]
    start = 0
    while start < m:  # blocks of whole groups holding about per_block cells
        first = np.searchsorted(cell_g, start)
        beyond = first + per_block
        stop = m if beyond >= len(cell_g) else max(start + 1, int(cell_g[beyond]))
        sel = slice(first, np.searchsorted(cell_g, stop))
        hs, gs = cell_h[sel], cell_g[sel]
        counts_c = cell_counts[hs, gs]  # (P, k)
        cell_gamma = rng.standard_gamma(np.maximum(group_prior_rows * theta[:, hs, :] + counts_c[None], 1e-12))
        cell_theta = cell_gamma / np.maximum(cell_gamma.sum(axis=2, keepdims=True), 1e-300)
        unsampled = (cell_sizes[hs, gs] - n_hg[hs, gs]).astype(np.int64)
        rest = rng.multinomial(np.broadcast_to(unsampled, (draws, len(hs))), cell_theta)
        cell_total = np.where(single[hs][None, :, None], stratum_total[:, hs, :], counts_c[None] + rest)
        onehot = np.eye(stop - start)[gs - start]  # (P, groups in block)
        totals = np.einsum("bpk,pg->bgk", cell_total, onehot)
        low[start:stop], high[start:stop] = percentile_interval(totals / group_size[start:stop, None])
        start = stop
    return point, low, high


def _group_estimates(predictions: pd.DataFrame, column: str, keys: pd.Series, names: list[str], pred_of: np.ndarray,
                     sample: pd.DataFrame, truth: np.ndarray, probs: np.ndarray | None, labels: Sequence[str],
                     strata: Sequence[str], *, draws: int, prior: float, group_prior_rows: float,
                     seed: int) -> dict[str, Any]:
    k = len(labels)
    values = group_values(predictions, column)
    cells = pd.crosstab(keys, values).reindex(index=names, fill_value=0)  # N_hg
    groups = list(cells.columns)
    stratified = bool(((cells > 0).sum(axis=1) <= 1).all())
    sampled_values = values.set_axis(predictions["id"].astype(str).to_numpy()).reindex(sample["id"]).to_numpy()
    h_of = pd.Index(names).get_indexer(sample["_key"])
    g_of = pd.Index(groups).get_indexer(sampled_values)
    cell_counts = np.zeros((len(names), len(groups), k))
    np.add.at(cell_counts, (h_of, g_of, truth), 1.0)
    point, lows, highs = group_estimates(cells.to_numpy(), cell_counts, pred_of, draws=draws, prior=prior,
                                         group_prior_rows=group_prior_rows, seed=seed)
    n_valid = pd.Series(sampled_values).value_counts()
    pred = predictions["label"]
    out = {}
    for g, value in enumerate(groups):
        in_group = (values == value).to_numpy()
        cc = pred[in_group].value_counts(normalize=True).reindex(labels, fill_value=0.0)
        out[str(value)] = {
            "n_predictions": int(in_group.sum()), "n_validated": int(n_valid.get(value, 0)),
            "shares": {lab: Estimate(float(point[g, j]), float(lows[g, j]), float(highs[g, j]))
                       for j, lab in enumerate(labels)},
            "classify_and_count": _rounded(cc.to_numpy(), labels),
            "pcc": None if probs is None else _rounded(probs[in_group].mean(axis=0), labels),
        }
    if stratified:
        assumption = (f"none: the sample is stratified by {column}" if column in strata else
                      f"none: every stratum holds one {column}")
    else:
        assumption = (f"model-based: the sample is not stratified by {column}; within each stratum, the true-label "
                      f"mix of each {column} is modelled as varying around the stratum's (its own coded rows count fully, "
                      f"the stratum's mix as {group_prior_rows:g} rows); stratify by {column} for design-based "
                      "estimates")
    return {"stratified": stratified, "assumption": assumption, "values": out}


# --- printing --------------------------------------------------------------------------------------


def _fmt(e: Estimate, pct: bool = True) -> str:
    if not np.isfinite(e.estimate):
        return "—"
    f = (lambda x: f"{100 * x:5.1f}%") if pct else (lambda x: f"{x:7.1f}")
    return f"{f(e.estimate)} [{f(e.low).strip()}, {f(e.high).strip()}]"


def format_result(result: ValidationResult) -> str:
    """Printable tables: accuracy and agreement, shares beside the baselines, per-category metrics, groups."""
    out = [f"{result.n_validated} validated of {result.n_predictions} predictions; 95% intervals in brackets",
           f"accuracy {_fmt(result.accuracy)}"]
    a = result.agreement
    if a.n_items:
        kappa = "—" if a.kappa is None else f"{a.kappa:.3f}"
        out.append(f"coder agreement: {a.n_agree}/{a.n_items} double-coded ({100 * a.rate:.1f}%), Cohen's kappa "
                   f"{kappa}; {a.n_adjudicated} adjudicated")
    base = result.baselines
    heads = [("classify_and_count", "CC"), ("pcc", "PCC"), ("adjusted", "PACC"), ("emq", "EMQ")]
    heads = [(k, h) for k, h in heads if base.get(k)]
    out += ["", f"{'category':<18} {'validated share':<26}" + "".join(f"{h:>8}" for _, h in heads)]
    for lab in result.labels:
        out.append(f"{lab:<18} {_fmt(result.shares[lab]):<26}" +
                   "".join(f"{100 * base[key][lab]:7.1f}%" for key, _ in heads))
    out += ["", f"{'category':<18} {'precision':<24} {'recall':<24} {'f1':<24} {'predicted':>9} {'coded':>6}"]
    for lab, d in result.per_category.items():
        out.append(f"{lab:<18} {_fmt(d['precision']):<24} {_fmt(d['recall']):<24} {_fmt(d['f1']):<24} "
                   f"{d['n_predicted']:>9} {d['n_validated_predicted']:>6}")
    for col, g in result.groups.items():
        out += ["", f"shares by {col} ({g['assumption']})",
                f"{col:<24} {'N':>6} {'coded':>6} " + " ".join(f"{lab[:24]:<26}" for lab in result.labels)]
        for value, v in g["values"].items():
            out.append(f"{value[:24]:<24} {v['n_predictions']:>6} {v['n_validated']:>6} " +
                       " ".join(f"{_fmt(v['shares'][lab]):<26}" for lab in result.labels))
    return "\n".join(out)


# --- corrections rejoin the corpus -----------------------------------------------------------------


def corpus_records(predictions: pd.DataFrame, annotations: pd.DataFrame, *, labels: Sequence[str],
                   sample: pd.DataFrame | None = None, model_version: str | None = None) -> list[dict[str, Any]]:
    """Coded measures as labelled-corpus records (the fields of data/measures.jsonl) with ``source: user``,
    the annotator(s), the coding time, the model version and label, and ``validation_sample``: true for a
    blind validation sample's rows, false for review rows (coded with the model's label in view)."""
    labels = _check_labels(labels)
    _check_predictions(predictions, labels)
    final, _ = resolve_annotations(annotations, labels=labels, known_ids=predictions["id"].astype(str))
    purpose = {}
    if sample is not None and "purpose" in sample:
        purpose = dict(zip(sample["id"].astype(str), sample["purpose"].astype(str), strict=True))
    elif "purpose" in annotations:
        purpose = dict(zip(annotations["id"].astype(str), annotations["purpose"].astype(str), strict=True))
    rows = predictions.assign(id=predictions["id"].astype(str)).set_index("id")
    records = []
    for ann in final.itertuples(index=False):
        row = rows.loc[ann.id]

        def get(col: str, _row: pd.Series = row) -> Any:
            value = _row.get(col)
            return None if value is None or (isinstance(value, float) and np.isnan(value)) else value

        records.append({
            "id": ann.id, "notice_id": get("notice"), "issuer": get("issuer"), "issuer_kind": get("issuer_kind"),
            "source": "user", "date": get("date"), "heading": get("heading") or "", "text": get("text"),
            "label": ann.label, "secondary_label": ann.secondary_label, "note": ann.note,
            "annotator": ann.annotator, "time": ann.time, "model_version": model_version,
            "model_label": get("label"), "validation_sample": purpose.get(ann.id) == "validation",
        })
    return records


# --- what the commands call ------------------------------------------------------------------------


def sample_file(predictions: str | Path, n: int, out: str | Path, *, labels: Sequence[str],
                strata: Sequence[str] = ("label",), seed: int = 0, min_per_stratum: int = DEFAULT_MIN_PER_STRATUM,
                mode: Literal["blind", "review"] = "blind") -> pd.DataFrame:
    """``classify sample PREDICTIONS --n N --out OUT [--strata] [--seed] [--mode]``: draw and write the
    sample (JSONL); returns it (print :func:`sample_table` of it)."""
    from classify.fileio import check_output_path

    check_output_path(out, [predictions])
    sample = draw_sample(load_predictions(predictions), n, labels=labels, strata=strata, seed=seed,
                         min_per_stratum=min_per_stratum, mode=mode)
    write_sample(sample, out)
    return sample


def validate_files(predictions: str | Path, annotations: str | Path, sample: str | Path | None = None, *,
                   labels: Sequence[str], groups: Sequence[str] = ("issuer_kind", "year"),
                   oof_rates: np.ndarray | pd.DataFrame | None = None, train_prior: Sequence[float] | None = None,
                   json_out: str | Path | None = None, seed: int = 0) -> ValidationResult:
    """``classify validate PREDICTIONS ANNOTATIONS [--sample SAMPLE] [--json OUT] [--by ...]``: the result
    (print ``result.tables()``), also written as JSON to ``json_out``."""
    from classify.errors import OutputError
    from classify.fileio import atomic_write_text

    if json_out is not None and not Path(json_out).resolve().parent.is_dir():
        raise OutputError(f"{json_out}: folder {Path(json_out).parent} does not exist")
    result = validate(load_predictions(predictions), None if sample is None else load_sample(sample),
                      load_annotations(annotations), labels=labels, groups=groups, oof_rates=oof_rates,
                      train_prior=train_prior, seed=seed)
    if json_out is not None:
        atomic_write_text(json_out, result.to_json() + "\n")
    return result
