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

    def lengths(self) -> tuple[Tensor, Tensor]:
        """(N,) prompt extents (columns from a row's first real prompt token to the
        response) and response lengths, on the CPU: computed with one host read on the
        first call and kept, so that cutting minibatches needs none."""
        if getattr(self, "_lengths", None) is None:
            real = self.attention_mask[:, : self.prompt_width] > 0
            first = torch.where(real.any(-1), real.long().argmax(-1), self.prompt_width)
            prompt = self.prompt_width - first
            self._lengths = tuple(torch.stack([prompt, self.response_mask.sum(-1)]).cpu())
        return self._lengths

    def minibatch(
        self, rows: Tensor, multiple: int = 1, num_rows: int | None = None
    ) -> "TrainBatch":
        """The sequences ``rows``, without the columns that are padding in all of them.

        ``multiple`` rounds the kept prompt and response widths up to multiples of it
        (padding columns added where the batch has none to keep), and ``num_rows`` pads
        the rows to that many with copies of the first row whose ``response_mask`` is 0:
        the few fixed shapes that a CUDA-graph update replays. Padding changes no loss,
        which averages over ``response_mask``.
        """
        P = self.prompt_width
        prompt_len, response_len = self.lengths()
        cpu_rows = rows.cpu()  # the caller's CPU rows cost no host sync
        # Position P - 1 scores the first response token, so at least one prompt column.
        first = P - max(int(prompt_len[cpu_rows].max()), 1)
        width = _round_up(max(int(response_len[cpu_rows].max()), 1), multiple)
        if rows.device != self.input_ids.device:
            rows = rows.pin_memory() if self.input_ids.is_cuda else rows
            rows = rows.to(self.input_ids.device, non_blocking=True)
        mask = self.attention_mask[rows]
        lo, hi = P - _round_up(P - first, multiple), P + width  # the columns kept
        cut = slice(max(lo, 0), min(hi, self.input_ids.shape[1]))

        def columns(x: Tensor, value: int) -> Tensor:  # [lo, hi), padded where out of range
            x = _pad_to(x[:, cut], cut.stop - lo, value, left=True)
            return _pad_to(x, hi - lo, value, left=False)

        ids, mask = columns(self.input_ids[rows], 0), columns(mask, 0)
        per_token = {
            name: _pad_to(getattr(self, name)[rows, :width], width, 0, left=False)
            for name in ("response_mask", "logprobs", "values", "advantages", "returns")
        }
        if num_rows is not None and num_rows > len(rows):

            def fill(x: Tensor) -> Tensor:
                return torch.cat([x, x[:1].expand(num_rows - len(rows), -1)])

            ids, mask = fill(ids), fill(mask)
            per_token = {k: fill(v) for k, v in per_token.items()}
            per_token["response_mask"][len(rows) :] = 0
        return TrainBatch(input_ids=ids, attention_mask=mask, prompt_width=P - lo, **per_token)

    def to(self, device: torch.device | str) -> "TrainBatch":
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return TrainBatch(prompt_width=self.prompt_width, **moved)


def epoch_minibatches(
    batch: TrainBatch, minibatch_size: int, generator: torch.Generator, group_by_length: bool
) -> list[Tensor]:
    """One epoch's minibatches of ``batch``: CPU row indices (cutting them costs no host
    sync) of a random permutation drawn from ``generator``, split in order, or with
    ``group_by_length`` regrouped by :func:`length_grouped`."""
    order = torch.randperm(len(batch), generator=generator)
    if not group_by_length:
        return list(order.split(minibatch_size))
    prompt, response = batch.lengths()
    return length_grouped(order, prompt + response, minibatch_size, generator)


def length_grouped(
    order: Tensor, lengths: Tensor, minibatch_size: int, generator: torch.Generator, group: int = 8
) -> list[Tensor]:
    """The minibatches (row indices) of ``order``, a random permutation of the rows, such
    that each holds rows of similar length: consecutive runs of ``group`` minibatches are
    sorted by ``lengths`` (longest first) and cut into minibatches, whose order is then
    shuffled with ``generator`` (as Hugging Face's ``group_by_length`` sampler). Each
    minibatch then pays for its own longest row, not for the batch's."""
    span = minibatch_size * group
    chunks = []
    for start in range(0, len(order), span):
        rows = order[start : start + span]
        rows = rows[torch.sort(lengths[rows], descending=True, stable=True).indices]
        chunks += list(rows.split(minibatch_size))
    return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


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
