"""The review policy: a threshold whose promise holds on new notices, per-category thresholds,
out-of-domain input, and the reasons a row is flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from classify.review import (
    LOW_CONFIDENCE,
    NO_THRESHOLD,
    OUT_OF_DOMAIN,
    REVIEW_REASONS,
    DomainCheck,
    ReviewPolicy,
    accuracy_lower_bounds,
    bigram_coverage,
    han_counts,
    other_group_coverage,
    review_flags,
)

OOD_EXAMPLES = ["hello", "。。。,,,", "The committee held a meeting on rectification.", "xkqz wprt lmnv"]


def notices(rng: np.random.Generator, k: int, spread: float = 0.7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k notices of geometric size (mean 12); a measure is right with probability sigmoid(1.5 logit(conf) + u + 0.3),
    u ~ N(0, spread) shared by the notice's measures. At threshold 0.7 the long-run accuracy is about 95%."""
    sizes = rng.geometric(1 / 12, size=k)
    conf = rng.beta(6, 1.0, size=sizes.sum())
    groups = np.repeat(np.arange(k), sizes)
    u = rng.normal(0, spread, size=k)[groups]
    z = 1.5 * np.log(conf / (1 - conf)) + u + 0.3
    right = rng.random(len(conf)) < 1 / (1 + np.exp(-z))
    return conf, right, groups


@pytest.fixture(scope="module")
def population() -> tuple[np.ndarray, np.ndarray]:
    conf, right, _ = notices(np.random.default_rng(99), 20000)
    order = np.argsort(-conf)
    return conf[order], np.cumsum(right[order]) / np.arange(1, len(conf) + 1)


def long_run_accuracy(population: tuple[np.ndarray, np.ndarray], threshold: float) -> float:
    conf, running = population
    kept = int(np.searchsorted(-conf, -threshold, side="right"))
    return float(running[kept - 1]) if kept else 1.0


# -- the guarantee ---------------------------------------------------------------------------------


def test_the_policy_keeps_its_promise_where_the_plain_rule_does_not(population) -> None:
    rng = np.random.default_rng(0)
    held = {"plain": [], "policy": []}
    flagged = []
    for _ in range(40):
        conf, right, groups = notices(rng, 45)
        plain = ReviewPolicy(bound="none", search="lowest", min_notices=1).fit(conf, right, groups)
        policy = ReviewPolicy(bound="wilson").fit(conf, right, groups)
        held["plain"].append(long_run_accuracy(population, plain.threshold_) >= 0.95)
        held["policy"].append(long_run_accuracy(population, policy.threshold_) >= 0.95)
        flagged.append(1 - policy.kept_share_)
    # the plain rule lands on either side of the target about equally often
    assert np.mean(held["plain"]) < 0.75
    # the policy (batch horizon: wider than the long run needs) holds at least 9 times in 10, minus sampling noise
    assert np.mean(held["policy"]) >= 0.85
    assert 0.1 < np.mean(flagged) < 0.6  # and does not get there by flagging everything


def test_every_bound_runs_and_orders_as_expected() -> None:
    conf, right, groups = notices(np.random.default_rng(3), 60)
    thresholds = {}
    for bound in ("none", "binomial", "clt", "wilson", "bootstrap", "crossfit"):
        p = ReviewPolicy(bound=bound, n_boot=300).fit(conf, right, groups)
        thresholds[bound] = p.threshold_ if p.reached_ else NO_THRESHOLD
        assert p.reached_ and 0 < p.kept_share_ <= 1
    # a promise about new notices asks for more than the plain rule
    assert all(thresholds[b] >= thresholds["none"] for b in thresholds)
    long_run = ReviewPolicy(bound="wilson", horizon="long_run").fit(conf, right, groups)
    assert long_run.threshold_ <= thresholds["wilson"]  # a batch of new notices varies more than the long run


def test_correlated_errors_widen_the_notice_level_bound() -> None:
    # 20 notices of 20 measures, 40 errors: spread over every notice, or all in two notices
    K = np.full((1, 20), 20.0)
    spread = K - 2.0
    clustered = K.copy()
    clustered[0, :2] = 0.0
    for bound in ("wilson", "clt", "bootstrap"):
        lo_spread = accuracy_lower_bounds(K, spread, bound=bound, confidence=0.9, target=0.9)[0]
        lo_clustered = accuracy_lower_bounds(K, clustered, bound=bound, confidence=0.9, target=0.9)[0]
        assert lo_clustered < lo_spread - 0.02, bound
    # measures taken as independent cannot tell the two apart
    b1 = accuracy_lower_bounds(K, spread, bound="binomial", confidence=0.9, target=0.9)[0]
    b2 = accuracy_lower_bounds(K, clustered, bound="binomial", confidence=0.9, target=0.9)[0]
    assert b1 == pytest.approx(b2)


