"""The step that every KV-cached sampling loop over a Hugging Face causal LM repeats: one
forward over the new tokens against the cache, the next-token logits after each row's last
token, and the grown cache. :meth:`textgym.lm.LM.generate` (environments, dialogue partners)
and :func:`baselines.ppo.rollout.generate` (the PPO trainer's CPU sampler) both loop over
:func:`decode_step`; they differ only in how they sample from the logits and what they keep.
"""

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from textgym.kvcache import cache_kwargs, output_cache

if TYPE_CHECKING:
    from torch import Tensor
    from transformers import Cache, PreTrainedModel


class DecodeStep(NamedTuple):
    logits: "Tensor"
    """(B, V) float32 next-token logits after each row's last token"""
    hidden: "Tensor | None"
    """(B, C) the last layer's hidden state there (after the final norm), with ``hidden=True``"""
    cache: "Cache"
    """the KV cache, now also holding ``step_ids``"""


def decode_step(
    model: "PreTrainedModel",
    step_ids: "Tensor",
    mask: "Tensor",
    past: "Cache | None",
    *,
    hidden: bool = False,
    last_logits_only: bool = False,
) -> DecodeStep:
    """One forward of ``model`` over ``step_ids`` (B, S) (the left-padded prompts on the first
    call, with ``past=None``; then the last sampled token, (B, 1)) on top of the cache ``past``.

    ``mask`` (B, T) is the integer attention mask of the whole context (the cached tokens, then
    ``step_ids``). Positions are counted over its real tokens only, so a left-padded prompt
    starts at position 0 as an unpadded one does (Hugging Face models count padding
    otherwise). ``last_logits_only`` computes the LM head at the last position only where the
    model supports it (``logits_to_keep``: on a prompt, the head over every position is a fifth
    of SmolLM2's compute); the logits are then rounded as by a one-position head, which may
    differ in the last bits from slicing a full head's output.
    """
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -step_ids.shape[1] :]
    extra: dict[str, Any] = {}
    if hidden:
        extra["output_hidden_states"] = True
    if last_logits_only and _keeps_logits(type(model).forward):
        extra["logits_to_keep"] = 1
    out = model(
        input_ids=step_ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        **cache_kwargs(model, past),
        **extra,
    )
    last_hidden = out.hidden_states[-1][:, -1] if hidden else None
    return DecodeStep(out.logits[:, -1].float(), last_hidden, output_cache(out))


@cache
def _keeps_logits(forward: Any) -> bool:
    import inspect

    return "logits_to_keep" in inspect.signature(forward).parameters


__all__ = ["DecodeStep", "decode_step"]
