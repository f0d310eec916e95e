"""Validation samples and corrected shares (classify/validation.py) on a synthetic corpus whose truth is known."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classify.errors import InputError
from classify.labels import LABELS
from classify.validation import (
    allocate,
    corpus_metrics,
    corpus_records,
    draw_sample,
    emq,
    estimate_counts,
    load_annotations,
    load_predictions,
    load_sample,
    pacc,
    predictions_sha256,
    rates_from_oof,
    resolve_annotations,
    validate,
    write_sample,
)

REPO = Path(__file__).resolve().parents[1]
K = len(LABELS)
PREVALENCE = np.array([0.45, 0.10, 0.20, 0.05, 0.20])
RIGHT = np.array([0.95, 0.75, 0.85, 0.60, 0.90])  # recall per true label; errors mostly go to label 0
MODEL_COLUMNS = {"label", "confidence", "needs_review", "review_reason", "secondary_label", "model_label",
                 *(f"prob_{lab}" for lab in LABELS)}


def population(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Prediction rows (the format of classify predict) and the true label index of each row.

    The model's errors are asymmetric (wrong predictions go mostly to political_study), so
    classify-and-count over-counts political_study; the probabilities are calibrated.
    """
    rng = np.random.default_rng(seed)
    y = rng.choice(K, size=n, p=PREVALENCE)
    confusion = np.zeros((K, K))
    for j in range(K):
        confusion[j] = (1 - RIGHT[j]) * np.array([0.7 if i == 0 else 0.3 / (K - 2) for i in range(K)])
        confusion[j, j] = 0
        confusion[j] *= (1 - RIGHT[j]) / confusion[j].sum() if confusion[j].sum() else 0
        confusion[j, j] = RIGHT[j]
    confusion[0] = np.r_[RIGHT[0], np.full(K - 1, (1 - RIGHT[0]) / (K - 1))]
    p = np.array([rng.choice(K, p=confusion[j]) for j in y])
    # calibrated by construction: P(true label | predicted label) in this population
    given = np.stack([np.bincount(y[p == k], minlength=K) / max((p == k).sum(), 1) for k in range(K)])
    probs = given[p]
    kinds = rng.choice(["health", "education", "hospital"], size=n)
    frame = pd.DataFrame({
        "notice": [f"n{i // 20:03d}" for i in range(n)], "file": "x.txt", "id": [f"m{i:05d}" for i in range(n)],
        "issuer": "某局", "issuer_kind": kinds, "date": rng.choice(["2022-03-01", "2025-07-09"], size=n),
        "heading": "", "text": [f"措施 {i}" for i in range(n)], "label": np.asarray(LABELS)[p],
        "confidence": 0.8, **{f"prob_{lab}": probs[:, i] for i, lab in enumerate(LABELS)},
        "needs_review": False, "review_reason": None, "secondary_label": None,
    })
    return frame, y


@pytest.fixture(scope="module")
def corpus() -> tuple[pd.DataFrame, np.ndarray]:
    return population()


def coded(sample: pd.DataFrame, predictions: pd.DataFrame, y: np.ndarray, annotator: str = "a") -> pd.DataFrame:
    truth = pd.Series(np.asarray(LABELS)[y], index=predictions["id"])
    return pd.DataFrame({"id": sample["id"], "label": truth.reindex(sample["id"]).to_numpy(), "annotator": annotator,
                         "time": "2026-01-05T10:00:00"})


