"""The LM's state after an environment's context, kept up to date as the context grows.

What an environment keeps depends on its modes: the next-token logits (``topk`` proposals,
``proposals`` observations, KL shaping) and the last hidden state (``embedding`` and
``proposals`` observations with ``embedding_model="lm"``). One environment extends a
KV-cached :class:`~textgym.lm.Stream` by the tokens its context gained; a vector env asks
every row for its :meth:`LMState.pending` tokens, runs one batched forward and hands each row
its result (:meth:`LMState.set`).
"""

from typing import TYPE_CHECKING

from textgym.context import Context
from textgym.lm import LM, Stream
from textgym.proposals import Proposals

if TYPE_CHECKING:
    import torch


class LMState:
    def __init__(
        self, lm: LM, hidden: bool, logits: bool, proposals: Proposals | None = None
    ) -> None:
        self.lm, self.tracks_hidden, self.tracks_logits = lm, hidden, logits
        self.proposals = proposals
        self.stream: Stream | None = None  # one environment's KV cache
        self.logits: torch.Tensor | None = None  # (vocab,) float32
        self.hidden: torch.Tensor | None = None  # (hidden_size,) float32
        self.synced = 0  # context tokens the state covers; 0 means "start afresh"

    @property
    def tracks(self) -> bool:
        return self.tracks_hidden or self.tracks_logits

    def restart(self) -> None:
        """A new episode: the next update rebuilds the state from the whole context."""
        self.synced = 0

    def pending(self, context: Context) -> tuple[bool, list[int]]:
        """``(restart, ids)``: the context tokens the state does not cover yet; with
        ``restart`` the state must be rebuilt from ``ids`` (the whole context)."""
        return self.synced == 0, context.ids(self.synced).tolist()

    def set(self, logits: "torch.Tensor", hidden: "torch.Tensor | None", context: Context) -> None:
        """Store the state after ``context``'s pending tokens (computed by the caller)."""
        self.logits, self.hidden = logits, hidden
        self.synced = len(context)
        if self.proposals is not None:
            self.proposals.update(logits)

    def sync(self, context: Context) -> None:
        """Bring the state up to date by extending this environment's own stream."""
        if not self.tracks:
            return
        restart, ids = self.pending(context)
        if restart or self.stream is None:
            self.stream = self.lm.stream(ids, hidden=self.tracks_hidden)
        else:
            self.stream.extend(ids)
        assert self.stream.logits is not None  # a context is never empty
        self.set(self.stream.logits, self.stream.hidden, context)


__all__ = ["LMState"]
