"""Fine-tuned BERT classifier for rectification measures, with a scikit-learn style API.

The encoder is any Chinese BERT that ``transformers`` can load: by default the offline
``m3e-small`` pulled with ``classify models pull m3e-small`` (see :mod:`classify.pretrained`),
or a local directory, or a hub id where a hub is reachable. A fresh classification head is
trained on top with a plain PyTorch loop, kept small and CPU-friendly: dynamic padding,
batches grouped by token length, and class-weighted cross-entropy for the unbalanced labels.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tokenizers import Tokenizer
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    get_linear_schedule_with_warmup,
)
from transformers.utils import logging as hf_logging

from classify.pretrained import resolve_model_path

__all__ = ["BertMeasureClassifier"]

STATE_FILE = "classify_bert.json"
_FORMAT = "classify-bert"
_FORMAT_VERSION = 1


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and its weight-loading/writing progress bars.

    The report always lists the new classifier head as MISSING, which is expected for
    fine-tuning; :func:`_check_loading_info` warns about anything that is not.
    """
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _check_loading_info(info: dict[str, Any], source: str, new_head: bool) -> None:
    missing = sorted(k for k in info.get("missing_keys", ()) if not (new_head and k.startswith("classifier.")))
    if missing and not new_head:
        # A saved fine-tuned model must load completely, or its predictions would be random.
        raise ValueError(f"{source} lacks {len(missing)} weights of the classifier, e.g. {missing[0]}")
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        warnings.warn(
            f"{len(missing)} encoder weights were not in {source} and are randomly initialised: {shown}",
            stacklevel=3,
        )


