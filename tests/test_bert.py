"""BertMeasureClassifier (classify/models/bert.py) on a tiny randomly initialised BERT built on the fly (no hub,
seconds on CPU). Every test that fine-tunes it is slow; the fast loop keeps those that need no training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from helpers import build_tiny_bert  # noqa: E402

from classify.labels import LABELS  # noqa: E402
from classify.models.bert import BertMeasureClassifier  # noqa: E402
from classify.pretrained import ModelNotFoundError  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]

# Four topics with little shared vocabulary, so even a 2-layer, 32-wide model separates them quickly.
TOPICS: dict[str, list[str]] = {
    "political_study": [
        "党组定期开展理论学习中心组学习",
        "深入学习习近平新时代中国特色社会主义思想",
        "把理论学习列入党组会议第一议题",
        "组织党员干部集中学习党的二十大精神",
        "开展专题读书班加强政治理论学习",
        "落实第一议题制度及时跟进学习",
        "党组书记带头讲党课推动学习走深走实",
        "制定年度理论学习计划并严格执行",
        "围绕主题教育开展集中学习研讨",
        "以学促干推动理论学习成果转化",
    ],
    "finance": [
        "严格规范财务报销审核流程",
        "加强专项资金使用监管",
        "清理规范往来款项和结余资金",
        "完善预算管理和资金支付制度",
        "对违规发放的补贴全部收回",
        "加强财务人员业务培训提高会计核算水平",
        "建立资金拨付台账定期对账",
        "严禁超标准列支公务接待费用",
        "规范政府采购程序加强合同管理",
        "开展财务收支专项审计",
    ],
    "personnel": [
        "严格执行干部选拔任用工作条例",
        "规范干部档案管理完成专项审核",
        "加强年轻干部培养和梯队建设",
        "按规定核定机构编制和人员职数",
        "完善干部交流轮岗制度",
        "严格落实领导干部个人有关事项报告制度",
        "健全干部考核评价机制",
        "加大优秀年轻干部选拔使用力度",
        "清理超职数配备干部问题",
        "规范公务员招录和调任程序",
    ],
    "tech_policy": [
        "加强科技计划项目立项评审管理",
        "推动科技成果转移转化",
        "完善科技创新平台建设和绩效评价",
        "加大高新技术企业培育力度",
        "优化科技项目验收流程",
        "支持企业建设研发机构提升创新能力",
        "出台促进科技创新的政策措施",
        "加强知识产权保护和专利运用",
        "推进产学研合作和技术攻关",
        "建立科技项目全过程监督机制",
    ],
}
HEADINGS: dict[str, str] = {
    "political_study": "一、政治建设方面 > (一)理论学习不够深入",
    "finance": "二、财务管理方面 > (一)资金监管不严",
    "personnel": "三、选人用人方面 > (一)干部管理不规范",
    "tech_policy": "四、业务工作方面 > (一)科技项目管理薄弱",
}


def training_frame() -> tuple[pd.DataFrame, list[str]]:
    rows = [(text, HEADINGS[label], label) for label, texts in TOPICS.items() for text in texts]
    frame = pd.DataFrame(rows, columns=["text", "heading", "label"])
    return frame[["text", "heading"]], frame["label"].tolist()


def fast_params(**overrides: object) -> dict[str, object]:
    """Settings that make the tiny random model learn in a few dozen steps."""
    params: dict[str, object] = dict(
        epochs=15, batch_size=8, learning_rate=5e-3, warmup_ratio=0.1, seed=0,
        # One thread: as fast as two for a model this small, and immune to busy CI neighbours.
        num_threads=1, progress=False, max_length=64,
        # fp32 everywhere: "auto" would take bf16 on some CPUs and not others, and these tests compare numbers.
        precision="fp32",
    )
    params.update(overrides)
    return params


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random BERT; vocabulary from the shipped measures plus the test sentences' characters."""
    extra = tuple(t for texts in TOPICS.values() for t in texts) + tuple(HEADINGS.values())
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), extra)


@pytest.fixture(scope="module")
def fitted(tiny_bert: Path) -> BertMeasureClassifier:
    X, y = training_frame()
    return BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params()).fit(X, y)


def test_training_data_uses_real_labels() -> None:
    _, y = training_frame()
    assert set(y) <= set(LABELS) and len(set(y)) >= 3


@pytest.mark.slow
def test_loss_decreases(fitted: BertMeasureClassifier) -> None:
    losses = fitted.loss_history_
    assert len(losses) == 15 * 5  # 40 rows / batch 8 = 5 steps per epoch
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.6 * first, (first, last)


