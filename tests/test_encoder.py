"""EncoderMeasureClassifier (classify/models/encoder.py) on a tiny random BERT built on the fly, and the contrastive
tuning of its body (classify/models/contrastive.py): SetFit's pairs, the tuned body saved with the model, and the
embedding cache that never serves one body's embeddings to another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from helpers import build_tiny_bert  # noqa: E402

from classify.models import contrastive  # noqa: E402
from classify.models.encoder import EncoderMeasureClassifier, embedding_cache  # noqa: E402

ROWS: dict[str, list[str]] = {
    "political_study": ["党组定期开展理论学习中心组学习", "深入学习习近平新时代中国特色社会主义思想",
                        "把理论学习列入党组会议第一议题", "组织党员干部集中学习党的二十大精神",
                        "开展专题读书班加强政治理论学习", "落实第一议题制度及时跟进学习"],
    "finance": ["严格规范财务报销审核流程", "加强专项资金使用监管", "清理规范往来款项和结余资金",
                "完善预算管理和资金支付制度", "对违规发放的补贴全部收回", "开展财务收支专项审计"],
    "personnel": ["严格执行干部选拔任用工作条例", "规范干部档案管理完成专项审核", "加强年轻干部培养和梯队建设",
                  "按规定核定机构编制和人员职数", "完善干部交流轮岗制度", "健全干部考核评价机制"],
}
HEADINGS = {"political_study": "一、政治建设方面", "finance": "二、财务管理方面", "personnel": "三、选人用人方面"}


def frame(labels: tuple[str, ...] = tuple(ROWS)) -> tuple[pd.DataFrame, list[str]]:
    rows = [(text, HEADINGS[label], label) for label in labels for text in ROWS[label]]
    data = pd.DataFrame(rows, columns=["text", "heading", "label"])
    return data[["text", "heading"]], data["label"].tolist()


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    extra = tuple(t for texts in ROWS.values() for t in texts) + tuple(HEADINGS.values())
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-encoder"), extra)


def encoder(tiny_bert: Path, **overrides: object) -> EncoderMeasureClassifier:
    params: dict[str, object] = dict(pretrained=str(tiny_bert), max_length=64, batch_size=8, num_threads=1,
                                     input_text="heading+measure", precision="fp32", contrastive_precision="fp32",
                                     contrastive_batch_size=8, contrastive_learning_rate=1e-3)
    params.update(overrides)
    return EncoderMeasureClassifier(**params)


def weights(clf: EncoderMeasureClassifier) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in clf.encoder_fp32_.state_dict().items()}


# -- pairs ---------------------------------------------------------------------------------------

def test_pairs_are_half_positive_half_negative_within_the_batch() -> None:
    labels = np.array(["a", "a", "a", "b", "b", "c", "c", "c"])
    left, right, target = contrastive.batch_pairs(labels, 4, np.random.default_rng(0))
    assert len(left) == 4 * len(labels)
    assert (left != right).all()
    np.testing.assert_array_equal(target, (labels[left] == labels[right]).astype(np.float32))
    for a in range(len(labels)):  # two positives and two negatives each, where the batch has two positives
        assert target[left == a].sum() == min(2, (labels == labels[a]).sum() - 1) and (left == a).sum() == 4
    # "b" has one partner of its label: the rest of its pairs are negatives; a lone label gets negatives only
    left, _, target = contrastive.batch_pairs(np.array(["a", "b", "b", "c", "c", "c"]), 4, np.random.default_rng(0))
    assert target[left == 1].tolist().count(1.0) == 1 and (left == 1).sum() == 4
    assert target[left == 0].sum() == 0 and (left == 0).sum() == 4
    # one row alone has no partner; odd counts round the positives up
    assert len(contrastive.batch_pairs(np.array(["a"]), 3, np.random.default_rng(0))[0]) == 0
    left, _, target = contrastive.batch_pairs(np.array(["a", "a", "b", "b"]), 3, np.random.default_rng(0))
    assert target[left == 0].tolist().count(1.0) == 1 and (left == 0).sum() == 3  # 1 positive there is, 2 negatives


def test_layer_wise_learning_rates() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    from classify.models.transformer_utils import parameter_groups

    model = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3,
                                                     num_attention_heads=2, intermediate_size=32, num_labels=3))
    plain = parameter_groups(model, 1e-3, 0.01)
    assert [(len(g["params"]) > 0, g["weight_decay"], g["lr"]) for g in plain] == [(True, 0.01, 1e-3), (True, 0.0, 1e-3)]
    assert sum(len(g["params"]) for g in plain) == len(list(model.parameters()))
    decayed = parameter_groups(model, 1e-3, 0.01, layer_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in decayed for p in g["params"]}
    assert lr_of[id(model.classifier.weight)] == pytest.approx(1e-3)
    assert lr_of[id(model.bert.encoder.layer[2].attention.self.query.weight)] == pytest.approx(5e-4)
    assert lr_of[id(model.bert.encoder.layer[0].output.dense.bias)] == pytest.approx(1.25e-4)
    assert lr_of[id(model.bert.embeddings.word_embeddings.weight)] == pytest.approx(6.25e-5)
    assert len(lr_of) == len(list(model.parameters()))


# -- the tuned encoder ---------------------------------------------------------------------------

def test_contrastive_tuning_changes_the_body_and_is_seeded(tiny_bert: Path) -> None:
    X, y = frame()
    frozen = encoder(tiny_bert).fit(X, y)
    assert frozen.tuned_digest_ is None and "#tuned" not in frozen.encoder_id_
    tuned = encoder(tiny_bert, contrastive_pairs=4, contrastive_epochs=2).fit(X, y)
    assert len(tuned.contrastive_loss_history_) == 2 * 3  # 18 rows in batches of 8: 3 steps per epoch
    before, after = weights(frozen), weights(tuned)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("encoder.layer.0." in k for k in changed) and any("embeddings." in k for k in changed)
    assert not np.allclose(frozen.embed(X), tuned.embed(X), atol=1e-4)

    again = encoder(tiny_bert, contrastive_pairs=4, contrastive_epochs=2).fit(X, y)
    assert again.tuned_digest_ == tuned.tuned_digest_
    np.testing.assert_allclose(again.contrastive_loss_history_, tuned.contrastive_loss_history_, rtol=1e-6)
    np.testing.assert_allclose(again.predict_proba(X), tuned.predict_proba(X), atol=1e-9)
    other_seed = encoder(tiny_bert, contrastive_pairs=4, contrastive_epochs=2, seed=1).fit(X, y)
    assert other_seed.tuned_digest_ != tuned.tuned_digest_


def test_contrastive_tuning_pulls_same_label_measures_together(tiny_bert: Path) -> None:
    X, y = frame()
    labels = np.array(y)
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(labels), dtype=bool)

    def margin(clf: EncoderMeasureClassifier) -> float:
        emb = clf.embed(X)
        sim = emb @ emb.T
        return float(sim[same & off_diagonal].mean() - sim[~same].mean())

    frozen = encoder(tiny_bert).fit(X, y)
    tuned = encoder(tiny_bert, contrastive_pairs=4, contrastive_epochs=6, contrastive_learning_rate=5e-3).fit(X, y)
    assert margin(frozen) < 0.05 and margin(tuned) > 0.3, (margin(frozen), margin(tuned))


def test_frozen_lower_layers_stay_as_pretrained(tiny_bert: Path) -> None:
    X, y = frame()
    frozen = weights(encoder(tiny_bert).fit(X, y))
    clf = encoder(tiny_bert, contrastive_pairs=2, contrastive_freeze_layers=1).fit(X, y)
    tuned = weights(clf)
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"):
        torch.testing.assert_close(tuned[name], frozen[name])
    assert not torch.equal(tuned["encoder.layer.1.attention.self.query.weight"],
                           frozen["encoder.layer.1.attention.self.query.weight"])
    assert all(p.requires_grad for p in clf.encoder_fp32_.parameters())  # as it was before the tuning
    assert len(clf.encoder_fp32_.encoder.layer) == 2
    with pytest.raises(ValueError, match="contrastive_freeze_layers=3"):
        encoder(tiny_bert, contrastive_pairs=2, contrastive_freeze_layers=3).fit(X, y)


def test_tuned_model_saves_loads_and_predicts_the_same(tiny_bert: Path, tmp_path: Path) -> None:
    from classify.models import load_estimator

    X, y = frame()
    clf = encoder(tiny_bert, contrastive_pairs=2).fit(X, y)
    clf.save(tmp_path / "tuned")
    manifest = json.loads((tmp_path / "tuned" / "classify_model.json").read_text(encoding="utf-8"))
    assert manifest["params"]["contrastive_pairs"] == 2
    state = json.loads((tmp_path / "tuned" / "encoder_state.json").read_text(encoding="utf-8"))
    assert state["tuned_digest"] == clf.tuned_digest_
    loaded = load_estimator(tmp_path / "tuned")
    assert isinstance(loaded, EncoderMeasureClassifier) and loaded.get_params() == clf.get_params()
    assert contrastive.weights_digest(loaded.encoder_fp32_) == clf.tuned_digest_  # the tuned body, not the base
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(loaded.embed(X), clf.embed(X), atol=1e-6)


def test_cache_keeps_tuned_and_untuned_embeddings_apart(tiny_bert: Path) -> None:
    X, y = frame()
    half_X, half_y = frame(("political_study", "finance"))
    with embedding_cache() as cache:
        frozen = encoder(tiny_bert).fit(X, y)
        n_frozen = len(cache)
        tuned = encoder(tiny_bert, contrastive_pairs=2).fit(X, y)
        assert len(cache) == 2 * n_frozen  # every text embedded again by the tuned body
        other = encoder(tiny_bert, contrastive_pairs=2).fit(half_X, half_y)  # another fold: its own body
        ids = {key[0] for key in cache}
        assert ids == {frozen.encoder_id_, tuned.encoder_id_, other.encoder_id_} and len(ids) == 3
        in_cache = tuned.predict_proba(X), frozen.predict_proba(X), other.predict_proba(X)
        same_again = encoder(tiny_bert, contrastive_pairs=2).fit(X, y)  # the same body: its entries are shared
        assert same_again.encoder_id_ == tuned.encoder_id_ and len({key[0] for key in cache}) == 3
    np.testing.assert_allclose(tuned.predict_proba(X), in_cache[0], atol=1e-6)  # recomputed outside the cache
    np.testing.assert_allclose(frozen.predict_proba(X), in_cache[1], atol=1e-6)
    np.testing.assert_allclose(other.predict_proba(X), in_cache[2], atol=1e-6)


def test_config_takes_the_contrastive_options() -> None:
    from classify.models import FAMILIES

    config = FAMILIES["encoder"].config(contrastive_pairs=4, contrastive_epochs=2, contrastive_freeze_layers=2)
    assert config.contrastive_pairs == 4 and config.contrastive_precision == "auto"
    with pytest.raises(ValueError):
        FAMILIES["encoder"].config(contrastive_pairs=-1)
    assert EncoderMeasureClassifier().contrastive_pairs == 0  # off by default: a frozen encoder
