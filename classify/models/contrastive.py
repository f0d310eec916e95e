"""Contrastive tuning of a transformer body before a classifier is fitted on it: SetFit's method.

Pairs of training rows, same label = positive (target cosine 1), different label = negative (target 0),
a cosine-similarity loss (the mean squared error between the pair's cosine similarity of mean-pooled
embeddings and its target), a few pairs per row, one or a few epochs. The encoder family tunes its body
with it before the logistic head is fitted; the BERT family can run it as a pre-step before fine-tuning.

One thing differs from the ``setfit`` library's sampler, for speed on a CPU: a row's partners are drawn
among the rows of its own batch (half positives, half negatives, as far as the batch has them), so each
text is embedded once per step however many pairs it is in, and an epoch costs one forward and backward
pass per training row, whatever the number of pairs. ``setfit``'s Trainer is not used: it trains a
``SentenceTransformer`` through the Hugging Face Trainer (checkpoints and an MLflow callback that writes
into the caller's active run, a second copy of the body to keep in step with ours), and it cannot use the
frozen-layer cache or the project's bf16 rule; the method itself is these few lines.

torch is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import numpy as np

from classify.models import transformer_utils as tu


def batch_pairs(labels: np.ndarray, pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row of a batch (``labels`` of its members), ``pairs`` partners from the same batch: half (rounded
    up) with the same label, the rest with another, topped up from the other kind where one runs short.
    Returns positions (left, right) in the batch and the target cosine (1.0 same label, 0.0 not)."""
    labels = np.asarray(labels)
    n = len(labels)
    left: list[int] = []
    right: list[int] = []
    target: list[float] = []
    positions = np.arange(n)
    for a in range(n):
        same = positions[(labels == labels[a]) & (positions != a)]
        other = positions[labels != labels[a]]
        n_pos = min(len(same), (pairs + 1) // 2)
        n_neg = min(len(other), pairs - n_pos)
        n_pos = min(len(same), pairs - n_neg)
        for partners, value in ((rng.choice(same, n_pos, replace=False), 1.0),
                                (rng.choice(other, n_neg, replace=False), 0.0)):
            left.extend([a] * len(partners))
            right.extend(int(b) for b in partners)
            target.extend([value] * len(partners))
    return np.array(left, dtype=np.int64), np.array(right, dtype=np.int64), np.array(target, dtype=np.float32)


def mean_pooled(hidden: Any, attention_mask: Any) -> Any:
    """Unit-length mean of the hidden states over the real tokens."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=-1)


def tune(model: Any, tokenizer: Any, features: list[dict[str, list[int]]], labels: Any, *, pairs: int,
         epochs: int = 1, learning_rate: float = 2e-5, batch_size: int = 32, freeze_layers: int = 0,
         frozen: list[Any] | None = None, weight_decay: float = 0.01, warmup_ratio: float = 0.1,
         seed: int = 0, device: str = "cpu", dtype: str | None = None, progress: bool = False) -> list[float]:
    """Tune the body of ``model`` (a body such as ``BertModel``, or a model with a head, whose head is left
    alone) in place on tokenised rows ``features`` with their ``labels``; returns the loss per step.

    ``freeze_layers`` keeps the embeddings and that many lower layers as they are; ``frozen`` are their output
    states for ``features`` (:func:`classify.models.transformer_utils.frozen_states`), computed here when
    not given, so the steps run only the layers that learn. Deterministic for a ``seed`` (it seeds torch).
    The parameters' ``requires_grad`` and the body's train/eval mode are as before afterwards."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    base = tu.body(model)
    targets = np.asarray([str(v) for v in labels])
    if len(targets) != len(features):
        raise ValueError(f"{len(features)} rows but {len(targets)} labels")
    torch.manual_seed(seed)  # dropout masks
    rng = np.random.default_rng([seed, 7])  # batches and partners; apart from any stream of the caller
    lengths = np.array([len(f["input_ids"]) for f in features])
    was_training = base.training
    trainable = {name: p.requires_grad for name, p in base.named_parameters()}
    if freeze_layers:
        for param in base.embeddings.parameters():
            param.requires_grad = False
        for layer in base.encoder.layer[:freeze_layers]:
            for param in layer.parameters():
                param.requires_grad = False
        if frozen is None:
            frozen = tu.frozen_states(base, tokenizer, features, lengths, freeze_layers, batch_size, device, dtype)
    else:
        frozen = None
    params = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(tu.parameter_groups(base, learning_rate, weight_decay), lr=learning_rate)
    steps_per_epoch = len(tu.length_batches(lengths, batch_size, None))
    total = steps_per_epoch * epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, round(warmup_ratio * total), total)
    history: list[float] = []
    upper = (contextlib.nullcontext() if frozen is None
             else tu.only_layers(base, slice(freeze_layers, None), given_hidden_states=True))
    base.train()
    try:
        with upper, tqdm(total=total, disable=not progress, unit="step", dynamic_ncols=True) as bar:
            for epoch in range(epochs):
                bar.set_description(f"contrastive {epoch + 1}/{epochs}")
                for chunk in tu.length_batches(lengths, batch_size, rng):
                    left, right, goal = batch_pairs(targets[chunk], pairs, rng)
                    if len(left) == 0:  # a batch of one row
                        bar.update()
                        continue
                    if frozen is None:
                        batch = tu.collate(tokenizer, [features[i] for i in chunk], device)
                    else:
                        batch = tu.padded_states([frozen[i] for i in chunk], device)
                    with tu.autocast(device, dtype):
                        hidden = base(**batch).last_hidden_state
                    emb = mean_pooled(hidden.float(), batch["attention_mask"])
                    cosine = (emb[torch.from_numpy(left)] * emb[torch.from_numpy(right)]).sum(-1)
                    loss = torch.nn.functional.mse_loss(cosine, torch.from_numpy(goal).to(cosine.device))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    scheduler.step()
                    history.append(float(loss.detach()))
                    bar.set_postfix(loss=f"{np.mean(history[-steps_per_epoch:]):.4f}")
                    bar.update()
    finally:
        for name, param in base.named_parameters():
            param.requires_grad = trainable[name]
        base.train(was_training)
    return history


def weights_digest(model: Any) -> str:
    """A short hash of a model's weights (names, dtypes, shapes and values): two models with the same digest
    embed alike, so it can key cached embeddings of a tuned body."""
    import torch

    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.view(torch.int16)
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]