@pytest.mark.slow
def test_predicts_training_data(fitted: BertMeasureClassifier) -> None:
    X, y = training_frame()
    assert list(fitted.classes_) == sorted(set(y))
    accuracy = np.mean(fitted.predict(X) == np.array(y))
    assert accuracy >= 0.8, accuracy


@pytest.mark.slow
def test_predict_proba_shape_and_columns(fitted: BertMeasureClassifier) -> None:
    X, _ = training_frame()
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), len(fitted.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (proba >= 0).all()
    # Columns follow classes_: argmax column names the predicted label.
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], fitted.predict(X))
    assert fitted.predict_proba(X.iloc[:0]).shape == (0, len(fitted.classes_))


@pytest.mark.slow
def test_save_load_in_process(fitted: BertMeasureClassifier, tmp_path: Path) -> None:
    X, _ = training_frame()
    fitted.save(tmp_path / "clf")
    assert (tmp_path / "clf" / "model.safetensors").is_file()
    state = json.loads((tmp_path / "clf" / "classify_model.json").read_text(encoding="utf-8"))
    assert state["classes"] == list(fitted.classes_)
    assert state["params"]["learning_rate"] == fitted.learning_rate

    assert state["family"] == "bert"
    from classify.models import load_estimator

    loaded = load_estimator(tmp_path / "clf")  # dispatched on the manifest's family
    assert isinstance(loaded, BertMeasureClassifier)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X), atol=1e-5)


@pytest.mark.slow
def test_save_load_in_fresh_process(fitted: BertMeasureClassifier, tmp_path: Path) -> None:
    X, _ = training_frame()
    fitted.save(tmp_path / "clf")
    code = (
        "import json, sys\n"
        "import pandas as pd\n"
        "from classify.models.bert import BertMeasureClassifier\n"
        "clf = BertMeasureClassifier.load(sys.argv[1])\n"
        "X = pd.DataFrame({'text': json.loads(sys.argv[2])})\n"
        "print(json.dumps({'classes': list(clf.classes_), 'proba': clf.predict_proba(X).tolist()}))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
               HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "clf"), json.dumps(X["text"].tolist(), ensure_ascii=False)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["classes"] == list(fitted.classes_)
    np.testing.assert_allclose(np.array(out["proba"]), fitted.predict_proba(X), atol=1e-5)


@pytest.mark.slow
def test_same_seed_same_training(tiny_bert: Path) -> None:
    X, y = training_frame()
    again = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(epochs=2)).fit(X, y)
    repeat = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(epochs=2)).fit(X, y)
    np.testing.assert_allclose(repeat.loss_history_, again.loss_history_, rtol=1e-6)


@pytest.mark.slow
def test_use_heading(tiny_bert: Path) -> None:
    X, y = training_frame()
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), input_text="heading+measure", **fast_params(epochs=2)).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), len(set(y)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert np.isfinite(proba).all()

    # Heading and text are two segments: [CLS] heading [SEP] text [SEP].
    encoded = clf._features(X.iloc[:1])[0]
    assert encoded["input_ids"].count(clf.tokenizer_.sep_token_id) == 2
    assert set(encoded["token_type_ids"]) == {0, 1}


@pytest.mark.slow
def test_use_heading_truncates_heading_first(tiny_bert: Path) -> None:
    X, y = training_frame()
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), input_text="heading+measure", **fast_params(epochs=1, max_length=20))
    clf.fit(X, y)
    long_heading = pd.DataFrame({"text": ["加强专项资金使用监管"], "heading": ["二、财务管理方面" * 10]})
    ids = clf._features(long_heading)[0]["input_ids"]
    assert len(ids) == 20
    text_ids = clf.tokenizer_("加强专项资金使用监管", add_special_tokens=False)["input_ids"]
    assert ids[-len(text_ids) - 1:-1] == text_ids  # the whole measure text survives
    long_text = pd.DataFrame({"text": ["加强专项资金使用监管" * 5], "heading": ["二、财务管理方面"]})
    assert len(clf._features(long_text)[0]["input_ids"]) == 20  # text itself cut only when it alone overflows
    assert np.isfinite(clf.predict_proba(long_text)).all()