def _cpu_count() -> int:
    # sched_getaffinity honours CPU pinning (containers, CI); cpu_count reports the whole host.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class BertMeasureClassifier:
    """Fine-tune a (Chinese) BERT encoder to label measures; ``fit``/``predict`` like scikit-learn.

    ``X`` is a DataFrame with a ``text`` column and, for ``use_heading=True``, a ``heading``
    column (the heading path); the heading then goes in as the first segment of a text pair.
    """

    def __init__(
        self,
        model: str = "m3e-small",
        max_length: int = 256,
        batch_size: int = 16,
        epochs: int = 5,
        learning_rate: float = 5e-5,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.01,
        class_weight: str | None = "balanced",
        use_heading: bool = False,
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.use_heading = use_heading
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.progress = progress

    # -- scikit-learn conventions -------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as scikit-learn's ``clone`` and grid search expect."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BertMeasureClassifier:
        """Set constructor parameters; unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults.get(k)]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- setup helpers ---------------------------------------------------------------------------

    def _setup_runtime(self) -> torch.device:
        torch.set_num_threads(self.num_threads or _cpu_count())
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _seed_everything(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)  # also seeds CUDA; fixes head init and dropout masks

    def _effective_max_length(self) -> int:
        limit = int(self.max_length)
        positions = getattr(self.model_.config, "max_position_embeddings", None)
        if positions:
            # Longer inputs would index past the position embeddings (the test model has 128).
            limit = min(limit, int(positions))
        tok_max = getattr(self.tokenizer_, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:  # huge sentinel means "unset"
            limit = min(limit, tok_max)
        needed = self.tokenizer_.num_special_tokens_to_add(pair=self.use_heading) + 1
        if limit < needed:
            raise ValueError(f"max_length={self.max_length} leaves no room for text (need at least {needed})")
        return limit

    # -- input encoding --------------------------------------------------------------------------

    @staticmethod
    def _column(X: pd.DataFrame, name: str) -> list[str]:
        return ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in X[name].tolist()]

    def _check_X(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with a 'text' column, not {type(X).__name__}")
        if "text" not in X.columns:
            raise ValueError("X has no 'text' column")
        if self.use_heading and "heading" not in X.columns:
            raise ValueError("use_heading=True but X has no 'heading' column")
        return X

    def _encode(self, X: pd.DataFrame) -> list[dict[str, list[int]]]:
        """Token ids per row, truncated to the effective max length, unpadded."""
        texts = self._column(X, "text")
        max_length = self._effective_max_length()
        if not self.use_heading:
            enc = self.tokenizer_(texts, truncation=True, max_length=max_length)
            keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
            return [{k: enc[k][i] for k in keys} for i in range(len(texts))]

        # Pair (heading, text): the heading gives way first and the measure text is only cut
        # when it alone overflows. The tokenizer's "only_first" strategy raises instead when the
        # heading is too short to absorb the overflow, so truncate by hand on a private copy of
        # the fast tokenizer (no truncation/padding state shared with the wrapper).
        backend = Tokenizer.from_str(self.tokenizer_.backend_tokenizer.to_str())
        backend.no_truncation()
        backend.no_padding()
        budget = max_length - backend.num_special_tokens_to_add(is_pair=True)
        heads = backend.encode_batch(self._column(X, "heading"), add_special_tokens=False)
        bodies = backend.encode_batch(texts, add_special_tokens=False)
        out = []
        for head, body in zip(heads, bodies, strict=True):
            keep_body = min(len(body.ids), budget)
            body.truncate(keep_body)
            head.truncate(min(len(head.ids), budget - keep_body))
            pair = backend.post_process(head, body, add_special_tokens=True)
            out.append({"input_ids": pair.ids, "token_type_ids": pair.type_ids,
                        "attention_mask": pair.attention_mask})
        return out

    def _collate(self, features: list[dict[str, list[int]]], device: torch.device) -> dict[str, torch.Tensor]:
        # Dynamic padding: each batch is padded only to its own longest member.
        batch = self.tokenizer_.pad(features, padding=True, return_tensors="pt")
        return {k: v.to(device) for k, v in batch.items()}

    def _length_batches(self, lengths: np.ndarray, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Index batches of similar token length; with ``rng``, ties and batch order are shuffled."""
        if rng is None:
            order = np.argsort(lengths, kind="stable")
        else:
            perm = rng.permutation(len(lengths))
            order = perm[np.argsort(lengths[perm], kind="stable")]
        chunks = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if rng is not None:
            rng.shuffle(chunks)  # length grouping without feeding short-to-long every epoch
        return chunks

    # -- model loading ---------------------------------------------------------------------------

    def _load_pretrained(
        self, path: str, classes: Sequence[str], local: bool, device: torch.device, new_head: bool
    ) -> None:
        id2label = dict(enumerate(classes))
        label2id = {label: i for i, label in id2label.items()}
        with _quiet_transformers():
            self.tokenizer_ = AutoTokenizer.from_pretrained(path, local_files_only=local)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path,
                num_labels=len(classes),
                id2label=id2label,
                label2id=label2id,
                problem_type="single_label_classification",
                local_files_only=local,
                dtype=torch.float32,  # transformers 5 name (was torch_dtype); train in fp32 on CPU
                output_loading_info=True,
            )
        _check_loading_info(info, path, new_head)
        self.model_: PreTrainedModel = model.to(device)

    # -- public API ------------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: Sequence[str]) -> BertMeasureClassifier:
        """Fine-tune encoder and a new head on measures ``X`` with labels ``y``."""
        X = self._check_X(X)
        labels = [str(v) for v in y]
        if len(labels) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(labels)} labels")
        classes = np.array(sorted(set(labels)))
        if len(classes) < 2:
            raise ValueError("fit needs at least two distinct labels")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be 'balanced' or None, not {self.class_weight!r}")

        device = self._setup_runtime()
        self._seed_everything()
        path = resolve_model_path(self.model)
        self.classes_ = classes
        self.model_path_ = path
        self._load_pretrained(path, list(classes), local=os.path.isdir(path), device=device, new_head=True)
        self.device_ = device

        features = self._encode(X)
        lengths = np.array([len(f["input_ids"]) for f in features])
        index = {label: i for i, label in enumerate(classes)}
        targets = torch.tensor([index[label] for label in labels], dtype=torch.long)

        weight = None
        if self.class_weight == "balanced":
            # scikit-learn's formula: n_samples / (n_classes * count_c)
            counts = np.bincount(targets.numpy(), minlength=len(classes))
            weight = torch.tensor(len(labels) / (len(classes) * counts), dtype=torch.float32, device=device)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)

        # Standard BERT recipe: no weight decay on biases and LayerNorm weights.
        decay, no_decay = [], []
        for name, param in self.model_.named_parameters():
            if param.requires_grad:
                (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.learning_rate,
        )
        steps_per_epoch = math.ceil(len(features) / self.batch_size)
        total_steps = steps_per_epoch * self.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, round(self.warmup_ratio * total_steps), total_steps)

        rng = np.random.default_rng(self.seed)
        self.loss_history_: list[float] = []
        self.model_.train()
        with tqdm(total=total_steps, disable=not self.progress, unit="step", dynamic_ncols=True) as bar:
            for epoch in range(self.epochs):
                bar.set_description(f"epoch {epoch + 1}/{self.epochs}")
                epoch_loss = 0.0
                for step, chunk in enumerate(self._length_batches(lengths, rng), start=1):
                    batch = self._collate([features[i] for i in chunk], device)
                    logits = self.model_(**batch).logits
                    loss = loss_fn(logits.float(), targets[chunk].to(device))
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
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet; call fit or load first")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes_))``, columns in ``classes_`` order."""
        self._check_fitted()
        X = self._check_X(X)
        probs = np.zeros((len(X), len(self.classes_)), dtype=np.float64)
        if len(X) == 0:
            return probs
        torch.set_num_threads(self.num_threads or _cpu_count())
        features = self._encode(X)
        lengths = np.array([len(f["input_ids"]) for f in features])
        self.model_.eval()
        # Sorted by length so padding stays small; deterministic order keeps results reproducible.
        with torch.inference_mode():
            for chunk in self._length_batches(lengths, None):
                batch = self._collate([features[i] for i in chunk], self.device_)
                logits = self.model_(**batch).logits
                probs[chunk] = torch.softmax(logits.double(), dim=-1).cpu().numpy()
        return probs

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Most probable label per row (strings from ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def save(self, directory: str | Path) -> None:
        """Write weights (safetensors), tokenizer files and ``classify_bert.json`` to ``directory``."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with _quiet_transformers():
            # transformers 5 always writes safetensors (the safe_serialization flag is gone).
            self.model_.save_pretrained(directory)
            self.tokenizer_.save_pretrained(directory)
        import transformers

        state = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "classes": [str(c) for c in self.classes_],
            "params": self.get_params(),
            "base_model_path": self.model_path_,
            "loss_history": self.loss_history_,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> BertMeasureClassifier:
        """Load a classifier written by :meth:`save`; reads local files only, never the network."""
        directory = Path(directory)
        state_path = directory / STATE_FILE
        if not state_path.is_file():
            raise FileNotFoundError(f"{state_path} not found: not a saved {cls.__name__}")
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state.get("format") != _FORMAT or state.get("format_version", 0) > _FORMAT_VERSION:
            raise ValueError(f"{state_path} is not a supported {_FORMAT} file")
        known = set(cls._param_names())
        est = cls(**{k: v for k, v in state.get("params", {}).items() if k in known})
        est.classes_ = np.array(state["classes"])
        est.model_path_ = state.get("base_model_path", str(directory))
        est.loss_history_ = list(state.get("loss_history", []))
        device = est._setup_runtime()
        est._load_pretrained(str(directory), list(est.classes_), local=True, device=device, new_head=False)
        est.device_ = device
        saved = [est.model_.config.id2label[i] for i in range(len(est.classes_))]
        if saved != list(est.classes_):
            raise ValueError(f"label map in {directory} does not match {STATE_FILE}: {saved}")
        est.model_.eval()
        return est
