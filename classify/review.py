"""The review policy: which labels a person should check, and what is promised about the rest.

Two things send a measure to review, named by :data:`REVIEW_REASONS` (the ``review_reason`` column):

``out_of_domain``
    the input is not like any labelled measure: it has (almost) no Chinese text, or it is far from
    every training measure in the model's own vector space (``estimator.embed``), or few of its
    character bigrams occur in the training measures. :class:`DomainCheck` holds the thresholds,
    each chosen on the training data so that about ``quantile`` of the measures of a *new* notice
    cross it (every training measure is compared with the measures of the other notices only).
``low_confidence``
    the calibrated confidence is under the threshold of :class:`ReviewPolicy`.

:class:`ReviewPolicy` chooses that threshold on out-of-fold predictions so that the promise holds on
notices that were not used to choose it: with probability ``confidence`` (9 in 10), at least
``accuracy`` (95%) of the labels it leaves unflagged are right. The notice is the unit of sampling
(measures of one notice share wording, issuer and errors): the bound on the unflagged accuracy of
each candidate threshold treats notices as clusters (a cluster-robust score bound, ``wilson``, by
default; a notice bootstrap gives the same thresholds), widened for a *batch* of new notices as
large as the calibration data (``horizon="batch"``), since that is what a user sees and what
experiments/review_guarantee.py checks on held-out halves of the corpus. The threshold is the lowest
candidate whose bound reaches the target. Fit it on the out-of-fold rows of the
leave-one-issuer-kind-out scheme (training's ``calibrate_on``): they are harder than new notices of
known kinds, which buys the margin that held-out notices need (experiments/results/review_guarantee.md).

:func:`review_flags` turns confidences, out-of-domain flags and a policy into ``needs_review`` and
``review_reason`` per row. In training and prediction::

    policy = ReviewPolicy(accuracy=config.evaluation.review_accuracy).fit_oof(calibration.calibrated_oof)
    check = DomainCheck().fit(X[MEASURE].tolist(), df["notice_id"].to_numpy(), estimator.embed(X))
    ...
    ood = check.flags(X[MEASURE].tolist(), estimator.embed(X), exemplar_vectors)
    needs_review, review_reason = review_flags(confidence, label, policy, ood, review_below=review_below)

Both save as JSON (``to_dict`` / ``from_dict``; the check's bigram vocabulary is rebuilt from the
exemplars' measure texts).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

# -- reasons ---------------------------------------------------------------------------------------

OUT_OF_DOMAIN = "out_of_domain"
LOW_CONFIDENCE = "low_confidence"
# in order of precedence: a row flagged for both reasons gets the first
REVIEW_REASONS: tuple[str, ...] = (OUT_OF_DOMAIN, LOW_CONFIDENCE)
REASON_TEXT = {
    OUT_OF_DOMAIN: "not like any training measure (no Chinese text, or far from every labelled measure)",
    LOW_CONFIDENCE: "confidence under the review threshold",
}
# a threshold no confidence reaches: every label is flagged
NO_THRESHOLD = 1.01

Bound = Literal["bootstrap", "wilson", "clt", "hoeffding_bentkus", "binomial", "crossfit", "none"]
Horizon = Literal["batch", "long_run"]
Search = Literal["fixed_sequence", "lowest"]
BOUNDS: tuple[str, ...] = ("bootstrap", "wilson", "clt", "hoeffding_bentkus", "binomial", "crossfit", "none")


def review_flags(confidence: Any, predicted: Any = None, policy: ReviewPolicy | None = None,
                 out_of_domain: Any = None, *, review_below: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``needs_review`` (bool) and ``review_reason`` (one of :data:`REVIEW_REASONS`, or None) per row.

    Low confidence is judged by ``review_below`` when given (one threshold for every category, the
    user's override), else by ``policy`` (its threshold, or its per-category thresholds with
    ``predicted``); with neither, no row is low-confidence. ``out_of_domain`` is a bool per row
    (:meth:`DomainCheck.flags`) and takes precedence.
    """
    conf = np.asarray(confidence, dtype=float)
    if review_below is not None:
        low = conf < float(review_below)
    elif policy is not None:
        low = policy.low_confidence(conf, predicted)
    else:
        low = np.zeros(len(conf), dtype=bool)
    ood = np.zeros(len(conf), dtype=bool) if out_of_domain is None else np.asarray(out_of_domain, dtype=bool)
    if len(ood) != len(conf):
        raise ValueError(f"out_of_domain has {len(ood)} rows, confidence {len(conf)}")
    reason = np.full(len(conf), None, dtype=object)
    reason[low] = LOW_CONFIDENCE
    reason[ood] = OUT_OF_DOMAIN
    return low | ood, reason


# -- out of domain ----------------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN_CHAR = re.compile(f"[{_HAN}]")
_HAN_RUN = re.compile(f"[{_HAN}]+")


