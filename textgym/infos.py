"""Info modes: what ``info`` holds on every step.

- ``full`` (default): texts and numbers (the prompt, the generation, the references, the
  reward components, the proposals' texts...); some keys appear only on some steps (the
  reward components once a turn has ended, ``episode_return`` at the end).
- ``numeric``: the same keys on every step, each a number or a fixed-shape array, for
  consumers that stack infos into tensors (TorchRL, Tianshou's buffers). The texts stay one
  call away: ``env.unwrapped.text_info()`` (and ``TextVectorEnv.text_infos()``) give the full
  info of the current state.

Numeric keys: ``example_index``, ``turn``, ``num_new_tokens``, ``prompt_truncated``,
``turn_ended``, ``turn_truncated``, ``metric`` (the task metric of the last finished turn, 0
before one), ``episode_return`` (the return so far); with ``topk`` actions
``invalid_action``, with ``utterance`` actions ``utterance_truncated``; with proposals
(``topk`` actions or ``proposals`` observations) ``proposal_ids``, ``proposal_probs`` and
``action_mask`` (all zero once the episode is over); with ``kl_coef > 0`` ``kl_penalty`` and
``ref_logprob``.
"""

from typing import Any

import numpy as np

INFO_MODES = ("full", "numeric")


class FullInfo:
    name = "full"

    def finish(self, info: dict[str, Any], index: int, total: float) -> dict[str, Any]:
        return info


class NumericInfo(FullInfo):
    """Turns a full info into the fixed set of numeric keys of one configuration."""

    name = "numeric"

    def __init__(self, flags: tuple[str, ...], topk: int | None, kl: bool) -> None:
        self.flags, self.topk, self.kl = flags, topk, kl

    def finish(self, info: dict[str, Any], index: int, total: float) -> dict[str, Any]:
        components = info.get("reward_components", {})
        out: dict[str, Any] = {
            "example_index": index,
            "turn": int(info["turn"]),
            "num_new_tokens": int(info["num_new_tokens"]),
            "prompt_truncated": bool(info["prompt_truncated"]),
            "turn_ended": bool(info.get("turn_ended", False)),
            "turn_truncated": bool(info.get("turn_truncated", False)),
            "metric": float(components.get("reward", 0.0)),
            "episode_return": float(total),
        }
        for flag in self.flags:
            out[flag] = bool(info.get(flag, False))
        if self.topk is not None:
            k = self.topk
            out["proposal_ids"] = info.get("proposal_ids", np.zeros(k, dtype=np.int64))
            out["proposal_probs"] = info.get("proposal_probs", np.zeros(k, dtype=np.float32))
            out["action_mask"] = info.get("action_mask", np.zeros(k, dtype=bool))
        if self.kl:
            out["kl_penalty"] = float(info.get("kl_penalty", 0.0))
            out["ref_logprob"] = float(info.get("ref_logprob", 0.0))
        return out


def make_info_mode(name: str, flags: tuple[str, ...], topk: int | None, kl: bool) -> FullInfo:
    """``flags``: the boolean info entries of the action mode (``ActionMode.info_flags``);
    ``topk``: the number of proposals, when there are proposals."""
    return NumericInfo(flags, topk, kl) if name == "numeric" else FullInfo()


__all__ = ["INFO_MODES", "FullInfo", "NumericInfo", "make_info_mode"]
