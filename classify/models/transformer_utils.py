"""Pieces the transformer families (fine-tuned BERT, sentence encoder) share.

torch and transformers are imported inside the functions, so that importing a family module (as
the config does to learn its parameters) costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


def cpu_count() -> int:
    # sched_getaffinity honours CPU pinning (containers, CI); cpu_count reports the whole host.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def select_device(device: str, cuda_available: bool | None = None) -> tuple[str, str | None]:
    """(device, autocast dtype): ``auto`` takes CUDA with bf16 autocast when there is a GPU, else the CPU in fp32."""
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda_available else "cpu"
    if device == "cuda" and not cuda_available:
        from classify.errors import ConfigError

        raise ConfigError("model.device is 'cuda' but no CUDA device is available")
    return device, ("bfloat16" if device == "cuda" else None)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX); elsewhere torch emulates
    bf16 and autocast would be slower than fp32."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_dtype(device: str, precision: str, native_cpu_bf16: bool | None = None) -> str | None:
    """The autocast dtype for a ``precision`` setting (BERT's training steps, the encoder's embedding): ``fp32``
    none, ``bf16`` bfloat16, ``auto`` bfloat16 on CUDA and on CPUs with hardware bf16 (about twice the fp32 speed
    of a BERT layer's forward and backward there), else none. Weights (and BERT's optimiser state and loss) stay
    fp32 in every case."""
    if precision == "fp32":
        return None
    if precision == "bf16" or device == "cuda":
        return "bfloat16"
    if native_cpu_bf16 is None:
        native_cpu_bf16 = cpu_has_native_bf16()
    return "bfloat16" if native_cpu_bf16 else None


def autocast(device: str, dtype: str | None):
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=getattr(torch, dtype))


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bars (the new head is always reported MISSING)."""
    from transformers.utils import logging as hf_logging

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


def check_loading_info(info: dict[str, Any], source: str, new_head: bool) -> None:
    missing = sorted(k for k in info.get("missing_keys", ()) if not (new_head and k.startswith("classifier.")))
    if missing and not new_head:
        # A saved fine-tuned model must load completely, or its predictions would be random.
        raise ValueError(f"{source} lacks {len(missing)} weights of the classifier, e.g. {missing[0]}")
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        warnings.warn(f"{len(missing)} encoder weights were not in {source} and are randomly initialised: {shown}",
                      stacklevel=3)


def effective_max_length(tokenizer: Any, config: Any, max_length: int, pair: bool) -> int:
    limit = int(max_length)
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        limit = min(limit, int(positions))  # longer inputs would index past the position embeddings
    tok_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:  # huge sentinel means "unset"
        limit = min(limit, tok_max)
    needed = tokenizer.num_special_tokens_to_add(pair=pair) + 1
    if limit < needed:
        raise ValueError(f"max_length={max_length} leaves no room for text (need at least {needed})")
    return limit


def encode(tokenizer: Any, texts: Sequence[str], contexts: Sequence[str] | None, max_length: int
           ) -> list[dict[str, list[int]]]:
    """Token ids per row, unpadded. With ``contexts`` a (context, measure) pair in which the context gives
    way first and the measure is cut only when it alone overflows."""
    if contexts is None:
        enc = tokenizer(list(texts), truncation=True, max_length=max_length)
        keys = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
        return [{k: enc[k][i] for k in keys} for i in range(len(texts))]
    from tokenizers import Tokenizer

    # The tokenizer's "only_first" strategy raises when the context is too short to absorb the
    # overflow, so truncate by hand on a private copy of the fast tokenizer.
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    budget = max_length - backend.num_special_tokens_to_add(is_pair=True)
    heads = backend.encode_batch(list(contexts), add_special_tokens=False)
    bodies = backend.encode_batch(list(texts), add_special_tokens=False)
    out = []
    for head, body in zip(heads, bodies, strict=True):
        keep_body = min(len(body.ids), budget)
        body.truncate(keep_body)
        head.truncate(min(len(head.ids), budget - keep_body))
        pair = backend.post_process(head, body, add_special_tokens=True)
        out.append({"input_ids": pair.ids, "token_type_ids": pair.type_ids, "attention_mask": pair.attention_mask})
    return out