def test_upper_layers_fed_lower_states_give_the_full_models_logits(tiny_bert: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from classify.models.transformer_utils import only_layers

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert), num_labels=4).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_bert))
    batch = tokenizer(["加强专项资金使用监管", "深入学习习近平新时代中国特色社会主义思想"], padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        full = model(**batch).logits
        with only_layers(model, slice(0, 1)):
            lower = model.bert(**batch).last_hidden_state
        with only_layers(model, slice(1, None), given_hidden_states=True):
            upper = model(inputs_embeds=lower, attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(upper, full)
    assert len(model.bert.encoder.layer) == model.config.num_hidden_layers  # swapped back
    with pytest.raises(RuntimeError, match="boom"), only_layers(model, slice(1, None), given_hidden_states=True):
        raise RuntimeError("boom")
    assert len(model.bert.encoder.layer) == model.config.num_hidden_layers
    assert type(model.bert.embeddings).__name__ == "BertEmbeddings"


@pytest.mark.slow
def test_frozen_cache_trains_like_running_the_frozen_layers_every_step(tiny_bert: Path, tmp_path: Path) -> None:
    """Without dropout the frozen layers are a fixed function, so caching their output must not change training."""
    import shutil

    from transformers import AutoModel

    still = tmp_path / "no-dropout"
    shutil.copytree(tiny_bert, still)
    config = json.loads((still / "config.json").read_text(encoding="utf-8"))
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (still / "config.json").write_text(json.dumps(config), encoding="utf-8")
    X, y = training_frame()
    fits = {cache: BertMeasureClassifier(pretrained=str(still), freeze_layers=1, frozen_cache=cache,
                                         **fast_params(epochs=4)).fit(X, y) for cache in (True, False)}
    np.testing.assert_allclose(fits[True].loss_history_, fits[False].loss_history_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fits[True].predict_proba(X), fits[False].predict_proba(X), atol=1e-4)

    pretrained, tuned = AutoModel.from_pretrained(str(still)).state_dict(), fits[True].model_.bert.state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"):
        torch.testing.assert_close(tuned[name], pretrained[name])  # frozen: as pretrained
    layer1 = "encoder.layer.1.attention.self.query.weight"
    assert not torch.equal(tuned[layer1], pretrained[layer1])  # learnt
    assert len(fits[True].model_.bert.encoder.layer) == 2  # the full stack is back for prediction and saving


@pytest.mark.slow
def test_bf16_training_learns_and_its_dtype_is_kept_with_the_model(tiny_bert: Path, tmp_path: Path) -> None:
    """bf16 autocast for the training steps (emulated where the CPU lacks it): the loss still falls, weights and
    predictions stay fp32, and the saved model records the dtype it was trained in."""
    X, y = training_frame()
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(precision="bf16")).fit(X, y)
    assert clf.train_dtype_ == "bfloat16"
    assert all(p.dtype == torch.float32 for p in clf.model_.parameters())
    history = clf.loss_history_
    assert np.isfinite(history).all() and np.mean(history[-5:]) < 0.5 * np.mean(history[:5])
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and (np.asarray(clf.classes_)[proba.argmax(1)] == np.asarray(y)).mean() >= 0.9
    clf.save(tmp_path / "bf16")
    assert BertMeasureClassifier.load(tmp_path / "bf16").train_dtype_ == "bfloat16"
    assert BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(epochs=1)).fit(X, y).train_dtype_ is None


