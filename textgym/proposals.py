"""The top-k proposals of the environment's LM: the choices of ``topk`` actions and what
``proposals`` observations show."""

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from textgym.lm import LM


class Proposals:
    """The top-k next tokens of a logits vector, with a validity mask.

    Tokens are ranked by logit (so by probability at any temperature); special tokens
    other than end-of-turn tokens are never proposed. With ``top_p < 1`` a proposal is
    valid only while the proposals ranked above it hold less than ``top_p`` of the
    probability mass (computed at ``temperature``; 0 is greedy: only the first is valid);
    the first is always valid. Proposals with probability 0 are invalid too.
    """

    def __init__(self, k: int, temperature: float, top_p: float, banned: list[int]) -> None:
        self.k, self.temperature, self.top_p = k, temperature, top_p
        self.banned = banned
        self.ids = np.zeros(k, dtype=np.int64)
        self.mask = np.ones(k, dtype=bool)
        self.probs = np.zeros(k, dtype=np.float32)
        self.logprobs = np.zeros(k, dtype=np.float32)  # under the LM at temperature 1

    def info(self, lm: "LM") -> dict[str, Any]:
        """The proposals as info entries (copies), with each proposal's text."""
        return {
            "proposal_ids": self.ids.copy(),
            "proposal_probs": self.probs.copy(),
            "action_mask": self.mask.copy(),
            "proposal_texts": [lm.decode([int(t)]) for t in self.ids],
        }

    def update(self, logits: "torch.Tensor") -> None:
        import torch

        logits = logits.float().clone()
        log_z = torch.logsumexp(logits, -1)  # the LM's own normaliser, special tokens included
        if self.banned:
            logits[self.banned] = float("-inf")
        top_logits, top_ids = torch.topk(logits, self.k)
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            top_probs = probs[top_ids]
        else:  # greedy: all the mass on the most likely token
            top_probs = torch.zeros(self.k)
            top_probs[0] = 1.0
        mass_before = torch.cumsum(top_probs, 0) - top_probs
        mask = top_probs > 0
        if self.top_p < 1.0:
            mask &= mass_before < self.top_p
        mask[0] = True
        self.ids = top_ids.numpy().astype(np.int64)
        self.mask = mask.numpy()
        self.probs = top_probs.numpy().astype(np.float32)
        self.logprobs = (top_logits - log_z).numpy().astype(np.float32)


__all__ = ["Proposals"]