def length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Index batches of similar token length; with ``rng``, ties and batch order are shuffled."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        perm = rng.permutation(len(lengths))
        order = perm[np.argsort(lengths[perm], kind="stable")]
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)  # length grouping without feeding short-to-long every epoch
    return chunks


def collate(tokenizer: Any, features: list[dict[str, list[int]]], device: str) -> dict[str, Any]:
    # Dynamic padding: each batch is padded only to its own longest member.
    batch = tokenizer.pad(features, padding=True, return_tensors="pt")
    return {k: v.to(device) for k, v in batch.items()}


def body(model: Any) -> Any:
    """The encoder body of a model with a head (``model.bert``), or the model itself when it is a body."""
    return getattr(model, model.base_model_prefix, model)


def padded_states(states: list[Any], device: str) -> dict[str, Any]:
    """A batch of cached hidden states, zero-padded to its longest row, with the matching attention mask."""
    import torch

    hidden = torch.nn.utils.rnn.pad_sequence(states, batch_first=True)
    lengths = torch.tensor([len(state) for state in states])
    mask = (torch.arange(hidden.shape[1])[None, :] < lengths[:, None]).long()
    return {"inputs_embeds": hidden.to(device), "attention_mask": mask.to(device)}


def frozen_states(model: Any, tokenizer: Any, features: list[dict[str, list[int]]], lengths: np.ndarray,
                  layers: int, batch_size: int, device: str, dtype: str | None) -> list[Any]:
    """Hidden states after the embeddings and the lower ``layers`` layers of ``model`` (a body or a model with a
    head), one unpadded tensor per row: run once, without dropout, as at inference, so the layers above can be
    trained on them (:func:`only_layers` with ``given_hidden_states``)."""
    import torch

    base = body(model)
    states: list[Any] = [None] * len(features)
    base.eval()
    with only_layers(model, slice(0, layers)), torch.inference_mode():
        for chunk in length_batches(lengths, max(batch_size, 32), None):
            batch = collate(tokenizer, [features[i] for i in chunk], device)
            with autocast(device, dtype):  # training-time work: the training dtype
                hidden = base(**batch).last_hidden_state.float()
            for j, i in enumerate(chunk):
                states[i] = hidden[j, : lengths[i]].clone()
    return states


def layer_depth(name: str, num_layers: int) -> int:
    """Where a parameter sits in a BERT-like stack: 0 the embeddings, i + 1 encoder layer i, num_layers + 1
    everything above (pooler, head)."""
    import re

    if "embeddings." in name:
        return 0
    match = re.search(r"encoder\.layer\.(\d+)\.", name)
    return int(match.group(1)) + 1 if match else num_layers + 1