def one_line_error(func, *args, match: str, **kwargs) -> str:
    with pytest.raises(InputError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- allocation and sampling ---------------------------------------------------------------------


def test_square_root_allocation_gives_rare_strata_more_than_proportional():
    sizes = np.array([2000, 500, 300, 150, 50])
    alloc = allocate(sizes, 100)
    proportional = allocate(sizes, 100, power=1.0)
    assert alloc.sum() == 100 and proportional.sum() == 100
    assert alloc[-1] > proportional[-1] and alloc[0] < proportional[0]
    assert (alloc >= 5).all()
    # a stratum smaller than the floor is taken whole, never more than it has
    small = allocate(np.array([400, 3, 60]), 30, min_per_stratum=5)
    assert small[1] == 3 and small.sum() == 30 and (small <= [400, 3, 60]).all()
    # the floor wins where the square root would give less
    floored = allocate(np.array([5000, 20, 20]), 40, min_per_stratum=8)
    assert list(floored[1:]) == [8, 8]


def test_allocation_refuses_impossible_sizes():
    one_line_error(allocate, [10, 10], 25, match="more than the 20 predictions")
    one_line_error(allocate, [100] * 10, 20, match="cannot give each of the 10 strata")


def test_blind_sample_carries_no_model_output_and_hides_the_strata(corpus):
    preds, _ = corpus
    sample = draw_sample(preds, 60, labels=LABELS, seed=3)
    assert not MODEL_COLUMNS & set(sample.columns)
    assert {"id", "text", "issuer", "heading", "notice", "issuer_kind", "date"} <= set(sample.columns)
    assert (sample["purpose"] == "validation").all()
    assert not any(lab in code for code in sample["stratum"] for lab in LABELS)
    # rows are shuffled: the sample is not ordered by stratum
    assert not sample["stratum"].is_monotonic_increasing


def test_sample_records_its_design(corpus):
    preds, _ = corpus
    sample = draw_sample(preds, 80, labels=LABELS, strata=("label", "issuer_kind"), seed=1, min_per_stratum=2)
    assert len(sample) == 80 and sample["id"].is_unique
    key = preds.set_index("id").loc[sample["id"], ["label", "issuer_kind"]].astype(str).agg("|".join, axis=1)
    per = sample.assign(_key=key.to_numpy()).groupby("stratum")
    assert (per["_key"].nunique() == 1).all()
    sizes = preds.groupby(["label", "issuer_kind"]).size()
    for _, rows in per:
        label, kind = rows["_key"].iloc[0].split("|")
        assert rows["stratum_size"].iloc[0] == sizes[(label, kind)]
        assert rows["stratum_sample"].iloc[0] == len(rows)
    assert sample["weight"].sum() == pytest.approx(len(preds))
    assert np.allclose(sample["inclusion_probability"] * sample["weight"], 1)
    assert (sample["predictions_sha256"] == predictions_sha256(preds)).all()
    assert (sample["seed"] == 1).all() and (sample["strata"] == "label,issuer_kind").all()


def test_sample_depends_on_seed_and_content_not_row_order(corpus):
    preds, _ = corpus
    a = draw_sample(preds, 50, labels=LABELS, seed=5)
    b = draw_sample(preds.sample(frac=1, random_state=1), 50, labels=LABELS, seed=5)
    c = draw_sample(preds, 50, labels=LABELS, seed=6)
    assert a["id"].tolist() == b["id"].tolist()
    assert set(a["id"]) != set(c["id"])


def test_review_sample_prefills_the_model_label(corpus):
    preds, _ = corpus
    sample = draw_sample(preds, 30, labels=LABELS, mode="review", min_per_stratum=1)
    assert (sample["purpose"] == "review").all()
    model = preds.set_index("id")["label"]
    assert (sample["model_label"].to_numpy() == model.reindex(sample["id"]).to_numpy()).all()
    assert set(sample["stratum"]) <= set(LABELS)


def test_hash_ignores_format_and_order_but_not_content(corpus, tmp_path):
    preds, _ = corpus
    path = tmp_path / "preds.csv"
    preds.sample(frac=1, random_state=2).to_csv(path, index=False)
    again = load_predictions(path)
    assert predictions_sha256(again) == predictions_sha256(preds)
    assert again["prob_finance"].dtype.kind == "f"
    changed = preds.copy()
    changed.loc[0, "label"] = "ideology" if changed.loc[0, "label"] != "ideology" else "finance"
    assert predictions_sha256(changed) != predictions_sha256(preds)


# --- estimates -----------------------------------------------------------------------------------


def test_validated_shares_are_unbiased_where_classify_and_count_is_not(corpus):
    preds, y = corpus
    idx = {lab: i for i, lab in enumerate(LABELS)}
    p = preds["label"].map(idx).to_numpy()
    sizes = np.bincount(p, minlength=K)
    truth = np.bincount(y, minlength=K) / len(y)
    cc = sizes / len(p)
    members = [np.flatnonzero(p == h) for h in range(K)]
    alloc = allocate(sizes, 60)
    rng = np.random.default_rng(0)
    estimates = []
    for _ in range(1500):
        counts = np.stack([np.bincount(y[rng.choice(members[h], alloc[h], replace=False)], minlength=K)
                           for h in range(K)]).astype(float)
        estimates.append(corpus_metrics((counts / alloc[:, None])[None], sizes, np.arange(K), K)["shares"][0])
    estimates = np.array(estimates)
    se = estimates.std(axis=0) / np.sqrt(len(estimates))
    assert np.all(np.abs(estimates.mean(axis=0) - truth) < 4 * se + 1e-9)
    assert cc[0] - truth[0] > 0.02  # the population's classify-and-count is biased, the estimator is not


def test_intervals_cover_in_a_small_simulation(corpus):
    preds, y = corpus
    idx = {lab: i for i, lab in enumerate(LABELS)}
    p = preds["label"].map(idx).to_numpy()
    sizes = np.bincount(p, minlength=K)
    truth_share = np.bincount(y, minlength=K) / len(y)
    truth_acc = (y == p).mean()
    members = [np.flatnonzero(p == h) for h in range(K)]
    alloc = allocate(sizes, 80)
    rng = np.random.default_rng(1)
    hit_acc, hit_share = [], []
    for r in range(120):
        counts = np.stack([np.bincount(y[rng.choice(members[h], alloc[h], replace=False)], minlength=K)
                           for h in range(K)]).astype(float)
        est = estimate_counts(counts, sizes, np.arange(K), LABELS, draws=250, seed=r)
        hit_acc.append(est.accuracy.low <= truth_acc <= est.accuracy.high)
        hit_share.append([est.shares[lab].low <= t <= est.shares[lab].high for lab, t in zip(LABELS, truth_share,
                                                                                          strict=True)])
    # 120 repetitions: a 95% interval covers 88-100% of them with near certainty
    assert 0.88 <= np.mean(hit_acc) <= 1.0
    assert (np.mean(hit_share, axis=0) >= 0.88).all()


def test_a_census_is_exact(corpus):
    preds, y = corpus
    small = preds.iloc[:150].reset_index(drop=True)
    sample = draw_sample(small, 150, labels=LABELS)
    result = validate(small, sample, coded(sample, small, y[:150]), labels=LABELS, groups=())
    acc = float((np.asarray(LABELS)[y[:150]] == small["label"].to_numpy()).mean())
    assert result.accuracy.estimate == pytest.approx(acc)
    assert result.accuracy.low == pytest.approx(acc) and result.accuracy.high == pytest.approx(acc)
    for i, lab in enumerate(LABELS):
        assert result.shares[lab].estimate == pytest.approx((y[:150] == i).mean())


def test_validate_reports_estimates_baselines_and_groups(corpus):
    preds, y = corpus
    sample = draw_sample(preds, 100, labels=LABELS, seed=2)
    rates = np.eye(K) * 0.8 + 0.05
    result = validate(preds, sample, coded(sample, preds, y), labels=LABELS, groups=("issuer_kind", "year"),
                      oof_rates=rates, train_prior=PREVALENCE, draws=500)
    out = json.loads(result.to_json())
    assert set(out) >= {"accuracy", "shares", "per_category", "confusion", "groups", "baselines", "n_validated",
                        "n_predictions"}
    assert out["n_validated"] == 100 and out["n_predictions"] == len(preds)
    assert set(out["accuracy"]) == {"estimate", "low", "high"}
    assert out["accuracy"]["low"] <= out["accuracy"]["estimate"] <= out["accuracy"]["high"]
    assert sum(v["estimate"] for v in out["shares"].values()) == pytest.approx(1)
    assert set(out["baselines"]) == {"classify_and_count", "pcc", "adjusted", "emq"}
    assert sum(out["baselines"]["adjusted"].values()) == pytest.approx(1, abs=1e-5)
    assert np.sum(out["confusion"]["estimate"]) == pytest.approx(len(preds), abs=0.2)
    assert set(out["groups"]["year"]["values"]) == {"2022", "2025"}
    assert out["groups"]["issuer_kind"]["assumption"].startswith("model-based")
    hospital = out["groups"]["issuer_kind"]["values"]["hospital"]
    assert hospital["n_predictions"] == int((preds["issuer_kind"] == "hospital").sum())
    assert sum(v["estimate"] for v in hospital["shares"].values()) == pytest.approx(1)
    for lab in LABELS:
        d = out["per_category"][lab]
        assert d["precision"]["low"] <= d["precision"]["estimate"] <= d["precision"]["high"]
    text = result.tables()
    assert "accuracy" in text and "hospital" in text and "PACC" in text


def test_groups_that_are_strata_need_no_assumption(corpus):
    preds, y = corpus
    sample = draw_sample(preds, 120, labels=LABELS, strata=("label", "issuer_kind"), min_per_stratum=3)
    result = validate(preds, sample, coded(sample, preds, y), labels=LABELS, groups=("issuer_kind",), draws=300)
    assert result.groups["issuer_kind"]["stratified"]
    assert result.groups["issuer_kind"]["assumption"].startswith("none")


def test_no_label_adjustments_recover_the_prevalence_with_exact_rates(corpus):
    preds, y = corpus
    probs = preds[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    oof = preds.assign(label=np.asarray(LABELS)[y])
    rates, prior = rates_from_oof(oof, labels=LABELS)
    truth = np.bincount(y, minlength=K) / len(y)
    assert np.allclose(pacc(probs.mean(axis=0), rates), truth, atol=1e-3)
    shifted = np.flatnonzero((y != 0) | (np.arange(len(y)) % 3 == 0))  # fewer political_study measures
    estimate = emq(probs[shifted], prior)
    assert abs(estimate[0] - (y[shifted] == 0).mean()) < abs(probs[shifted].mean(axis=0)[0] - (y[shifted] == 0).mean())


def test_pacc_and_emq_agree_with_quapy(corpus):
    quapy = pytest.importorskip("quapy")
    from quapy.method.aggregative import ACC, EMQ

    preds, y = corpus
    probs = preds[[f"prob_{lab}" for lab in LABELS]].to_numpy()
    rates, prior = rates_from_oof(preds.assign(label=np.asarray(LABELS)[y]), labels=LABELS)
    subset = probs[::3]
    ours = pacc(subset.mean(axis=0), rates)
    theirs = ACC.solve_adjustment(rates.T, subset.mean(axis=0), method="inversion", solver="minimize")
    assert np.allclose(ours, quapy.functional.normalize_prevalence(np.clip(theirs, 0, None)), atol=2e-3)
    assert np.allclose(emq(subset, prior, tol=1e-8), EMQ.EM(prior, subset, epsilon=1e-8)[0], atol=2e-3)


# --- annotations ---------------------------------------------------------------------------------


def test_two_annotators_agreement_and_adjudication(corpus):
    from sklearn.metrics import cohen_kappa_score

    preds, y = corpus
    sample = draw_sample(preds, 40, labels=LABELS, seed=4)
    first = coded(sample, preds, y, "wang")
    second = coded(sample, preds, y, "li")
    flip = second.index[:3]
    second.loc[flip, "label"] = [LABELS[(LABELS.index(lab) + 1) % K] for lab in second.loc[flip, "label"]]
    with pytest.raises(InputError, match="disagree on 3 id"):
        validate(preds, sample, pd.concat([first, second]), labels=LABELS, groups=())
    decided = first.loc[flip].assign(annotator="zhao", adjudicated=True)
    annotations = pd.concat([first, second, decided], ignore_index=True)
    final, agreement = resolve_annotations(annotations, labels=LABELS)
    assert agreement.n_items == 40 and agreement.n_agree == 37 and agreement.n_adjudicated == 3
    by_id = lambda f: f.set_index("id")["label"].sort_index()  # noqa: E731
    assert agreement.kappa == pytest.approx(cohen_kappa_score(by_id(second), by_id(first), labels=list(LABELS)))
    assert (final.set_index("id")["label"] == by_id(first)).all()
    result = validate(preds, sample, annotations, labels=LABELS, groups=(), draws=200)
    assert result.agreement.n_adjudicated == 3 and result.n_validated == 40


# --- bad input: one line each, naming the file and the problem -------------------------------------


@pytest.fixture()
def files(corpus, tmp_path):
    preds, y = corpus
    sample = draw_sample(preds, 30, labels=LABELS, seed=9)
    write_sample(sample, tmp_path / "sample.jsonl")
    ann = coded(sample, preds, y)
    ann.to_json(tmp_path / "ann.jsonl", orient="records", lines=True, force_ascii=False)
    return preds, load_sample(tmp_path / "sample.jsonl"), ann, tmp_path


def _write(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    frame.to_json(path, orient="records", lines=True, force_ascii=False)
    return load_annotations(path)


def test_sample_round_trips_through_jsonl(files):
    preds, sample, ann, tmp = files
    result = validate(preds, sample, load_annotations(tmp / "ann.jsonl"), labels=LABELS, groups=(), draws=100)
    assert result.n_validated == 30


def test_bad_annotation_id(files):
    preds, sample, ann, tmp = files
    bad = _write(pd.concat([ann, pd.DataFrame([{"id": "nope", "label": "finance", "annotator": "a"}])]),
                 tmp / "a1.jsonl")
    message = one_line_error(validate, preds, sample, bad, labels=LABELS, match="not in the predictions")
    assert "a1.jsonl:31" in message and "nope" in message


def test_duplicate_annotation(files):
    preds, sample, ann, tmp = files
    bad = _write(pd.concat([ann, ann.iloc[[4]]]), tmp / "a2.jsonl")
    message = one_line_error(validate, preds, sample, bad, labels=LABELS, match="duplicate annotation")
    assert "a2.jsonl:31" in message and ann["id"].iloc[4] in message


def test_missing_annotations(files):
    preds, sample, ann, tmp = files
    bad = _write(ann.iloc[:-2], tmp / "a3.jsonl")
    message = one_line_error(validate, preds, sample, bad, labels=LABELS, match="2 sampled id")
    assert "a3.jsonl" in message and ann["id"].iloc[-1] in message


def test_label_outside_the_scheme(files):
    preds, sample, ann, tmp = files
    bad = ann.copy()
    bad.loc[7, "label"] = "culture"
    message = one_line_error(validate, preds, sample, _write(bad, tmp / "a4.jsonl"), labels=LABELS,
                             match="not in the label scheme")
    assert "a4.jsonl:8" in message and "culture" in message
    wrong_pred = preds.assign(label=preds["label"].replace({"finance": "money"}))
    one_line_error(draw_sample, wrong_pred, 10, labels=LABELS, match="money are not in the label scheme")


def test_sample_from_another_predictions_file(files):
    preds, sample, ann, tmp = files
    other = preds.iloc[:-1]
    message = one_line_error(validate, other, sample, ann, labels=LABELS, match="another predictions file")
    assert "sample.jsonl" in message


def test_review_rows_are_refused(corpus):
    preds, y = corpus
    sample = draw_sample(preds, 20, labels=LABELS, mode="review", min_per_stratum=1)
    one_line_error(validate, preds, sample, coded(sample, preds, y), labels=LABELS, match="review")


def test_annotations_outside_the_sample_and_missing_design(files):
    preds, sample, ann, tmp = files
    outside = preds.loc[~preds["id"].isin(sample["id"]), "id"].iloc[0]
    bad = pd.concat([ann, pd.DataFrame([{"id": outside, "label": "finance", "annotator": "a"}])])
    one_line_error(validate, preds, sample, bad, labels=LABELS, match="not in the sample")
    one_line_error(validate, preds, None, ann, labels=LABELS, match="pass the sample file")
    one_line_error(draw_sample, preds, 10, labels=LABELS, strata=("issuer_kind",), match="must include 'label'")


def test_annotations_can_carry_the_design(files):
    preds, sample, ann, tmp = files
    coded_sample = sample.drop(columns="_line").merge(ann[["id", "label"]], on="id")
    result = validate(preds, None, coded_sample, labels=LABELS, groups=(), draws=100)
    assert result.n_validated == 30


# --- corrections rejoin the corpus -----------------------------------------------------------------


def test_corpus_records(files):
    preds, sample, ann, tmp = files
    records = corpus_records(preds, ann, labels=LABELS, sample=sample, model_version="measure-classifier/3")
    assert len(records) == 30
    r = records[0]
    assert r["source"] == "user" and r["validation_sample"] is True and r["annotator"] == "a"
    assert r["model_version"] == "measure-classifier/3" and r["time"] == "2026-01-05T10:00:00"
    assert r["label"] in LABELS and r["notice_id"].startswith("n") and r["text"].startswith("措施")
    review = draw_sample(preds, 5, labels=LABELS, mode="review", seed=1, min_per_stratum=1)
    recs = corpus_records(preds, ann.iloc[:0].pipe(lambda a: pd.concat([a, pd.DataFrame(
        {"id": review["id"], "label": "finance"})])), labels=LABELS, sample=review)
    assert not any(r["validation_sample"] for r in recs)


def test_module_imports_neither_torch_nor_mlflow():
    code = ("import sys, classify.validation; "
            "bad = [m for m in ('torch', 'mlflow', 'quapy') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


def test_file_commands(corpus, tmp_path):
    from classify.validation import sample_file, validate_files

    preds, y = corpus
    preds.to_json(tmp_path / "preds.jsonl", orient="records", lines=True, force_ascii=False)
    sample = sample_file(tmp_path / "preds.jsonl", 40, tmp_path / "sample.jsonl", labels=LABELS, seed=2)
    assert (tmp_path / "sample.jsonl").is_file() and len(sample) == 40
    coded(sample, preds, y).to_json(tmp_path / "ann.jsonl", orient="records", lines=True)
    result = validate_files(tmp_path / "preds.jsonl", tmp_path / "ann.jsonl", tmp_path / "sample.jsonl", labels=LABELS,
                            groups=("year",), json_out=tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text())["n_validated"] == 40
    assert "2025" in result.tables()
    mixed = pd.concat([load_sample(tmp_path / "sample.jsonl"),
                       draw_sample(preds, 40, labels=LABELS, seed=3).iloc[:1]]).drop_duplicates("id")
    one_line_error(validate, preds, mixed, coded(mixed, preds, y), labels=LABELS, match="more than one draw")
