"""An iteration's training batch: every agent turn of every episode as one sequence.

A multi-turn episode gives one :class:`~baselines.ppo.rollout.Rollout` per turn, each
with its own prompt width; :func:`stack` puts the turns that belong to live episodes
into one layout (left-padded prompts of a common width P, right-padded responses of a
common width R), and :meth:`TrainBatch.minibatch` cuts a minibatch down to the columns
its own rows use, so short sequences do not pay for the longest one in the batch.
"""

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class TrainBatch:
    """N sequences in the layout of :mod:`baselines.ppo.policy`."""

    input_ids: Tensor
    """(N, P + R) left-padded prompts, then right-padded responses"""
    attention_mask: Tensor
    """(N, P + R)"""
    prompt_width: int
    """P"""
    response_mask: Tensor
    """(N, R)"""
    logprobs: Tensor
    """(N, R) log pi of the response tokens at rollout time ("old" log-probs)"""
    values: Tensor
    """(N, R) V at rollout time"""
    advantages: Tensor
    """(N, R)"""
    returns: Tensor
    """(N, R) value targets (0 for the critic-free algorithms)"""

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def minibatch(self, rows: Tensor) -> "TrainBatch":
        """The sequences ``rows``, without the columns that are padding in all of them."""
        mask = self.attention_mask[rows]
        P = self.prompt_width
        prompt_real = mask[:, :P].any(0)
        first = int(prompt_real.long().argmax()) if bool(prompt_real.any()) else P - 1
        first = min(first, P - 1)  # position P - 1 scores the first response token
        width = max(int(self.response_mask[rows].sum(-1).max()), 1)
        keep = slice(first, P + width)
        per_token = dict(
            response_mask=self.response_mask[rows, :width],
            logprobs=self.logprobs[rows, :width],
            values=self.values[rows, :width],
            advantages=self.advantages[rows, :width],
            returns=self.returns[rows, :width],
        )
        return TrainBatch(
            input_ids=self.input_ids[rows, keep],
            attention_mask=mask[:, keep],
            prompt_width=P - first,
            **per_token,
        )

    def to(self, device: torch.device | str) -> "TrainBatch":
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return TrainBatch(prompt_width=self.prompt_width, **moved)


def _pad_to(x: Tensor, width: int, value: float | int, left: bool) -> Tensor:
    missing = width - x.shape[1]
    if missing == 0:
        return x
    pad = torch.full((x.shape[0], missing), value, dtype=x.dtype, device=x.device)
    return torch.cat([pad, x] if left else [x, pad], dim=1)


def stack(parts: list[dict[str, Tensor | int]], pad_id: int) -> TrainBatch:
    """One :class:`TrainBatch` from per-turn parts, each a dict with ``input_ids``,
    ``attention_mask``, ``prompt_width`` and the (rows, R_t) per-token tensors of the
    rows that belong to the batch."""
    if not parts:
        raise ValueError("no turns to train on")
    P = max(int(p["prompt_width"]) for p in parts)
    R = max(p["response_mask"].shape[1] for p in parts)
    columns: dict[str, list[Tensor]] = {}
    for part in parts:
        w = int(part["prompt_width"])
        ids, mask = part["input_ids"], part["attention_mask"]
        prompt = _pad_to(ids[:, :w], P, pad_id, left=True)
        prompt_mask = _pad_to(mask[:, :w], P, 0, left=True)
        response = _pad_to(ids[:, w:], R, pad_id, left=False)
        response_mask_full = _pad_to(mask[:, w:], R, 0, left=False)
        columns.setdefault("input_ids", []).append(torch.cat([prompt, response], 1))
        columns.setdefault("attention_mask", []).append(
            torch.cat([prompt_mask, response_mask_full], 1)
        )
        for name in ("response_mask", "logprobs", "values", "advantages", "returns"):
            columns.setdefault(name, []).append(_pad_to(part[name], R, 0, left=False))
    return TrainBatch(prompt_width=P, **{k: torch.cat(v, 0) for k, v in columns.items()})
