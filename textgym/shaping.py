"""Reward shaping: how a turn's score becomes step rewards, and the per-token KL penalty.

- ``terminal`` (default): the turn's score on the step that ends it, 0 on the others;
- ``dense``: each step earns the change of the task metric on the turn so far (a
  potential difference), so a turn's rewards sum exactly to its terminal reward.

:class:`KLPenalty` is ``kl_coef * (log pi - log p_ref)`` of the chosen token, with ``p_ref``
the environment's frozen LM.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

REWARD_SHAPING = ("terminal", "dense")


class TerminalShaping:
    name = "terminal"
    dense = False
    """steps inside a turn are scored (the turn so far) too"""

    def start_turn(self) -> None:
        pass

    def step(self, partial_score: float) -> float:
        """The reward of a step inside a turn whose partial score is ``partial_score``."""
        return 0.0

    def end(self, score: float) -> float:
        """The reward of the step that ends a turn whose score is ``score``."""
        return score


class DenseShaping(TerminalShaping):
    name = "dense"
    dense = True

    def __init__(self) -> None:
        self.potential = 0.0  # the metric of the turn so far

    def start_turn(self) -> None:
        self.potential = 0.0

    def step(self, partial_score: float) -> float:
        reward, self.potential = partial_score - self.potential, partial_score
        return reward

    def end(self, score: float) -> float:
        return score - self.potential


def make_shaping(name: str) -> TerminalShaping:
    return DenseShaping() if name == "dense" else TerminalShaping()


class KLPenalty:
    """``coef * (log pi(token) - log p_ref(token))`` when the agent gives ``log pi``, else
    the reference NLL ``coef * -log p_ref(token)`` (the KL plus pi's entropy, in
    expectation)."""

    def __init__(self, coef: float) -> None:
        self.coef = coef

    def __call__(
        self, ref_logits: "torch.Tensor", token: int, policy_logprob: float | None
    ) -> tuple[float, float]:
        """``(penalty, ref_logprob)`` of ``token`` under the reference's next-token logits."""
        ref_logprob = float(ref_logits.float().log_softmax(-1)[token])
        policy = policy_logprob if policy_logprob is not None else 0.0
        return self.coef * (policy - ref_logprob), ref_logprob


__all__ = ["REWARD_SHAPING", "DenseShaping", "KLPenalty", "TerminalShaping", "make_shaping"]