@pytest.mark.slow
def test_int8_schemes_quantise_the_chosen_layers(fitted: BertMeasureClassifier) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    from classify.models.transformer_utils import int8_for_inference, quantize_int8

    model = fitted.model_
    for per_channel in (False, True):
        for encoder_only in (False, True):
            q = quantize_int8(model, per_channel=per_channel, encoder_only=encoder_only,
                             keep_ffn_output_layers=[1])
            query = q.bert.encoder.layer[0].attention.self.query
            assert isinstance(query, DynamicInt8Linear)
            scheme = query.weight().qscheme()
            assert (scheme == torch.per_channel_affine) if per_channel else (scheme == torch.per_tensor_affine)
            assert isinstance(q.classifier, DynamicInt8Linear) is (not encoder_only)
            assert isinstance(q.bert.pooler.dense, DynamicInt8Linear) is (not encoder_only)
            assert isinstance(q.bert.encoder.layer[0].output.dense, DynamicInt8Linear)
            assert type(q.bert.encoder.layer[1].output.dense) is torch.nn.Linear  # kept fp32
            assert isinstance(q.bert.encoder.layer[1].intermediate.dense, DynamicInt8Linear)
    assert type(model.classifier) is torch.nn.Linear  # the fp32 model is left as it was

    X = training_frame()[0]
    ids = fitted.tokenizer_(list(X["text"][:4]), padding=True, return_tensors="pt")
    bf16 = quantize_int8(model, keep_ffn_output_layers=[1], kept_in="bf16")
    kept = bf16.bert.encoder.layer[1].output.dense
    assert kept.weight.dtype == torch.bfloat16
    with torch.inference_mode():
        exact = model.bert.encoder.layer[1].output.dense(torch.ones(2, 64))
        assert kept(torch.ones(2, 64)).dtype == torch.float32
        torch.testing.assert_close(kept(torch.ones(2, 64)), exact, atol=0.05, rtol=0.02)
        assert bf16(**ids).logits.shape == (4, len(fitted.classes_))

    # the shipped choice: the inner layers' FFN outputs fp32 (none in this 2-layer model), everything else int8
    shipped = int8_for_inference(model, native_cpu_bf16=False)
    linears = [m for m in shipped.modules() if isinstance(m, (torch.nn.Linear, DynamicInt8Linear))]
    assert linears and all(isinstance(m, DynamicInt8Linear) for m in linears)
    X = training_frame()[0]
    p32 = fitted.predict_proba(X)
    try:
        p8 = fitted.set_quantize("int8").predict_proba(X)
    finally:
        fitted.set_quantize("none")
    assert (p8.argmax(1) == p32.argmax(1)).mean() >= 0.9 and not np.allclose(p8, p32, atol=1e-7)


def test_int8_keeps_the_inner_ffn_outputs_fp32_in_a_deeper_model(tmp_path: Path) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear
    from transformers import BertConfig, BertForSequenceClassification

    from classify.models.transformer_utils import int8_for_inference

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, num_labels=3)
    model = BertForSequenceClassification(config).eval()
    q = int8_for_inference(model, native_cpu_bf16=False)
    kept = [i for i, layer in enumerate(q.bert.encoder.layer) if type(layer.output.dense) is torch.nn.Linear]
    assert kept == [1, 2]
    q = int8_for_inference(model, native_cpu_bf16=True)
    kept = [i for i, layer in enumerate(q.bert.encoder.layer) if type(layer.output.dense).__name__ == "Bf16Linear"]
    assert kept == [1, 2]
    assert all(isinstance(layer.attention.self.query, DynamicInt8Linear) for layer in q.bert.encoder.layer)


def test_allocator_tuning_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes

    from classify.models import transformer_utils as tu

    def no_libc(*_: object, **__: object) -> None:
        raise OSError("no libc here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert tu.tune_allocator() is False


def test_missing_pretrained_model_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSIFY_MODELS_DIR", str(tmp_path))
    X, y = training_frame()
    with pytest.raises(ModelNotFoundError, match="classify models pull m3e-small"):
        BertMeasureClassifier(pretrained="m3e-small", progress=False).fit(X, y)


@pytest.mark.slow
def test_unfitted_and_bad_input(tiny_bert: Path) -> None:
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), progress=False)
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(pd.DataFrame({"text": ["x"]}))
    with pytest.raises(ValueError, match="'text'"):
        clf.fit(pd.DataFrame({"body": ["a", "b"]}), ["finance", "personnel"])
    # a heading model given text alone (a served request without 'heading') reads an empty context
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), input_text="heading+measure", **fast_params(epochs=1))
    clf.fit(pd.DataFrame({"text": ["加强专项资金使用监管", "严格执行干部选拔任用工作条例"]}), ["finance", "personnel"])
    assert np.isfinite(clf.predict_proba(pd.DataFrame({"text": ["规范干部档案管理"]}))).all()