def test_all_right_flags_nothing_and_hopeless_flags_everything() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.3, 1.0, 600)
    groups = np.repeat(np.arange(50), 12)
    p = ReviewPolicy().fit(conf, np.ones(600, dtype=bool), groups)
    assert p.reached_ and p.kept_share_ == 1.0 and not p.low_confidence(conf).any()
    coin = rng.random(600) < 0.5
    q = ReviewPolicy().fit(conf, coin, groups)
    assert not q.reached_ and q.threshold_ == NO_THRESHOLD and q.low_confidence(conf).all()
    assert "every label is flagged" in q.guarantee()


def test_per_category_thresholds_keep_more_at_the_same_promise() -> None:
    # "easy" predictions are right whatever their confidence; "hard" ones are right with probability conf
    rng = np.random.default_rng(5)
    k = 80
    sizes = rng.integers(5, 15, k)
    groups = np.repeat(np.arange(k), sizes)
    n = len(groups)
    predicted = np.where(rng.random(n) < 0.5, "easy", "hard")
    conf = rng.uniform(0.4, 1.0, n)
    right = np.where(predicted == "easy", rng.random(n) < 0.995, rng.random(n) < conf ** 2)
    one = ReviewPolicy(bound="wilson").fit(conf, right, groups, predicted=predicted)
    per = ReviewPolicy(bound="wilson", per_class=True).fit(conf, right, groups, predicted=predicted)
    assert per.reached_ and per.threshold_ is None
    assert per.thresholds_["easy"] < per.thresholds_["hard"]
    assert per.kept_share_ > one.kept_share_
    kept = ~per.low_confidence(conf, predicted)
    assert right[kept].mean() >= 0.95
    with pytest.raises(ValueError, match="per category"):
        per.low_confidence(conf)
    # a category the calibration rows never predicted gets the strictest threshold
    assert per.threshold_of(["unseen"])[0] == max(per.thresholds_.values())


def test_estimates_by_source_words_and_round_trip() -> None:
    conf, right, groups = notices(np.random.default_rng(2), 60)
    source = np.where(groups % 3 == 0, "real", "synthetic")
    oof = pd.DataFrame({"confidence": conf, "notice_id": [f"n{g}" for g in groups], "source": source,
                        "label": "a", "predicted": np.where(right, "a", "b")})
    p = ReviewPolicy(accuracy=0.95, confidence=0.9).fit_oof(oof)
    assert set(p.estimate_) == {"all", "real", "synthetic"}
    real = p.estimate_["real"]
    assert real["measures"] == (source == "real").sum() and real["notices"] == len(np.unique(groups[groups % 3 == 0]))
    assert 0 <= real["flagged_share"] <= 1 and real["lower_bound"] <= real["unflagged_accuracy"]
    words = p.guarantee()
    assert "95%" in words and "9 runs out of 10" in words and "a batch of 60 new notices" in words
    assert "real measures" in p.summary() and f"{p.threshold_:.2f}" in p.summary()
    assert "in the long run" in ReviewPolicy(horizon="long_run").fit_oof(oof).guarantee()
    back = ReviewPolicy.from_dict(p.to_dict())
    assert back.threshold_ == p.threshold_ and back.guarantee() == words
    np.testing.assert_array_equal(back.low_confidence(conf), p.low_confidence(conf))
    import json

    json.dumps(p.to_dict(), allow_nan=False)  # the bundle is strict JSON
    json.dumps(ReviewPolicy(bound="none").fit_oof(oof).to_dict(), allow_nan=False)


# -- reasons ---------------------------------------------------------------------------------------


