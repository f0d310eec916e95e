"""Sentence-encoder family: a frozen encoder's mean-pooled embeddings and a linear head.

By default the offline m3e-small; otherwise any Hugging Face / sentence-transformers encoder by
hub name or local folder. Embedding is the only costly step, so within a training run
(:func:`embedding_cache`) every text is embedded once, however many folds see it. Optionally the
codebook's decided hard cases (:mod:`classify.codebook`) are added to the training rows as anchors.

With ``contrastive_pairs`` > 0 the body is first tuned on the training rows' measure texts by SetFit's
method (:mod:`classify.models.contrastive`), and the tuned body embeds measures and context and travels
with the model. Its embeddings are cached under the hash of its weights, so each fit (each fold) embeds
with its own tuned body only.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from classify.inputs import InputText, context_texts, measure_texts
from classify.models import transformer_utils as tu
from classify.models.base import MeasureClassifier

_CACHE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("classify_embedding_cache", default=None)


@contextlib.contextmanager
def embedding_cache() -> Iterator[dict]:
    """Within the block, embeddings are kept by (encoder, pooling, max length, text hash) and reused; a
    contrastively tuned encoder is named by the hash of its weights, so no other body shares its entries.

    Nested blocks share the outermost cache (an ablation runs many trainings over one cache).
    """
    outer = _CACHE.get()
    if outer is not None:
        yield outer
        return
    cache: dict = {}
    token = _CACHE.set(cache)
    try:
        yield cache
    finally:
        _CACHE.reset(token)


class EncoderMeasureClassifier(MeasureClassifier):
    """Frozen sentence encoder + logistic-regression head; a context in ``input_text`` is embedded apart
    and appended, weighted by ``context_weight``. With ``contrastive_pairs`` > 0 the encoder is first tuned
    contrastively on the training measures (``contrastive_*``: pairs per measure, epochs, learning rate,
    batch size, lower layers kept frozen, training precision)."""

    family = "encoder"
    config_exclude = (*MeasureClassifier.config_exclude, "num_threads")
    pip_requirements = ("torch", "transformers", "safetensors")

    @classmethod
    def fit_context(cls, params) -> contextlib.AbstractContextManager:
        return embedding_cache()

    @classmethod
    def pretrained_sources(cls, params) -> list[str]:
        return [params["pretrained"]] if params.get("pretrained") else []

    def predict_context(self) -> contextlib.AbstractContextManager:
        return embedding_cache()

    def __init__(
        self,
        pretrained: str = "m3e-small",
        pooling: Literal["mean", "cls"] = "mean",
        max_length: Annotated[int, Field(ge=8, le=512)] = 256,
        batch_size: Annotated[int, Field(ge=1)] = 32,
        C: Annotated[float, Field(gt=0)] = 4.0,
        class_weight: Literal["balanced"] | None = "balanced",
        context_weight: Annotated[float, Field(ge=0)] = 0.5,
        codebook_anchors: bool = False,
        anchor_weight: Annotated[float, Field(gt=0)] = 1.0,
        quantize: Literal["none", "int8"] = "none",
        # embedding on the CPU: fp32, or bf16 autocast (matrix products in bf16; auto takes it where the CPU
        # multiplies bf16 in hardware). CUDA always runs bf16 autocast.
        precision: Literal["auto", "fp32", "bf16"] = "fp32",
        device: Literal["auto", "cpu", "cuda"] = "auto",
        # contrastive tuning of the body before the head (SetFit's method); 0 pairs = a frozen encoder
        contrastive_pairs: Annotated[int, Field(ge=0)] = 0,
        contrastive_epochs: Annotated[int, Field(ge=1)] = 1,
        contrastive_learning_rate: Annotated[float, Field(gt=0)] = 2e-5,
        contrastive_batch_size: Annotated[int, Field(ge=2)] = 32,
        contrastive_freeze_layers: Annotated[int, Field(ge=0)] = 0,
        contrastive_precision: Literal["auto", "fp32", "bf16"] = "auto",
        input_text: InputText = "measure",
        seed: int = 0,
        num_threads: int | None = None,
        progress: bool = False,
        label_scheme: str = "codebook",
    ) -> None:
        self.pretrained = pretrained
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.C = C
        self.class_weight = class_weight
        self.context_weight = context_weight
        self.codebook_anchors = codebook_anchors
        self.anchor_weight = anchor_weight
        self.quantize = quantize
        self.precision = precision
        self.device = device
        self.contrastive_pairs = contrastive_pairs
        self.contrastive_epochs = contrastive_epochs
        self.contrastive_learning_rate = contrastive_learning_rate
        self.contrastive_batch_size = contrastive_batch_size
        self.contrastive_freeze_layers = contrastive_freeze_layers
        self.contrastive_precision = contrastive_precision
        self.input_text = input_text
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress
        self.label_scheme = label_scheme

    # -- the encoder -----------------------------------------------------------------------------

    def _load_encoder(self, path: str, local: bool) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        torch.set_num_threads(self.num_threads or tu.cpu_count())
        tu.tune_allocator()
        self.device_, self.autocast_dtype_ = tu.select_device(self.device)
        if self.device_ == "cpu":
            # int8 layers take fp32 input (their kept layers already run in bf16 where the CPU has it): no autocast
            self.autocast_dtype_ = None if self.quantize == "int8" else tu.autocast_dtype("cpu", self.precision)
        with tu.quiet_transformers():
            self.tokenizer_ = AutoTokenizer.from_pretrained(path, local_files_only=local)
            model = AutoModel.from_pretrained(path, local_files_only=local, dtype=torch.float32)
        model.eval()
        self.encoder_fp32_ = model.to(self.device_)
        self._prepare_inference()

    def _prepare_inference(self) -> None:
        self.encoder_ = self.encoder_fp32_
        if self.quantize == "int8" and self.device_ == "cpu":
            # int8 weights, activations quantised on the fly (the inner layers' FFN outputs in bf16 or fp32)
            self.encoder_ = tu.int8_for_inference(self.encoder_fp32_)

    def _tune(self, texts: list[str], labels: np.ndarray) -> None:
        """Contrastive tuning of the body on the training measures; the cache then knows it by its weights."""
        from classify.models import contrastive

        if self.contrastive_freeze_layers > self.encoder_fp32_.config.num_hidden_layers:
            raise ValueError(f"contrastive_freeze_layers={self.contrastive_freeze_layers} but the encoder has "
                             f"{self.encoder_fp32_.config.num_hidden_layers} layers")
        limit = tu.effective_max_length(self.tokenizer_, self.encoder_fp32_.config, self.max_length, False)
        features = tu.encode(self.tokenizer_, texts, None, limit)
        self.contrastive_loss_history_ = contrastive.tune(
            self.encoder_fp32_, self.tokenizer_, features, labels, pairs=self.contrastive_pairs,
            epochs=self.contrastive_epochs, learning_rate=self.contrastive_learning_rate,
            batch_size=self.contrastive_batch_size, freeze_layers=self.contrastive_freeze_layers, seed=self.seed,
            device=self.device_, dtype=tu.autocast_dtype(self.device_, self.contrastive_precision),
            progress=self.progress)
        self.encoder_fp32_.eval()
        self.tuned_digest_ = contrastive.weights_digest(self.encoder_fp32_)
        self.encoder_id_ = f"{self.encoder_id_}#tuned-{self.tuned_digest_}"
        self._prepare_inference()

    def _key(self, text: str) -> tuple:
        digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
        return (self.encoder_id_, self.pooling, self.max_length, self.quantize, self.autocast_dtype_, digest)

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        cache = _CACHE.get()
        out = np.zeros((len(texts), self.encoder_.config.hidden_size), dtype=np.float32)
        todo = []
        for i, text in enumerate(texts):
            hit = cache.get(self._key(text)) if cache is not None else None
            if hit is None:
                todo.append(i)
            else:
                out[i] = hit
        if not todo:
            return out
        limit = tu.effective_max_length(self.tokenizer_, self.encoder_.config, self.max_length, False)
        unique = list(dict.fromkeys(texts[i] for i in todo))
        features = tu.encode(self.tokenizer_, unique, None, limit)
        lengths = np.array([len(f["input_ids"]) for f in features])
        vectors = np.zeros((len(unique), out.shape[1]), dtype=np.float32)
        from tqdm.auto import tqdm

        batches = tu.length_batches(lengths, self.batch_size, None)
        with torch.inference_mode():
            for chunk in tqdm(batches, desc="embedding", unit="batch", disable=not self.progress or len(batches) < 4):
                batch = tu.collate(self.tokenizer_, [features[i] for i in chunk], self.device_)
                with tu.autocast(self.device_, self.autocast_dtype_):
                    hidden = self.encoder_(**batch).last_hidden_state.float()
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).float()
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                vectors[chunk] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        by_text = dict(zip(unique, vectors, strict=True))
        for i in todo:
            out[i] = by_text[texts[i]]
            if cache is not None:
                cache[self._key(texts[i])] = by_text[texts[i]]
        return out

    def _design(self, X: Any) -> np.ndarray:
        X = self._inputs(X)
        parts = [self._embed_texts(measure_texts(X))]
        context = context_texts(X, self.input_text)
        if context is not None:
            parts.append(self.context_weight * self._embed_texts(context))
        return np.hstack(parts)

    # -- fit / predict ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> EncoderMeasureClassifier:
        from sklearn.linear_model import LogisticRegression

        from classify.pretrained import resolve_model_path

        path = resolve_model_path(self.pretrained)
        self.base_model_path_ = path
        self.encoder_id_ = str(path)
        self._load_encoder(path, local=os.path.isdir(path))
        self.tuned_digest_ = None
        X = self._inputs(X)
        labels = np.asarray([str(v) for v in y])
        if self.contrastive_pairs:
            self._tune(measure_texts(X), labels)
        design = self._design(X)
        weights = np.ones(len(labels))
        if self.codebook_anchors:
            from classify.labels import load_scheme

            anchors = load_scheme(self.label_scheme).anchor_records()
            anchor_X = self._design(self._inputs(anchors))
            design = np.vstack([design, anchor_X])
            labels = np.concatenate([labels, [a["label"] for a in anchors]])
            weights = np.concatenate([weights, np.full(len(anchors), self.anchor_weight)])
        self.head_ = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=5000,
                                        random_state=self.seed)
        self.head_.fit(design, labels, sample_weight=weights)
        self.classes_ = self.head_.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = self._inputs(X)
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)))
        return self.head_.predict_proba(self._design(X))

    def embed(self, X: Any) -> np.ndarray:
        return self._embed_texts(measure_texts(self._inputs(X)))

    # -- saving ----------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        import joblib

        joblib.dump(self.head_, directory / "head.joblib")
        with tu.quiet_transformers():
            # the encoder travels with the model, so a served model needs no models/ folder
            self.encoder_fp32_.save_pretrained(directory / "encoder")
            self.tokenizer_.save_pretrained(directory / "encoder")
        state = {"base_model_path": self.base_model_path_}
        if getattr(self, "tuned_digest_", None):
            state.update(tuned_digest=self.tuned_digest_,
                         contrastive_loss_history=getattr(self, "contrastive_loss_history_", []))
        (directory / "encoder_state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        import joblib

        self.head_ = joblib.load(directory / "head.joblib")
        state = json.loads((directory / "encoder_state.json").read_text(encoding="utf-8"))
        self.base_model_path_ = state.get("base_model_path", "")
        self.tuned_digest_ = state.get("tuned_digest")
        self.contrastive_loss_history_ = list(state.get("contrastive_loss_history", []))
        self.encoder_id_ = str(directory / "encoder") + (f"#tuned-{self.tuned_digest_}" if self.tuned_digest_ else "")
        self._load_encoder(str(directory / "encoder"), local=True)