def parameter_groups(model: Any, learning_rate: float, weight_decay: float, layer_lr_decay: float = 1.0
                     ) -> list[dict[str, Any]]:
    """AdamW groups of the trainable parameters, the usual BERT recipe: no weight decay on biases and LayerNorm.
    With ``layer_lr_decay`` < 1 each layer's learning rate is the one above it times the decay (the top layer and
    the head at ``learning_rate``, the embeddings lowest); at 1 there are two groups, decay and no decay."""
    num_layers = int(getattr(model.config, "num_hidden_layers", 0))
    groups: dict[tuple[int, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = layer_depth(name, num_layers) if layer_lr_decay != 1.0 else 0
        decays = not (param.ndim < 2 or "LayerNorm" in name)
        groups.setdefault((depth, decays), []).append(param)
    out = []
    for decays in (True, False):  # decay group(s) first, as the optimiser was always built
        for depth in sorted({d for d, _ in groups}):
            if (depth, decays) in groups:
                scale = layer_lr_decay ** (num_layers + 1 - depth) if layer_lr_decay != 1.0 else 1.0
                out.append({"params": groups[(depth, decays)], "weight_decay": weight_decay if decays else 0.0,
                            "lr": learning_rate * scale})
    return out


@contextlib.contextmanager
def only_layers(model: Any, layers: slice, given_hidden_states: bool = False) -> Iterator[None]:
    """Within the block the model's encoder runs only ``layers``; with ``given_hidden_states`` its embedding
    module passes ``inputs_embeds`` through untouched, so hidden states of a lower layer can be fed in.

    This keeps the model's own forward (attention masks, pooler, head) for a part of its stack; the
    modules are swapped back afterwards, whatever happens inside."""
    import torch

    class _GivenHiddenStates(torch.nn.Module):
        def forward(self, input_ids: Any = None, token_type_ids: Any = None, position_ids: Any = None,
                    inputs_embeds: Any = None, **_: Any) -> Any:
            return inputs_embeds

    base = body(model)
    embeddings, stack = base.embeddings, base.encoder.layer
    base.encoder.layer = stack[layers]
    if given_hidden_states:
        base.embeddings = _GivenHiddenStates()
    try:
        yield
    finally:
        base.embeddings, base.encoder.layer = embeddings, stack


def _bf16_linear(linear: Any) -> Any:
    """``linear`` with bf16 weights, taking and returning fp32 (where the CPU multiplies bf16 in hardware, about
    twice as fast as fp32 with a rounding error far below int8's)."""
    import torch

    class Bf16Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16))
            self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().to(torch.bfloat16))

        def forward(self, x: Any) -> Any:
            return torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self.bias).to(x.dtype)

    return Bf16Linear()


def quantize_int8(model: Any, per_channel: bool = False, encoder_only: bool = False,
                  keep_ffn_output_layers: Sequence[int] = (), kept_in: str = "fp32") -> Any:
    """A copy of ``model`` with torch dynamic int8 weights in its Linear layers (activations quantised per batch
    at run time). ``per_channel`` gives each output row its own weight scale; ``encoder_only`` leaves the
    pooler and the classification head in fp32; the feed-forward output projections of
    ``keep_ffn_output_layers`` are not quantised but run in ``kept_in`` (``fp32`` or ``bf16``): their input,
    the GELU output, has the outliers that one activation scale per batch handles worst."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    keep = {f"encoder.layer.{i}.output.dense" for i in keep_ffn_output_layers}

    def inside(name: str) -> str:
        return name.split(".", 1)[1] if name.startswith(f"{model.base_model_prefix}.") else name

    spec = {name: qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and inside(name) not in keep
            and (not encoder_only or inside(name).startswith("encoder."))}
    quantized = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)
    if keep and kept_in == "bf16":  # quantize_dynamic returned a copy, so the fp32 model is untouched
        for name, module in list(quantized.named_modules()):
            if inside(name) in keep:
                parent, _, child = name.rpartition(".")
                setattr(quantized.get_submodule(parent), child, _bf16_linear(module))
    return quantized


def int8_for_inference(model: Any, native_cpu_bf16: bool | None = None) -> Any:
    """The project's int8 model: per-tensor dynamic int8 everywhere except the feed-forward output projections
    of the inner layers (all but the first and the last), which run in bf16 where the CPU has it, else fp32.
    On the leave-one-notice-out fold models of ``bert_m3e_small_heading`` this agreed with fp32 on more than
    99% of argmaxes against 98.0% for int8 everywhere (experiments/results/int8_schemes.json)."""
    if native_cpu_bf16 is None:
        native_cpu_bf16 = cpu_has_native_bf16()
    return quantize_int8(model, keep_ffn_output_layers=range(1, model.config.num_hidden_layers - 1),
                         kept_in="bf16" if native_cpu_bf16 else "fp32")


def tune_allocator() -> bool:
    """Keep glibc from returning large blocks to the OS after every batch. A BERT batch's feed-forward
    activations (32 x 128 x 2048 floats) exceed glibc's mmap threshold, so each one would be mapped fresh and
    page-faulted in; with the threshold raised, int8 inference on 2 cores ran about 25% faster. Process-wide and
    idempotent, like ``torch.set_num_threads``; a no-op (False) where the C library is not glibc."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 256 << 20)) and bool(mallopt(m_trim_threshold, 512 << 20))
