"""Attention for decoding one token per row from a static KV cache, as a transformers
``AttentionInterface`` function (used by :class:`baselines.ppo.fastgen.StaticGenerator`)."""

from typing import Any

import torch
from torch import Tensor

DECODE_ATTENTION = "textgym_decode"
"""The name under which :func:`decode_attention` is registered with transformers'
``AttentionInterface``; the generator's LM uses it for the length of each call."""


def decode_attention(
    module: Any,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attention_mask: Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Tensor, None]:
    """Attention for one new token per row, with grouped KV heads read in place.

    transformers' SDPA path copies every layer's whole KV cache to repeat its KV heads
    (``repeat_kv``) once a mask is given, and runs a flash kernel built for long queries;
    at batch 256 those two were half of a SmolLM2 decode step. Here the G query heads that
    share a KV head are a (G, D) block, so scores and output are two batched matmuls over
    the cache as it lies. Softmax in float32. Queries longer than one token (the prefill)
    go to transformers' own SDPA function unchanged."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    if q_len != 1 or dropout or kwargs.get("softcap") is not None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    kv_heads, length = key.shape[1], key.shape[2]
    scale = dim**-0.5 if scaling is None else scaling
    q = query.reshape(batch, kv_heads, heads // kv_heads, dim)  # head h reads KV head h // G
    scores = torch.matmul(q, key.transpose(-1, -2)).float() * scale  # (B, Hkv, G, L)
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, :length].float()  # (B, 1, 1, L)
    probs = scores.softmax(-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (B, Hkv, G, D)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2), None  # (B, 1, H, D)


def register_decode_attention() -> None:
    from transformers import AttentionInterface

    if DECODE_ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(DECODE_ATTENTION, decode_attention)
    try:  # 2-D masks (only built outside the generator's own calls) as for SDPA
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return
    if DECODE_ATTENTION not in AttentionMaskInterface._global_mapping:
        AttentionMaskInterface.register(DECODE_ATTENTION, sdpa_mask)
