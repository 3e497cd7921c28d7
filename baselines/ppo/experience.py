"""The one record of an iteration's data, :class:`Experience`, from rollout to update.

An iteration's stages all read and write it (as OpenRLHF's ``Experience``):

1. **rollout** (:func:`baselines.ppo.rollout.collect`) makes one record per step of the
   vector env: one agent turn per sub-environment, N = B rows;
2. **scoring** (:class:`baselines.ppo.scoring.Scorer`) fills each turn's rewards,
   advantages and returns, then :func:`stack` concatenates the turns' rows that belong to
   the iteration's episodes into the batch (a multi-turn episode gives one row per turn,
   each with its own prompt width: the batch pads them to common widths);
3. **update** (:mod:`baselines.ppo.update`) trains on minibatches of it:
   :meth:`Experience.minibatch` cuts the rows a step uses down to the columns they use, so
   short sequences do not pay for the longest one in the batch.
"""

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor

PER_TOKEN = ("response_mask", "logprobs", "values", "advantages", "returns")
"""The (N, R) fields an update step reads (besides ``input_ids`` and ``attention_mask``)."""
SCORES = ("rewards", "ref_logprobs")
"""The (N, R) fields scoring adds; not needed by the update, so minibatches leave them out."""
PER_TURN = ("env_rewards", "ended_with_eos", "terminated", "truncated", "live")
"""The (N,) fields a rollout sets (:func:`stack` adds ``episode``)."""