def han_counts(texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per text: the number of Chinese characters, and their share of its letters (any script)."""
    counts, shares = [], []
    for text in texts:
        han = len(_HAN_CHAR.findall(text))
        letters = sum(1 for c in text if unicodedata.category(c).startswith("L"))
        counts.append(han)
        shares.append(han / letters if letters else 0.0)
    return np.asarray(counts, dtype=int), np.asarray(shares, dtype=float)


def han_bigrams(text: str) -> list[str]:
    """Pairs of adjacent Chinese characters (punctuation, digits and Latin letters break a run)."""
    return [run[i:i + 2] for run in _HAN_RUN.findall(text) for i in range(len(run) - 1)]


def bigram_coverage(texts: Iterable[str], vocabulary: set[str] | frozenset[str]) -> np.ndarray:
    """Per text, the share of its Chinese bigrams that occur in ``vocabulary`` (0 for a text with none)."""
    out = []
    for text in texts:
        grams = han_bigrams(text)
        out.append(sum(g in vocabulary for g in grams) / len(grams) if grams else 0.0)
    return np.asarray(out, dtype=float)


def other_group_coverage(texts: Sequence[str], groups: Sequence[Any]) -> np.ndarray:
    """Per text, :func:`bigram_coverage` against the texts of the other groups (notices) only."""
    from collections import Counter

    grams = [han_bigrams(t) for t in texts]
    per_group: dict[Any, set[str]] = {}
    for g, gr in zip(groups, grams, strict=True):
        per_group.setdefault(g, set()).update(gr)
    n_groups: Counter[str] = Counter()
    for s in per_group.values():
        n_groups.update(s)
    out = []
    for g, gr in zip(groups, grams, strict=True):
        own = per_group[g]
        out.append(sum(n_groups[x] - (x in own) > 0 for x in gr) / len(gr) if gr else 0.0)
    return np.asarray(out, dtype=float)


def _dense(m: Any) -> np.ndarray:
    return m.toarray() if hasattr(m, "toarray") else np.asarray(m)


def nearest_similarity(queries: Any, exemplars: Any, *, query_groups: Any = None, exemplar_groups: Any = None,
                       chunk: int = 512) -> np.ndarray:
    """Per query row, the largest dot product (cosine similarity of unit vectors) with an exemplar row.

    With groups, exemplars of the query's own group are skipped (a training measure is compared with
    other notices only). Dense arrays or sparse matrices; a query with no neighbour gets 0.
    """
    n = queries.shape[0]
    out = np.zeros(n)
    if n == 0 or exemplars.shape[0] == 0:
        return out
    qg = None if query_groups is None else np.asarray(query_groups)
    eg = None if exemplar_groups is None else np.asarray(exemplar_groups)
    for start in range(0, n, chunk):
        sims = _dense(queries[start:start + chunk] @ exemplars.T).astype(float)
        if qg is not None and eg is not None:
            sims[qg[start:start + chunk, None] == eg[None, :]] = -np.inf
        best = sims.max(axis=1)
        out[start:start + chunk] = np.where(np.isfinite(best), best, 0.0)
    return out


class DomainCheck(BaseEstimator):
    """Flags measures unlike the labelled ones.

    A measure is out of domain when it has fewer than ``min_han_chars`` Chinese characters or they
    are under ``min_han_share`` of its letters; or (``similarity``) its cosine similarity to the
    nearest training measure in the model's space is under ``similarity_threshold_``; or
    (``vocabulary``) the share of its Chinese character bigrams found in the training measures is
    under ``coverage_threshold_``. Both thresholds are the ``quantile`` of the same score computed
    for every training measure against the measures of the *other* notices, so each test flags
    about that share of the measures of a new notice like the corpus's.

    The bigram vocabulary is not saved (:meth:`to_dict`); :meth:`with_vocabulary` rebuilds it from
    the model's exemplar texts.
    """

    def __init__(self, quantile: float = 0.005, min_han_chars: int = 4, min_han_share: float = 0.5,
                 similarity: bool = True, vocabulary: bool = True) -> None:
        self.quantile = quantile
        self.min_han_chars = min_han_chars
        self.min_han_share = min_han_share
        self.similarity = similarity
        self.vocabulary = vocabulary

    def fit(self, texts: Sequence[str], groups: Sequence[Any], vectors: Any = None) -> DomainCheck:
        """``texts``: the simplified training measures; ``groups``: their notice ids; ``vectors``: their
        ``estimator.embed`` rows (None: the family has no vector space, the similarity test is off)."""
        texts = list(texts)
        groups = np.asarray(groups)
        self.similarity_threshold_: float | None = None
        self.coverage_threshold_: float | None = None
        flagged = ~self.chinese(texts)
        if self.similarity and vectors is not None:
            sims = nearest_similarity(vectors, vectors, query_groups=groups, exemplar_groups=groups)
            self.similarity_threshold_ = float(np.quantile(sims, self.quantile))
            flagged |= sims < self.similarity_threshold_
        if self.vocabulary:
            cov = other_group_coverage(texts, groups)
            self.coverage_threshold_ = float(np.quantile(cov, self.quantile))
            flagged |= cov < self.coverage_threshold_
            self.with_vocabulary(texts)
        # out of notice: the share of training measures a model trained without their notice would flag
        self.training_flagged_share_ = float(flagged.mean()) if len(texts) else 0.0
        self.n_exemplars_ = len(texts)
        return self

    def with_vocabulary(self, texts: Iterable[str]) -> DomainCheck:
        self.vocabulary_ = frozenset(g for t in texts for g in han_bigrams(t))
        return self

    def chinese(self, texts: Sequence[str]) -> np.ndarray:
        """True where a text has enough Chinese to be a measure at all."""
        count, share = han_counts(texts)
        return (count >= self.min_han_chars) & (share >= self.min_han_share)

    def score(self, texts: Sequence[str], vectors: Any = None, exemplar_vectors: Any = None) -> pd.DataFrame:
        """Per text: han_chars, han_share, similarity (nearest exemplar; NaN without vectors), coverage
        (NaN without a vocabulary), and out_of_domain."""
        texts = list(texts)
        count, share = han_counts(texts)
        ood = ~((count >= self.min_han_chars) & (share >= self.min_han_share))
        sims = np.full(len(texts), np.nan)
        threshold = getattr(self, "similarity_threshold_", None)
        if threshold is not None and vectors is not None and exemplar_vectors is not None:
            sims = nearest_similarity(vectors, exemplar_vectors)
            ood |= sims < threshold
        cov = np.full(len(texts), np.nan)
        if getattr(self, "coverage_threshold_", None) is not None and hasattr(self, "vocabulary_"):
            cov = bigram_coverage(texts, self.vocabulary_)
            ood |= cov < self.coverage_threshold_
        return pd.DataFrame({"han_chars": count, "han_share": share, "similarity": sims, "coverage": cov,
                             "out_of_domain": ood})

    def flags(self, texts: Sequence[str], vectors: Any = None, exemplar_vectors: Any = None) -> np.ndarray:
        return self.score(texts, vectors, exemplar_vectors)["out_of_domain"].to_numpy()

    def to_dict(self) -> dict[str, Any]:
        return {**self.get_params(), "similarity_threshold": self.similarity_threshold_,
                "coverage_threshold": self.coverage_threshold_,
                "training_flagged_share": self.training_flagged_share_, "n_exemplars": self.n_exemplars_}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], exemplar_texts: Iterable[str] | None = None) -> DomainCheck:
        names = cls._get_param_names()
        check = cls(**{k: d[k] for k in names if k in d})
        check.similarity_threshold_ = d.get("similarity_threshold")
        check.coverage_threshold_ = d.get("coverage_threshold")
        check.training_flagged_share_ = float(d.get("training_flagged_share", 0.0))
        check.n_exemplars_ = int(d.get("n_exemplars", 0))
        if exemplar_texts is not None:
            check.with_vocabulary(exemplar_texts)
        elif check.coverage_threshold_ is not None:
            check.coverage_threshold_ = None  # no vocabulary to compare with: the test is off
        return check


# -- the low-confidence threshold -------------------------------------------------------------------


def _candidates(score: np.ndarray, max_candidates: int) -> np.ndarray:
    """Candidate thresholds, highest first: the distinct scores (thinned to evenly spaced kept shares)."""
    uniq = np.unique(score)[::-1]
    if len(uniq) > max_candidates:
        ordered = np.sort(score)[::-1]
        pos = np.unique(np.linspace(0, len(score) - 1, max_candidates).round().astype(int))
        uniq = np.unique(ordered[pos])[::-1]
    return uniq


def _kept_counts(score: np.ndarray, correct: np.ndarray, group_idx: np.ndarray, n_groups: int,
                 cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K[j, i], C[j, i]: rows of notice i with score >= cands[j], and the right ones among them."""
    n_c = len(cands)
    below = np.searchsorted(cands[::-1], score, side="right")  # candidates <= score
    first = n_c - below  # the row is kept from this candidate on (n_c: never)
    keep = first < n_c
    K = np.zeros((n_c, n_groups))
    C = np.zeros((n_c, n_groups))
    np.add.at(K, (first[keep], group_idx[keep]), 1.0)
    np.add.at(C, (first[keep], group_idx[keep]), correct[keep].astype(float))
    return np.cumsum(K, axis=0), np.cumsum(C, axis=0)