def test_review_flags_give_one_reason_per_row() -> None:
    policy = ReviewPolicy.fixed(0.6)
    conf = np.array([0.9, 0.5, 0.95, 0.4])
    needs, reason = review_flags(conf, None, policy, out_of_domain=[False, False, True, True])
    assert needs.tolist() == [False, True, True, True]
    assert reason.tolist() == [None, LOW_CONFIDENCE, OUT_OF_DOMAIN, OUT_OF_DOMAIN]  # out of domain comes first
    assert set(REVIEW_REASONS) == {LOW_CONFIDENCE, OUT_OF_DOMAIN}
    needs, reason = review_flags(conf, None, policy, review_below=0.92)  # the user's override
    assert reason.tolist() == [LOW_CONFIDENCE, LOW_CONFIDENCE, None, LOW_CONFIDENCE]
    needs, reason = review_flags(conf)
    assert not needs.any() and all(r is None for r in reason)


# -- out of domain ---------------------------------------------------------------------------------


def test_chinese_text_rule() -> None:
    count, share = han_counts(["加强党风廉政建设", "延长CT、MRI检查服务时间", "hello", "。。。,,,"])
    assert count.tolist() == [8, 8, 0, 0]
    assert share[1] == pytest.approx(8 / 13)
    check = DomainCheck()
    assert check.chinese(["加强党风廉政建设", "延长CT、MRI检查服务时间", *OOD_EXAMPLES, "整改a"]).tolist() == \
        [True, True, False, False, False, False, False]


def test_bigram_coverage_counts_other_notices_only() -> None:
    texts = ["加强党建", "加强党建", "强化学习"]
    cov = other_group_coverage(texts, ["a", "b", "c"])
    assert cov.tolist() == [1.0, 1.0, 0.0]
    assert other_group_coverage(texts, ["a", "a", "c"]).tolist() == [0.0, 0.0, 0.0]
    assert bigram_coverage(["加强学习", "hello"], {"加强", "强学"}).tolist() == [pytest.approx(2 / 3), 0.0]


@pytest.fixture(scope="module")
def tiny_tfidf():
    from helpers import subset_rows

    from classify.inputs import MEASURE, model_input
    from classify.models.tfidf import TfidfMeasureClassifier

    rows = pd.DataFrame(subset_rows(("001_069fa13e86ff3dc9", "002_498a692be3e6a6d3", "004_4ec4d330bc6282d2",
                                     "003_e67ed025cdbe23ec"), per_label=4))
    X = model_input(rows)
    est = TfidfMeasureClassifier(classifier="logreg").fit(X, rows["label"].to_numpy())
    vectors = est.embed(X)
    check = DomainCheck().fit(X[MEASURE].tolist(), rows["notice_id"].to_numpy(), vectors)
    return est, check, vectors


def test_out_of_domain_examples_are_flagged_and_seed_measures_are_not(tiny_tfidf, seeds) -> None:
    from classify.inputs import MEASURE, model_input

    est, check, vectors = tiny_tfidf
    assert 0 < check.similarity_threshold_ < 1 and 0 < check.coverage_threshold_ < 1
    X = model_input(pd.DataFrame({"text": OOD_EXAMPLES + ["将鸡蛋打散,加入少许盐,锅中放油烧热后倒入蛋液翻炒。"]}))
    scores = check.score(X[MEASURE].tolist(), est.embed(X), vectors)
    assert scores["out_of_domain"].all()
    assert scores["coverage"].iloc[-1] < check.coverage_threshold_  # Chinese, but not a measure
    # the measures of the seed notices the model was trained on (most of them are not among its rows)
    measures = [m.__dict__ for key in ("001", "002", "003", "004") for m in seeds[key][2]]
    Xs = model_input(pd.DataFrame(measures))
    assert not check.flags(Xs[MEASURE].tolist(), est.embed(Xs), vectors).any()


def test_domain_check_round_trip_rebuilds_the_vocabulary(tiny_tfidf) -> None:
    _, check, _ = tiny_tfidf
    import json

    d = json.loads(json.dumps(check.to_dict()))
    back = DomainCheck.from_dict(d, exemplar_texts=sorted(check.vocabulary_))
    assert back.similarity_threshold_ == check.similarity_threshold_
    assert back.vocabulary_ >= check.vocabulary_
    texts = ["加强党风廉政建设", "今天天气很好,我们去公园散步吧。"]
    np.testing.assert_array_equal(back.flags(texts), check.flags(texts))
    # without exemplar texts the coverage test is off, never a crash
    assert DomainCheck.from_dict(d).score(texts)["coverage"].isna().all()