@pytest.mark.slow
def test_logged_to_mlflow_reloads_in_fresh_process(fitted: BertMeasureClassifier, tmp_path: Path) -> None:
    """The pyfunc model logged by training reproduces the in-memory probabilities in a new process."""
    import mlflow

    from classify.models.trained import TrainedModel
    from classify.tracking.pyfunc import log_pyfunc_model

    X, _ = training_frame()
    X = X.head(6)
    trained = TrainedModel(fitted, temperature=1.3)
    expected = trained.predict_frame(X)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("bert-roundtrip", artifact_location=(tmp_path / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=exp):
        info = log_pyfunc_model(trained, X)
    code = (
        "import json, sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        "X = pd.DataFrame(json.loads(sys.stdin.read()))\n"
        f"out = mlflow.pyfunc.load_model({info.model_uri!r}).predict(X)\n"
        "print(out.to_json(orient='split', double_precision=15))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=X.to_json(orient="records"), capture_output=True,
                          text=True, timeout=180, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = pd.read_json(__import__("io").StringIO(proc.stdout.strip().splitlines()[-1]), orient="split")
    assert got["label"].tolist() == expected["label"].tolist()
    prob_cols = [f"prob_{lab}" for lab in LABELS]
    np.testing.assert_allclose(got[prob_cols].to_numpy(), expected[prob_cols].to_numpy(), atol=1e-5)


# --- the recipe's options: contrastive pre-step, layer-wise learning rates, codebook anchors ------------------

def test_row_weighted_loss_is_the_class_weighted_mean_with_unit_rows() -> None:
    from classify.models.bert import _row_weighted_loss

    torch.manual_seed(0)
    logits, target = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 1, 1])
    class_weight = torch.tensor([0.5, 1.0, 2.0, 3.0])
    loss = _row_weighted_loss(class_weight, torch.ones(10))
    expected = torch.nn.CrossEntropyLoss(weight=class_weight)(logits, target)
    torch.testing.assert_close(loss(logits, target, np.arange(6)), expected)
    doubled = _row_weighted_loss(None, torch.tensor([1.0, 2.0]))  # a row of weight 2 counts as two rows
    torch.testing.assert_close(doubled(logits[:2], target[:2], np.array([0, 1])),
                               torch.nn.functional.cross_entropy(logits[[0, 1, 1]], target[[0, 1, 1]]))


@pytest.mark.slow
def test_contrastive_pre_step_tunes_the_body_seeded_and_saved(tiny_bert: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    X, y = training_frame()
    params = fast_params(epochs=2, freeze_layers=1, contrastive_pairs=4, contrastive_epochs=2,
                         contrastive_batch_size=8, contrastive_learning_rate=1e-3)
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), **params).fit(X, y)
    assert len(clf.contrastive_loss_history_) == 2 * 5 and len(clf.loss_history_) == 2 * 5
    again = BertMeasureClassifier(pretrained=str(tiny_bert), **params).fit(X, y)
    np.testing.assert_allclose(again.contrastive_loss_history_, clf.contrastive_loss_history_, rtol=1e-6)
    np.testing.assert_allclose(again.loss_history_, clf.loss_history_, rtol=1e-6)
    plain = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(epochs=2, freeze_layers=1)).fit(X, y)
    assert plain.contrastive_loss_history_ == [] and not np.allclose(plain.loss_history_, clf.loss_history_)

    pretrained, tuned = AutoModel.from_pretrained(str(tiny_bert)).state_dict(), clf.model_.bert.state_dict()
    torch.testing.assert_close(tuned["encoder.layer.0.attention.self.query.weight"],
                               pretrained["encoder.layer.0.attention.self.query.weight"])  # frozen in both steps
    assert all(not p.requires_grad for p in clf.model_.bert.embeddings.parameters())  # as the fine-tune left it

    clf.save(tmp_path / "pre")
    loaded = BertMeasureClassifier.load(tmp_path / "pre")
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_allclose(loaded.contrastive_loss_history_, clf.contrastive_loss_history_)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)


@pytest.mark.slow
def test_contrastive_pre_step_on_the_whole_body_without_cache(tiny_bert: Path) -> None:
    X, y = training_frame()
    clf = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(
        epochs=1, contrastive_pairs=2, contrastive_batch_size=16, contrastive_learning_rate=1e-3)).fit(X, y)
    assert len(clf.contrastive_loss_history_) == 3 and np.isfinite(clf.contrastive_loss_history_).all()
    assert all(p.requires_grad for p in clf.model_.parameters())


@pytest.mark.slow
def test_layer_wise_learning_rate_decay_and_anchors_learn(tiny_bert: Path) -> None:
    from classify.labels import load_scheme

    X, y = training_frame()
    decayed = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(layer_lr_decay=0.8)).fit(X, y)
    assert (decayed.predict(X) == np.array(y)).mean() >= 0.8
    anchored = BertMeasureClassifier(pretrained=str(tiny_bert), **fast_params(
        epochs=2, codebook_anchors=True, anchor_weight=2.0, input_text="heading+measure")).fit(X, y)
    anchors = [a for a in load_scheme("codebook").anchor_records() if a["label"] in set(y)]
    assert anchors and len(anchored.loss_history_) == 2 * int(np.ceil((len(X) + len(anchors)) / 8))
    assert np.isfinite(anchored.predict_proba(X)).all()
