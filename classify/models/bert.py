"""Fine-tuned BERT family: any Chinese BERT that transformers loads, with a new classification head.

By default the offline ``m3e-small`` (``classify models pull m3e-small``), else a local folder or a
hub name. A plain PyTorch loop, small and CPU-friendly: tokenised once per fit, dynamic padding,
batches grouped by token length, class-weighted cross-entropy for the unbalanced labels, and
optionally the lower encoder layers frozen. Frozen layers are the same function in every epoch, so by
default their output is computed once per fit and the steps run only the layers that learn. Training
runs under bf16 autocast where the hardware multiplies bf16 (``precision: auto``; fp32 weights and
optimiser); prediction stays fp32 or int8 on the CPU.

Options, all off by default: a contrastive pre-step on the body (``contrastive_pairs`` > 0: SetFit's
method, :mod:`classify.models.contrastive`, on the same inputs and frozen layers as the fine-tune, whose
cached states it shares), layer-wise learning-rate decay (``layer_lr_decay`` < 1), and the codebook's
decided cases as extra training rows (``codebook_anchors``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from classify.inputs import InputText, context_texts, measure_texts
from classify.models import transformer_utils as tu
from classify.models.base import MeasureClassifier


def _row_weighted_loss(class_weight: Any, row_weight: Any) -> Any:
    """Cross-entropy with class weights and a weight per training row (``chunk`` picks the batch's rows), the
    weighted mean as ``torch.nn.CrossEntropyLoss`` takes it."""
    import torch

    def loss(logits: Any, target: Any, chunk: Any) -> Any:
        each = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        w = row_weight[torch.as_tensor(chunk, device=row_weight.device)]
        if class_weight is not None:
            w = w * class_weight[target]
        return (each * w).sum() / w.sum()

    return loss


class BertMeasureClassifier(MeasureClassifier):
    """Fine-tune a (Chinese) BERT encoder and a new head; a context in ``input_text`` is the first segment of a pair."""

    family = "bert"
    config_exclude = (*MeasureClassifier.config_exclude, "num_threads")
    fit_progress = True  # a fine-tune takes minutes: steps and loss are worth watching
    domain_similarity = False  # embed is a second forward pass: the text tests of the domain check only
    pip_requirements = ("torch", "transformers", "safetensors")

    @classmethod
    def pretrained_sources(cls, params) -> list[str]:
        return [params["pretrained"]] if params.get("pretrained") else []

    def __init__(
        self,
        pretrained: str = "m3e-small",
        max_length: Annotated[int, Field(ge=8, le=512)] = 256,
        batch_size: Annotated[int, Field(ge=1)] = 16,
        epochs: Annotated[int, Field(ge=1)] = 8,
        learning_rate: Annotated[float, Field(gt=0)] = 1e-4,
        warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1,
        weight_decay: Annotated[float, Field(ge=0)] = 0.01,
        class_weight: Literal["balanced"] | None = "balanced",
        freeze_layers: Annotated[int, Field(ge=0)] = 0,
        frozen_cache: bool = True,
        quantize: Literal["none", "int8"] = "none",
        device: Literal["auto", "cpu", "cuda"] = "auto",
        precision: Literal["auto", "fp32", "bf16"] = "auto",
        # each layer's learning rate is the one above it times this (1: one rate for all)
        layer_lr_decay: Annotated[float, Field(gt=0, le=1)] = 1.0,
        # the codebook's decided cases and topic lists as extra training rows, each weighted anchor_weight
        codebook_anchors: bool = False,
        anchor_weight: Annotated[float, Field(gt=0)] = 1.0,
        # contrastive pre-step on the body before fine-tuning (SetFit's method); 0 pairs = none
        contrastive_pairs: Annotated[int, Field(ge=0)] = 0,
        contrastive_epochs: Annotated[int, Field(ge=1)] = 1,
        contrastive_learning_rate: Annotated[float, Field(gt=0)] = 2e-5,
        contrastive_batch_size: Annotated[int, Field(ge=2)] = 32,
        input_text: InputText = "measure",
        seed: int = 0,
        num_threads: int | None = None,
        progress: bool = True,
        label_scheme: str = "codebook",
    ) -> None:
        self.pretrained = pretrained
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.freeze_layers = freeze_layers
        self.frozen_cache = frozen_cache
        self.quantize = quantize
        self.device = device
        self.precision = precision
        self.layer_lr_decay = layer_lr_decay
        self.codebook_anchors = codebook_anchors
        self.anchor_weight = anchor_weight
        self.contrastive_pairs = contrastive_pairs
        self.contrastive_epochs = contrastive_epochs
        self.contrastive_learning_rate = contrastive_learning_rate
        self.contrastive_batch_size = contrastive_batch_size
        self.input_text = input_text
        self.seed = seed
        self.num_threads = num_threads
        self.progress = progress
        self.label_scheme = label_scheme

    # -- setup -----------------------------------------------------------------------------------

    def _runtime(self) -> str:
        import torch

        torch.set_num_threads(self.num_threads or tu.cpu_count())
        tu.tune_allocator()
        self.device_, self.autocast_dtype_ = tu.select_device(self.device)
        self.train_dtype_ = tu.autocast_dtype(self.device_, self.precision)
        return self.device_

    def _load(self, path: str, classes: list[str], local: bool, new_head: bool) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        id2label = dict(enumerate(classes))
        with tu.quiet_transformers():
            self.tokenizer_ = AutoTokenizer.from_pretrained(path, local_files_only=local)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(classes), id2label=id2label, label2id={v: k for k, v in id2label.items()},
                problem_type="single_label_classification", local_files_only=local,
                dtype=torch.float32, output_loading_info=True,  # transformers 5 name (was torch_dtype)
            )
        tu.check_loading_info(info, path, new_head)
        self.model_ = model.to(self.device_)

    def _features(self, X: Any) -> list[dict[str, list[int]]]:
        X = self._inputs(X)
        context = context_texts(X, self.input_text)
        limit = tu.effective_max_length(self.tokenizer_, self.model_.config, self.max_length, context is not None)
        return tu.encode(self.tokenizer_, measure_texts(X), context, limit)

    def _freeze(self) -> None:
        if not self.freeze_layers:
            return
        base = getattr(self.model_, self.model_.base_model_prefix)
        for param in base.embeddings.parameters():
            param.requires_grad = False
        for layer in base.encoder.layer[: self.freeze_layers]:
            for param in layer.parameters():
                param.requires_grad = False

    # -- fit / predict ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> BertMeasureClassifier:
        import torch
        from tqdm.auto import tqdm
        from transformers import get_linear_schedule_with_warmup

        from classify.pretrained import resolve_model_path

        labels = [str(v) for v in y]
        X = self._inputs(X)
        if len(labels) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(labels)} labels")
        classes = np.array(sorted(set(labels)))
        if len(classes) < 2:
            raise ValueError("fit needs at least two distinct labels")
        device = self._runtime()
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)  # also seeds CUDA; fixes head init and dropout masks
        path = resolve_model_path(self.pretrained)
        self.classes_ = classes
        self.base_model_path_ = path
        self._load(path, list(classes), local=os.path.isdir(path), new_head=True)
        self._freeze()

        row_weight = None
        if self.codebook_anchors:
            import pandas as pd

            from classify.labels import load_scheme

            anchors = [a for a in load_scheme(self.label_scheme).anchor_records() if a["label"] in set(classes)]
            X = pd.concat([X, self._inputs(anchors)], ignore_index=True)
            row_weight = np.concatenate([np.ones(len(labels)), np.full(len(anchors), self.anchor_weight)])
            labels = labels + [a["label"] for a in anchors]
        features = self._features(X)  # tokenised once for all epochs
        lengths = np.array([len(f["input_ids"]) for f in features])
        index = {label: i for i, label in enumerate(classes)}
        targets = torch.tensor([index[label] for label in labels], dtype=torch.long)
        weight = None
        if self.class_weight == "balanced":
            counts = np.bincount(targets.numpy(), minlength=len(classes))  # scikit-learn's formula
            weight = torch.tensor(len(labels) / (len(classes) * counts), dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        if row_weight is not None:
            loss_fn = _row_weighted_loss(weight, torch.tensor(row_weight, dtype=torch.float32, device=device))

        cached = self._frozen_states(features, lengths) if self.freeze_layers and self.frozen_cache else None
        self.contrastive_loss_history_: list[float] = []
        if self.contrastive_pairs:
            from classify.models import contrastive

            # the same inputs and frozen layers as the fine-tune, so the cached states serve both
            self.contrastive_loss_history_ = contrastive.tune(
                self.model_, self.tokenizer_, features, targets.numpy(), pairs=self.contrastive_pairs,
                epochs=self.contrastive_epochs, learning_rate=self.contrastive_learning_rate,
                batch_size=self.contrastive_batch_size, freeze_layers=self.freeze_layers, frozen=cached,
                weight_decay=self.weight_decay, seed=self.seed, device=device, dtype=self.train_dtype_,
                progress=self.progress)
        optimizer = torch.optim.AdamW(tu.parameter_groups(self.model_, self.learning_rate, self.weight_decay,
                                                          self.layer_lr_decay), lr=self.learning_rate)
        total_steps = math.ceil(len(features) / self.batch_size) * self.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, round(self.warmup_ratio * total_steps), total_steps)
        rng = np.random.default_rng(self.seed)
        self.loss_history_: list[float] = []
        self.model_.train()
        upper = (contextlib.nullcontext() if cached is None
                 else tu.only_layers(self.model_, slice(self.freeze_layers, None), given_hidden_states=True))
        with upper, tqdm(total=total_steps, disable=not self.progress, unit="step", dynamic_ncols=True) as bar:
            for epoch in range(self.epochs):
                bar.set_description(f"epoch {epoch + 1}/{self.epochs}")
                epoch_loss = 0.0
                for step, chunk in enumerate(tu.length_batches(lengths, self.batch_size, rng), start=1):
                    if cached is None:
                        batch = tu.collate(self.tokenizer_, [features[i] for i in chunk], device)
                    else:
                        batch = tu.padded_states([cached[i] for i in chunk], device)
                    with tu.autocast(device, self.train_dtype_):
                        logits = self.model_(**batch).logits
                    loss = loss_fn(logits.float(), targets[chunk].to(device), chunk) if row_weight is not None \
                        else loss_fn(logits.float(), targets[chunk].to(device))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    value = float(loss.detach())
                    self.loss_history_.append(value)
                    epoch_loss += value
                    bar.set_postfix(loss=f"{epoch_loss / step:.4f}")
                    bar.update()
        self.model_.eval()
        self._prepare_inference()
        return self

    def _frozen_states(self, features: list[dict[str, list[int]]], lengths: np.ndarray) -> list[Any]:
        """Hidden states after the embeddings and the frozen layers, one unpadded tensor per row (run once,
        without dropout, as at inference)."""
        return tu.frozen_states(self.model_, self.tokenizer_, features, lengths, self.freeze_layers,
                                self.batch_size, self.device_, self.train_dtype_)

    def _prepare_inference(self) -> None:
        """The model predictions run on: int8 weights (``tu.int8_for_inference``) when asked for (CPU only)."""
        self.inference_model_ = self.model_
        if self.quantize == "int8" and self.device_ == "cpu":
            self.inference_model_ = tu.int8_for_inference(self.model_)

    def set_quantize(self, quantize: Literal["none", "int8"]) -> BertMeasureClassifier:
        """Switch a fitted model between fp32 and int8 inference; the fp32 weights stay, int8 is rebuilt from them."""
        self._check_fitted()
        self.quantize = quantize
        self._prepare_inference()
        return self

    def _forward(self, X: Any, output: str) -> np.ndarray:
        import torch

        self._check_fitted()
        torch.set_num_threads(self.num_threads or tu.cpu_count())
        X = self._inputs(X)
        width = len(self.classes_) if output == "proba" else self.model_.config.hidden_size
        out = np.zeros((len(X), width), dtype=np.float64)
        if len(X) == 0:
            return out
        features = self._features(X)
        lengths = np.array([len(f["input_ids"]) for f in features])
        model = getattr(self, "inference_model_", self.model_)
        model.eval()
        with torch.inference_mode():
            # Sorted by length so padding stays small; a fixed order keeps results reproducible.
            for chunk in tu.length_batches(lengths, max(self.batch_size, 32), None):
                batch = tu.collate(self.tokenizer_, [features[i] for i in chunk], self.device_)
                with tu.autocast(self.device_, self.autocast_dtype_):
                    result = model(**batch, output_hidden_states=output == "embed")
                if output == "proba":
                    out[chunk] = torch.softmax(result.logits.double(), dim=-1).cpu().numpy()
                else:
                    hidden = result.hidden_states[-1].double()
                    mask = batch["attention_mask"].unsqueeze(-1).double()
                    pooled = (hidden * mask).sum(1) / mask.sum(1)
                    out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._forward(X, "proba")

    def embed(self, X: Any) -> np.ndarray:
        """Mean-pooled last hidden states of the fine-tuned encoder, unit length."""
        return self._forward(X, "embed")

    # -- saving ----------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> None:
        import torch
        import transformers

        with tu.quiet_transformers():
            self.model_.save_pretrained(directory)  # safetensors (transformers 5 always writes them)
            self.tokenizer_.save_pretrained(directory)
        state = {"base_model_path": self.base_model_path_, "loss_history": self.loss_history_,
                 "contrastive_loss_history": getattr(self, "contrastive_loss_history_", []),
                 "train_dtype": self.train_dtype_ or "float32",
                 "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
        (directory / "bert_state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        state = json.loads((directory / "bert_state.json").read_text(encoding="utf-8"))
        self.base_model_path_ = state.get("base_model_path", str(directory))
        self.loss_history_ = list(state.get("loss_history", []))
        self.contrastive_loss_history_ = list(state.get("contrastive_loss_history", []))
        self._runtime()
        self.train_dtype_ = None if state.get("train_dtype", "float32") == "float32" else state["train_dtype"]
        self._load(str(directory), [str(c) for c in self.classes_], local=True, new_head=False)
        saved = [self.model_.config.id2label[i] for i in range(len(self.classes_))]
        if saved != list(self.classes_):
            raise ValueError(f"label map in {directory} does not match its manifest: {saved}")
        self.model_.eval()
        self._prepare_inference()