def _ratio(c: np.ndarray, k: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, c / np.maximum(k, 1e-300), np.nan)


def _hb_lower(K: np.ndarray, C: np.ndarray, delta: float, n_max: float) -> np.ndarray:
    """Hoeffding-Bentkus lower bound on the kept accuracy, notices as the sampling unit.

    Per notice z = errors - a * kept lies in [-a n_max, (1 - a) n_max]; rescaled to [0, 1] its mean is
    a exactly when the error rate is a. The bound is 1 - the smallest a whose null (error rate >= a)
    is rejected at level ``delta``."""
    from scipy.stats import binom

    k = K.shape[1]
    e_bar = (K - C).sum(axis=1) / k  # mean errors per notice
    n_bar = K.sum(axis=1) / k
    grid = np.linspace(0.001, 0.4, 400)
    w = e_bar[None, :] / n_max + grid[:, None] * (1 - n_bar[None, :] / n_max)  # (grid, candidates)
    a = np.broadcast_to(grid[:, None], w.shape)
    mu = np.minimum(w, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(mu > 0, mu * np.log(mu / a), 0.0) + (1 - mu) * np.log((1 - mu) / (1 - a))
    p = np.minimum(np.exp(-k * h), math.e * binom.cdf(np.ceil(k * w), k, a))
    ok = p <= delta
    first = np.where(ok.any(axis=0), ok.argmax(axis=0), len(grid) - 1)
    lower = 1.0 - grid[first]
    lower[~ok.any(axis=0)] = 0.0
    lower[K.sum(axis=1) == 0] = np.nan
    return lower


def _wilson_lower(K: np.ndarray, C: np.ndarray, confidence: float, widen: float) -> np.ndarray:
    """Cluster score (Wilson-type) lower bound: the smallest accuracy a that the one-sided test of
    sum_i (C_i - a K_i) / sqrt(k/(k-1) sum_i (C_i - a K_i)^2) <= z does not reject, notices as clusters.

    The variance is taken under the null, not around the estimate, so a run of right labels does not
    shrink it to nothing (the Wald bound's weak point near accuracy 1)."""
    from scipy.stats import norm

    k = K.shape[1]
    q = (norm.ppf(confidence) * widen) ** 2 * k / max(k - 1, 1)
    Ks, Cs = K.sum(axis=1), C.sum(axis=1)
    a2 = Ks ** 2 - q * (K ** 2).sum(axis=1)
    a1 = -2 * (Cs * Ks - q * (C * K).sum(axis=1))
    a0 = Cs ** 2 - q * (C ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        disc = np.sqrt(np.maximum(a1 ** 2 - 4 * a2 * a0, 0.0))
        root = (-a1 - disc) / (2 * a2)  # the smaller root when a2 > 0
    lower = np.where(a2 > 0, np.clip(root, 0.0, 1.0), 0.0)  # a2 <= 0: too few notices weigh in, no bound
    return np.where(Ks > 0, lower, np.nan)


def _crossfit_margin(K: np.ndarray, C: np.ndarray, target: float, delta: float, rng: np.random.Generator,
                     n_sims: int, min_notices: int) -> float:
    """How far above ``target`` the plain rule (lowest threshold whose kept rows reach the target) must
    aim, so that in 1 - delta of random half/half splits of the notices the threshold chosen on one
    half keeps the other half at the target."""
    k = K.shape[1]
    aims = np.round(np.arange(target, 1.0, 0.0025), 6)
    hits = np.zeros(len(aims))
    half = k // 2
    for _ in range(n_sims):
        perm = rng.permutation(k)
        a, b = perm[:half], perm[half:]
        ka, kb = K[:, a].sum(axis=1), K[:, b].sum(axis=1)
        ra, rb = _ratio(C[:, a].sum(axis=1), ka), _ratio(C[:, b].sum(axis=1), kb)
        start = _start(K[:, a], min_notices)
        ok = (ra[None, :] >= aims[:, None]) & (np.arange(len(ra))[None, :] >= start)
        chosen = np.where(ok.any(axis=1), ok.shape[1] - 1 - ok[:, ::-1].argmax(axis=1), -1)
        got = np.where(chosen >= 0, rb[np.maximum(chosen, 0)], 1.0)
        hits += np.nan_to_num(got, nan=1.0) >= target - 1e-12
    good = np.flatnonzero(hits / n_sims >= 1 - delta)
    return float(aims[good[0]] - target) if len(good) else 1.0


def _start(K: np.ndarray, min_notices: int) -> int:
    """The first candidate whose kept rows come from at least ``min_notices`` notices (the test starts there)."""
    n_with = (K > 0).sum(axis=1)
    need = min(min_notices, K.shape[1])
    idx = np.flatnonzero(n_with >= need)
    return int(idx[0]) if len(idx) else K.shape[0] - 1


def accuracy_lower_bounds(K: np.ndarray, C: np.ndarray, *, bound: str, confidence: float, target: float,
                          batch_ratio: float = 0.0, rng: np.random.Generator | None = None, n_boot: int = 2000,
                          n_max: float | None = None, min_notices: int = 5) -> np.ndarray:
    """Per candidate threshold (rows of K, C), a lower confidence bound on the accuracy of the kept rows.

    ``batch_ratio`` is (calibration notices) / (notices of the new batch the promise is about); 0 for
    the long run. ``binomial`` (measures as independent trials) and ``hoeffding_bentkus`` ignore it.
    """
    delta = 1.0 - confidence
    rng = rng or np.random.default_rng(0)
    r = _ratio(C.sum(axis=1), K.sum(axis=1))
    widen = math.sqrt(1.0 + batch_ratio)
    if bound == "none":
        return r
    if bound == "binomial":
        from scipy.stats import beta

        n, c = K.sum(axis=1), C.sum(axis=1)
        with np.errstate(invalid="ignore"):
            lower = np.where(c > 0, beta.ppf(delta, np.maximum(c, 1e-9), n - c + 1), 0.0)
        return np.where(n > 0, lower, np.nan)
    if bound == "clt":
        from scipy.stats import norm

        k = K.shape[1]
        resid = C - np.nan_to_num(r)[:, None] * K
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(k / max(k - 1, 1) * (resid ** 2).sum(axis=1)) / K.sum(axis=1)
        return r - norm.ppf(confidence) * se * widen
    if bound == "wilson":
        return _wilson_lower(K, C, confidence, widen)
    if bound == "bootstrap":
        k = K.shape[1]
        w = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot).astype(float)
        rb = _ratio(w @ C.T, w @ K.T)
        q = np.quantile(np.where(np.isnan(rb), np.nan_to_num(r)[None, :], rb), delta, axis=0)
        return r - (r - q) * widen
    if bound == "hoeffding_bentkus":
        return _hb_lower(K, C, delta, float(n_max if n_max else max(K[-1].max(), 1.0)))
    if bound == "crossfit":
        margin = _crossfit_margin(K, C, target, delta, rng, max(n_boot // 10, 50), min_notices)
        return r - margin
    raise ValueError(f"unknown bound {bound!r} (expected one of {', '.join(BOUNDS)})")


def _choose(lower: np.ndarray, target: float, start: int, search: str) -> int | None:
    ok = np.nan_to_num(lower, nan=-1.0) >= target - 1e-12
    if search == "lowest":
        idx = np.flatnonzero(ok[start:])
        return start + int(idx[-1]) if len(idx) else None
    j = start
    while j < len(ok) and ok[j]:
        j += 1
    return j - 1 if j > start else None


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


def _logistic_fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> tuple[float, float]:
    """(slope, intercept) of a one-feature logistic regression, slope penalised by ``l2`` (Newton's method)."""
    w = np.zeros(2)
    design = np.column_stack([x, np.ones_like(x)])
    penalty = np.diag([l2, 0.0])
    for _ in range(iterations):
        p = _sigmoid(design @ w)
        grad = design.T @ (p - y) + penalty @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def _class_maps(conf: np.ndarray, correct: np.ndarray, predicted: np.ndarray, classes: Iterable[str] = (),
                min_rows: int = 20) -> dict[str, tuple[float, float]]:
    """Per predicted category, (slope, intercept) of P(right | logit confidence); a category with few rows,
    one outcome or a non-increasing fit gets the pooled curve."""
    def fit(mask: np.ndarray) -> tuple[float, float] | None:
        y = correct[mask].astype(float)
        if mask.sum() < min_rows or y.min() == y.max():
            return None
        a, b = _logistic_fit(_logit(conf[mask]), y)
        return (a, b) if a > 0 else None

    pooled = fit(np.ones(len(conf), dtype=bool)) or (1.0, 0.0)
    return {str(c): fit(predicted == c) or pooled for c in sorted({*map(str, predicted), *map(str, classes)})}


def _fraction_words(p: float) -> str:
    f = Fraction(p).limit_denominator(100)
    return f"{f.numerator} runs out of {f.denominator}"


class ReviewPolicy(BaseEstimator):
    """The low-confidence threshold(s) below which a label is flagged for review, and the promise about
    the labels above them.

    Fitted on out-of-fold predictions (:meth:`fit_oof`, or :meth:`fit` with arrays) so that, on notices not
    used to choose it, at least ``accuracy`` of the unflagged labels are right with probability
    ``confidence``. ``bound`` is how each candidate threshold is checked, notices being the unit:

    - ``wilson`` (default): cluster-robust score bound (the variance of sum(right - a * kept) over notices,
      taken at the tested accuracy a, so a run of right labels cannot shrink it to nothing);
    - ``bootstrap``: notice-level bootstrap percentile bound (the same thresholds in the benchmark; random);
    - ``clt``: the Wald form of ``wilson`` (variance around the estimate);
    - ``hoeffding_bentkus``: Learn-then-Test's finite-sample bound on per-notice losses (long run only); a
      notice's loss is bounded only by the largest notice (71 measures against a mean of 12), so it never
      certifies a threshold on this corpus;
    - ``binomial``: Clopper-Pearson on measures as if independent (ignores notices; for comparison);
    - ``crossfit``: the plain rule aiming above the target by the margin half/half splits of the
      calibration notices need;
    - ``none``: the plain rule (the lowest threshold whose out-of-fold rows reach the target), the old one.

    ``horizon="batch"`` widens the bound by sqrt(1 + k/m) for a batch of m new notices (m =
    ``batch_notices``, or k, the calibration notices); ``"long_run"`` promises the accuracy over all future
    notices. ``search="lowest"`` takes the lowest threshold whose bound reaches the target;
    ``"fixed_sequence"`` walks down from the highest confidence and stops at the first failure (Learn-then-
    Test's family-wise control), which on leave-one-issuer-kind-out rows stops at the confident errors on
    an unseen kind of issuer near the top and flags about 60% (benchmark). ``per_class``: one threshold per
    predicted category, from one ordering of all rows by their estimated chance of being right (a logistic
    curve of confidence per category). ``fit_on_source``: choose the threshold on rows of one source only
    (``"real"``: the promise is about real measures; it flags far more).

    Fitted attributes: ``thresholds_`` (category -> confidence threshold), ``threshold_`` (the one
    threshold; None with ``per_class``), ``reached_`` (False: no threshold passes, every label is
    flagged), ``kept_share_``, ``n_notices_``, ``n_measures_``, ``estimate_`` (per source - all, real,
    synthetic - measures, notices, flagged share, unflagged accuracy and its lower bound on the
    out-of-fold rows).
    """

    def __init__(self, accuracy: float = 0.95, confidence: float = 0.9, bound: Bound = "wilson",
                 horizon: Horizon = "batch", batch_notices: int | None = None, per_class: bool = False,
                 search: Search = "lowest", min_notices: int = 5, fit_on_source: str | None = None,
                 n_boot: int = 2000, max_candidates: int = 400, seed: int = 0) -> None:
        self.accuracy = accuracy
        self.confidence = confidence
        self.bound = bound
        self.horizon = horizon
        self.batch_notices = batch_notices
        self.per_class = per_class
        self.search = search
        self.min_notices = min_notices
        self.fit_on_source = fit_on_source
        self.n_boot = n_boot
        self.max_candidates = max_candidates
        self.seed = seed

    # -- fitting -------------------------------------------------------------------------------------

    def fit_oof(self, oof: pd.DataFrame) -> ReviewPolicy:
        """From an out-of-fold frame with calibrated ``confidence``, ``predicted``, ``label``, ``notice_id``
        and (optional) ``source`` columns."""
        return self.fit(oof["confidence"].to_numpy(), (oof["predicted"] == oof["label"]).to_numpy(),
                        oof["notice_id"].to_numpy(), predicted=oof["predicted"].astype(str).to_numpy(),
                        source=oof["source"].to_numpy() if "source" in oof else None)

    def _batch_ratio(self, k: int) -> float:
        if self.horizon == "long_run":
            return 0.0
        if self.horizon != "batch":
            raise ValueError(f"horizon must be 'batch' or 'long_run', not {self.horizon!r}")
        return k / (self.batch_notices or k)

    def _bounds(self, score: np.ndarray, correct: np.ndarray, gidx: np.ndarray, k: int, cands: np.ndarray,
                n_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        K, C = _kept_counts(score, correct, gidx, k, cands)
        lower = accuracy_lower_bounds(K, C, bound=self.bound, confidence=self.confidence, target=self.accuracy,
                                      batch_ratio=self._batch_ratio(k), rng=np.random.default_rng(self.seed),
                                      n_boot=self.n_boot, n_max=n_max, min_notices=self.min_notices)
        return K, C, lower

    def _first_testable(self, K: np.ndarray, n_max: float) -> int:
        """Where the fixed sequence starts: the first candidate whose kept rows come from ``min_notices``
        notices and whose bound could reach the target at all (were every kept label right). It depends on
        how many rows are kept, never on whether they are right, so the test stays honest."""
        start = _start(K, self.min_notices)
        if self.bound in ("none", "crossfit", "bootstrap"):
            return start
        best = accuracy_lower_bounds(K, K, bound=self.bound, confidence=self.confidence, target=self.accuracy,
                                     batch_ratio=self._batch_ratio(K.shape[1]), n_max=n_max)
        idx = np.flatnonzero(np.nan_to_num(best, nan=-1.0) >= self.accuracy - 1e-12)
        idx = idx[idx >= start]
        return int(idx[0]) if len(idx) else start

    def fit(self, confidence: Any, correct: Any, groups: Any, *, predicted: Any = None,
            source: Any = None) -> ReviewPolicy:
        conf = np.asarray(confidence, dtype=float)
        ok = np.asarray(correct, dtype=bool)
        groups = np.asarray(groups)
        if not 0 < self.accuracy < 1 or not 0 < self.confidence < 1:
            raise ValueError("accuracy and confidence must lie strictly between 0 and 1")
        if self.per_class and predicted is None:
            raise ValueError("per_class needs the predicted category of every row")
        pred = None if predicted is None else np.asarray(predicted).astype(str)
        src = np.asarray(source) if source is not None else np.full(len(conf), "real")
        if self.fit_on_source is not None:
            chosen_rows = src == self.fit_on_source
            if not chosen_rows.any():
                raise ValueError(f"fit_on_source={self.fit_on_source!r}: no row has that source")
            self._fit_threshold(conf[chosen_rows], ok[chosen_rows], groups[chosen_rows],
                                None if pred is None else pred[chosen_rows], all_classes=pred)
        else:
            self._fit_threshold(conf, ok, groups, pred, all_classes=pred)
        self.n_notices_, self.n_measures_ = int(len(np.unique(groups))), int(len(conf))
        kept = ~self.low_confidence(conf, pred)
        self.kept_share_ = float(kept.mean()) if len(kept) else 0.0
        self.estimate_ = {}
        for name, mask in (("all", np.ones(len(conf), dtype=bool)), ("real", src == "real"),
                           ("synthetic", src == "synthetic")):
            if not mask.any():
                continue
            self.estimate_[name] = self._estimate(kept[mask], ok[mask], groups[mask])
        return self

    def _fit_threshold(self, conf: np.ndarray, ok: np.ndarray, groups: np.ndarray, pred: np.ndarray | None,
                       all_classes: np.ndarray | None) -> None:
        names, gidx = np.unique(groups, return_inverse=True)
        k = len(names)
        n_max = float(np.bincount(gidx).max()) if len(gidx) else 1.0
        self.n_fit_notices_ = int(k)
        if self.per_class:
            self.class_maps_ = _class_maps(conf, ok, pred, () if all_classes is None else all_classes)
            a = np.array([self.class_maps_[p][0] for p in pred])
            b = np.array([self.class_maps_[p][1] for p in pred])
            score = _sigmoid(a * _logit(conf) + b)
        else:
            score = conf
        cands = _candidates(score, self.max_candidates) if len(score) else np.array([1.0])
        K, C, lower = self._bounds(score, ok, gidx, k, cands, n_max)
        chosen = _choose(lower, self.accuracy, self._first_testable(K, n_max), self.search) if len(score) else None
        self.reached_ = chosen is not None
        classes = sorted({str(p) for p in all_classes}) if all_classes is not None else []
        if chosen is None:
            self.threshold_ = None if self.per_class else NO_THRESHOLD
            self.thresholds_ = {c: NO_THRESHOLD for c in classes}
        elif self.per_class:
            s = float(cands[chosen])
            self.threshold_ = None
            self.thresholds_ = {}
            for c in classes:
                a_c, b_c = self.class_maps_[c]
                t = float(_sigmoid((_logit(np.array([s]))[0] - b_c) / a_c))
                self.thresholds_[c] = max(0.0, min(t - 1e-9, NO_THRESHOLD))
        else:
            self.threshold_ = float(cands[chosen])
            self.thresholds_ = {c: self.threshold_ for c in classes}

    def _estimate(self, kept: np.ndarray, ok: np.ndarray, groups: np.ndarray) -> dict[str, float]:
        names, gidx = np.unique(groups, return_inverse=True)
        k = len(names)
        K = np.bincount(gidx, weights=kept.astype(float), minlength=k)[None, :]
        C = np.bincount(gidx, weights=(kept & ok).astype(float), minlength=k)[None, :]
        lower = np.nan
        if kept.any() and self.bound not in ("none", "crossfit"):
            lower = float(accuracy_lower_bounds(K, C, bound=self.bound, confidence=self.confidence,
                                                target=self.accuracy, batch_ratio=self._batch_ratio(k),
                                                rng=np.random.default_rng(self.seed), n_boot=self.n_boot,
                                                n_max=float(np.bincount(gidx).max()))[0])
        return {"measures": int(len(kept)), "notices": int(k), "flagged_share": float(1 - kept.mean()),
                "unflagged_accuracy": float(ok[kept].mean()) if kept.any() else float("nan"),
                "accuracy": float(ok.mean()), "lower_bound": lower}

    # -- applying ------------------------------------------------------------------------------------

    def _check(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise RuntimeError("this ReviewPolicy is not fitted yet; call fit or from_dict first")

    def threshold_of(self, predicted: Any = None, n: int | None = None) -> np.ndarray:
        """The confidence threshold that applies to each row (by predicted category with ``per_class``)."""
        self._check()
        if self.threshold_ is not None:
            return np.full(n if predicted is None else len(predicted), self.threshold_)
        if predicted is None:
            raise ValueError("this policy has one threshold per category: pass the predicted categories")
        # a category the calibration rows never predicted gets the strictest threshold
        strict = max(self.thresholds_.values(), default=NO_THRESHOLD)
        return np.array([self.thresholds_.get(str(p), strict) for p in predicted], dtype=float)

    def low_confidence(self, confidence: Any, predicted: Any = None) -> np.ndarray:
        conf = np.asarray(confidence, dtype=float)
        return conf < self.threshold_of(predicted, len(conf))

    # -- words -----------------------------------------------------------------------------------------

    def guarantee(self) -> str:
        """The promise in words a user reads."""
        self._check()
        acc = f"{self.accuracy:.0%}" if round(self.accuracy * 100, 6).is_integer() else f"{self.accuracy:.1%}"
        if not self.reached_:
            return (f"no confidence threshold keeps {acc} of labels right with {self.confidence:.0%} assurance on "
                    "these out-of-fold predictions: every label is flagged for review")
        runs = _fraction_words(self.confidence)
        if self.bound == "none":
            return f"on the out-of-fold predictions that chose the threshold, {acc} of unflagged labels are right"
        which = f"new {self.fit_on_source} notices" if self.fit_on_source else "new notices"
        if self.horizon == "long_run":
            return (f"on {which} like the corpus's, at least {acc} of unflagged labels are right in the long run, "
                    f"a promise that holds in {runs}")
        m = self.batch_notices or getattr(self, "n_fit_notices_", self.n_notices_)
        return (f"on {which} like the corpus's, at least {acc} of unflagged labels are right in {runs}, "
                f"a run being a batch of {m} new notices")

    def summary(self) -> str:
        """The line ``classify train`` prints: the threshold, what it flags, the promise, the estimates, e.g.
        "review below confidence 0.77 flags 15% of measures (real measures 20%); on new notices like the
        corpus's, at least 95% of unflagged labels are right in 9 runs out of 10, a run being a batch of 90
        new notices (out-of-fold estimate 96.5%; real measures 95.5%)"."""
        self._check()
        if self.threshold_ is not None:
            head = f"review below confidence {self.threshold_:.2f}"
        else:
            head = "review below confidence " + ", ".join(f"{c} {t:.2f}" for c, t in sorted(self.thresholds_.items()))
        real = self.estimate_.get("real") if "synthetic" in self.estimate_ else None
        head += f" flags {1 - self.kept_share_:.0%} of measures"
        if real:
            head += f" (real measures {real['flagged_share']:.0%})"
        text = f"{head}; {self.guarantee()}"
        est = self.estimate_.get("all")
        if self.reached_ and est and est.get("unflagged_accuracy") is not None:
            detail = f"out-of-fold estimate {est['unflagged_accuracy']:.1%}"
            if real and real.get("unflagged_accuracy") is not None:
                detail += f"; real measures {real['unflagged_accuracy']:.1%}"
            text += f" ({detail})"
        return text

    # -- saving ----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        self._check()
        out = {**self.get_params(), "threshold": self.threshold_, "thresholds": dict(self.thresholds_),
               "reached": self.reached_, "kept_share": self.kept_share_, "n_notices": self.n_notices_,
               "n_fit_notices": self.n_fit_notices_,
               "n_measures": self.n_measures_, "guarantee": self.guarantee(),
               # strict JSON: an estimate that does not exist (no bound, nothing kept) is null, not NaN
               "estimate": {src: {k: (None if isinstance(v, float) and v != v else v) for k, v in est.items()}
                            for src, est in self.estimate_.items()}}
        if self.per_class:
            out["class_maps"] = {c: list(v) for c, v in self.class_maps_.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReviewPolicy:
        policy = cls(**{k: d[k] for k in cls._get_param_names() if k in d})
        policy.threshold_ = d.get("threshold")
        policy.thresholds_ = {str(k): float(v) for k, v in (d.get("thresholds") or {}).items()}
        policy.reached_ = bool(d.get("reached", True))
        policy.kept_share_ = float(d.get("kept_share", float("nan")))
        policy.n_notices_ = int(d.get("n_notices", 0))
        policy.n_fit_notices_ = int(d.get("n_fit_notices", policy.n_notices_))
        policy.n_measures_ = int(d.get("n_measures", 0))
        policy.estimate_ = dict(d.get("estimate") or {})
        if "class_maps" in d:
            policy.class_maps_ = {c: (float(v[0]), float(v[1])) for c, v in d["class_maps"].items()}
        return policy

    @classmethod
    def fixed(cls, threshold: float, accuracy: float = 0.95) -> ReviewPolicy:
        """A policy with a given threshold and no promise (a model saved before review policies; tests)."""
        policy = cls(accuracy=accuracy, bound="none")
        policy.threshold_, policy.thresholds_, policy.reached_ = float(threshold), {}, True
        policy.kept_share_, policy.n_notices_, policy.n_measures_, policy.estimate_ = float("nan"), 0, 0, {}
        policy.n_fit_notices_ = 0
        return policy


__all__ = ["BOUNDS", "LOW_CONFIDENCE", "NO_THRESHOLD", "OUT_OF_DOMAIN", "REASON_TEXT", "REVIEW_REASONS",
           "DomainCheck", "ReviewPolicy", "accuracy_lower_bounds", "bigram_coverage", "han_bigrams", "han_counts",
           "nearest_similarity", "other_group_coverage", "review_flags"]