@dataclass
class Experience:
    """N agent turns as training rows, in the layout of :mod:`baselines.ppo.policy`: a
    left-padded prompt of width P, then a right-padded response of width R.

    Fields are grouped by role and tagged with their shape: per token, (N, P + R) or (N, R);
    per turn, (N,); per episode, (E,). The per-turn, per-episode and scoring fields are None
    where no stage set them: a record just collected has no scores yet, a minibatch carries
    only what an update step reads, and a batch built by hand for the update (tests,
    benchmarks) needs only the first eight fields.
    """

    # -- the sequences, per token ----------------------------------------------------------------
    input_ids: Tensor
    """(N, P + R) left-padded prompts, then right-padded responses"""
    attention_mask: Tensor
    """(N, P + R) 1 on real tokens"""
    prompt_width: int
    """P: every response starts at this column"""
    response_mask: Tensor
    """(N, R) 1 on the responses' real tokens"""
    # -- the policy at rollout time, per token ---------------------------------------------------
    logprobs: Tensor
    """(N, R) log pi of each response token, recorded while sampling ("old" log-probs; 0 at
    padding)"""
    values: Tensor
    """(N, R) V of the context before each response token (0 at padding)"""
    # -- what the update trains on, per token ----------------------------------------------------
    advantages: Tensor
    """(N, R) the algorithm's advantages (0 until scoring fills them)"""
    returns: Tensor
    """(N, R) value targets (0 for the critic-free algorithms, and until scoring)"""
    # -- scoring, per token ----------------------------------------------------------------------
    rewards: Tensor | None = None
    """(N, R) per-token rewards: the KL penalty on every token, the turn's reward on the last"""
    ref_logprobs: Tensor | None = None
    """(N, R) log-probs of the response tokens under the frozen reference"""
    # -- the environment, per turn ---------------------------------------------------------------
    env_rewards: Tensor | None = None
    """(N,) the environment's reward for the turn"""
    ended_with_eos: Tensor | None = None
    """(N,) bool: the turn ended with an end-of-turn token (not by the budget)"""
    terminated: Tensor | None = None
    """(N,) bool, Gymnasium's flag"""
    truncated: Tensor | None = None
    """(N,) bool, Gymnasium's flag"""
    live: Tensor | None = None
    """(N,) bool, on the CPU: the row's episode was still running when the turn began (the
    other rows' turns belong to episodes that an autoreset started, and are not trained on;
    :func:`stack` keeps the live rows only)"""
    episode: Tensor | None = None
    """(N,) the episode each row belongs to: its sub-environment's index (set by :func:`stack`)"""
    # -- per episode (E = the vector env's B sub-environments), set by scoring -------------------
    episode_returns: Tensor | None = None
    """(E,) the environment's summed rewards (no KL term)"""
    episode_scores: Tensor | None = None
    """(E,) the summed per-token rewards: what the critic-free algorithms rank"""
    episode_kl: Tensor | None = None
    """(E,) the summed log-ratio log pi - log pi_ref over the episode's response tokens"""
    # -- per step --------------------------------------------------------------------------------
    infos: dict[str, Any] | None = None
    """the vector env's infos of the step that made this record (``final_obs`` of the
    episodes that ended in it); :func:`stack` does not keep it"""
    _lengths: tuple[Tensor, Tensor] | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def lengths(self) -> tuple[Tensor, Tensor]:
        """(N,) prompt extents (columns from a row's first real prompt token to the
        response) and response lengths, on the CPU: computed with one host read on the
        first call and kept, so that cutting minibatches needs none."""
        if self._lengths is None:
            real = self.attention_mask[:, : self.prompt_width] > 0
            first = torch.where(real.any(-1), real.long().argmax(-1), self.prompt_width)
            prompt = self.prompt_width - first
            both = torch.stack([prompt, self.response_mask.sum(-1)]).cpu()
            self._lengths = (both[0], both[1])
        return self._lengths

    def minibatch(
        self, rows: Tensor, multiple: int = 1, num_rows: int | None = None
    ) -> "Experience":
        """The sequences ``rows``, without the columns that are padding in all of them, and
        with the fields an update step reads only.

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
            for name in PER_TOKEN
        }
        if num_rows is not None and num_rows > len(rows):

            def fill(x: Tensor) -> Tensor:
                return torch.cat([x, x[:1].expand(num_rows - len(rows), -1)])

            ids, mask = fill(ids), fill(mask)
            per_token = {k: fill(v) for k, v in per_token.items()}
            per_token["response_mask"][len(rows) :] = 0
        return _from_columns(P - lo, {"input_ids": ids, "attention_mask": mask, **per_token})

    def to(self, device: torch.device | str) -> "Experience":
        """A copy with every tensor on ``device``."""
        moved = replace(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.init and isinstance(value, Tensor):
                setattr(moved, f.name, value.to(device))
        return moved


def stack(turns: list[Experience], pad_id: int) -> Experience:
    """One record of the ``live`` rows of every turn of ``turns`` (in turn order), their
    prompts left-padded with ``pad_id`` to the widest turn's P and their responses
    right-padded to the longest turn's R; ``episode`` says which episode (row of its turn)
    each row came from. Per-episode fields and ``infos`` are not kept."""
    if not turns:
        raise ValueError("no turns to train on")
    P = max(t.prompt_width for t in turns)
    R = max(t.response_mask.shape[1] for t in turns)
    columns: dict[str, list[Tensor]] = {}
    for turn in turns:
        if turn.live is None:
            raise ValueError("stack needs turns with `live` set, as rollout.play sets it")
        rows = turn.live.nonzero().flatten().to(turn.input_ids.device)
        w = turn.prompt_width
        ids, mask = turn.input_ids[rows], turn.attention_mask[rows]
        prompt = _pad_to(ids[:, :w], P, pad_id, left=True)
        prompt_mask = _pad_to(mask[:, :w], P, 0, left=True)
        response = _pad_to(ids[:, w:], R, pad_id, left=False)
        response_mask_full = _pad_to(mask[:, w:], R, 0, left=False)
        columns.setdefault("input_ids", []).append(torch.cat([prompt, response], 1))
        columns.setdefault("attention_mask", []).append(
            torch.cat([prompt_mask, response_mask_full], 1)
        )
        for name in PER_TOKEN + SCORES:
            value = getattr(turn, name)
            if value is not None:
                columns.setdefault(name, []).append(_pad_to(value[rows], R, 0, left=False))
        for name in PER_TURN:
            value = getattr(turn, name)
            if value is not None:
                columns.setdefault(name, []).append(value[rows.to(value.device)])
        columns.setdefault("episode", []).append(rows)
    return _from_columns(P, {k: torch.cat(v, 0) for k, v in columns.items()})


def epoch_minibatches(
    batch: Experience, minibatch_size: int, generator: torch.Generator, group_by_length: bool
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


def _from_columns(prompt_width: int, columns: dict[str, Tensor]) -> Experience:
    """The record of ``columns``: the sequences and :data:`PER_TOKEN` fields, and whichever
    of the :data:`SCORES` and :data:`PER_TURN` fields it has."""
    out = Experience(
        input_ids=columns["input_ids"],
        attention_mask=columns["attention_mask"],
        prompt_width=prompt_width,
        response_mask=columns["response_mask"],
        logprobs=columns["logprobs"],
        values=columns["values"],
        advantages=columns["advantages"],
        returns=columns["returns"],
    )
    for name in (*SCORES, *PER_TURN, "episode"):
        if name in columns:
            setattr(out, name, columns[name])
    return out


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _pad_to(x: Tensor, width: int, value: float | int, left: bool) -> Tensor:
    missing = width - x.shape[1]
    if missing == 0:
        return x
    pad = torch.full((x.shape[0], missing), value, dtype=x.dtype, device=x.device)
    return torch.cat([pad, x] if left else [x, pad], dim=1)
