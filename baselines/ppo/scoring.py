"""Scoring: an iteration's turns -> its training batch (OpenRLHF's experience maker).

:class:`Scorer` takes the per-turn records that :func:`baselines.ppo.rollout.play` returns
and, outside the trainer's loop:

1. scores each turn (:func:`score`): the frozen reference's log-probs and the per-token
   rewards, the KL penalty ``-kl_coef * (log pi - log pi_ref)`` on every token and the
   turn's reward (minus ``missing_eos_penalty`` for a turn cut by the budget) on its last;
2. sums each episode's environment rewards, scores and KL over its turns;
3. fills the advantages and returns with the run's :class:`~baselines.ppo.advantages.Algorithm`;
4. stacks the live rows of every turn into one :class:`~baselines.ppo.experience.Experience`
   and whitens its advantages where the algorithm does.

:func:`batch_stats` gives the batch's ``charts/*`` and ``objective/*`` metrics.
"""

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from baselines.ppo import core
from baselines.ppo.advantages import Algorithm
from baselines.ppo.experience import Experience, stack
from baselines.ppo.policy import PolicyWithValue, reference_logprobs

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def score(
    turn: Experience,
    reference: "PreTrainedModel",
    kl_coef: float,
    env_rewards: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(rewards, ref_logprobs)``, both (B, R): per-token rewards (the KL penalty to the
    frozen ``reference`` model on every token, the turn's reward on the last) and the
    reference's log-probs of the response tokens. The turn's reward is the environment's
    unless ``env_rewards`` (B,) replaces it (e.g. with a missing-EOS penalty applied)."""
    ref = reference_logprobs(reference, turn.input_ids, turn.attention_mask, turn.prompt_width)
    turn_rewards = turn.env_rewards if env_rewards is None else env_rewards
    if turn_rewards is None:
        raise ValueError("score needs a turn with env_rewards, as rollout.collect makes it")
    rewards = core.per_token_rewards(turn_rewards, turn.logprobs, ref, kl_coef, turn.response_mask)
    return rewards, ref


class Scorer:
    """Makes an iteration's batch from its turns (the steps in this module's docstring).

    Args:
        reference: the frozen reference LM of the KL penalty.
        policy: the policy being trained (its value head is the critic that GAE bootstraps
            from).
        algorithm: the run's algorithm: its advantages, whether it whitens them.
        pad_id: the token that pads the stacked prompts and responses.
        missing_eos_penalty: subtracted from the reward of a turn that ends without an
            end-of-turn token (None: no penalty).
    """

    def __init__(
        self,
        reference: "PreTrainedModel",
        policy: PolicyWithValue,
        algorithm: Algorithm,
        pad_id: int,
        missing_eos_penalty: float | None = None,
    ) -> None:
        self.reference, self.policy, self.algorithm = reference, policy, algorithm
        self.pad_id, self.missing_eos_penalty = pad_id, missing_eos_penalty

    def __call__(self, turns: list[Experience], kl_coef: float) -> Experience:
        """The batch of ``turns`` (each a B-row record from ``rollout.play``), scored with the
        KL coefficient ``kl_coef``; the turns' records get their scores too."""
        if not turns:
            raise ValueError("no turns to train on")
        B, device = len(turns[0]), turns[0].input_ids.device
        episode_returns = torch.zeros(B, device=device)
        episode_scores = torch.zeros(B, device=device)
        episode_kl = torch.zeros(B, device=device)
        for turn in turns:
            assert turn.live is not None and turn.env_rewards is not None  # set by play
            live = turn.live.to(device).float()
            turn.rewards, turn.ref_logprobs = score(
                turn, self.reference, kl_coef, self._turn_rewards(turn)
            )
            episode_returns += turn.env_rewards * live
            episode_scores += turn.rewards.sum(-1) * live
            log_ratio = (turn.logprobs - turn.ref_logprobs) * turn.response_mask
            episode_kl += log_ratio.sum(-1) * live
        self.algorithm.advantages(turns, episode_scores, self.policy)
        batch = stack(turns, self.pad_id)
        if self.algorithm.whiten:
            batch.advantages = core.whiten(batch.advantages, batch.response_mask)
        batch.episode_returns, batch.episode_scores = episode_returns, episode_scores
        batch.episode_kl = episode_kl
        return batch

    def _turn_rewards(self, turn: Experience) -> Tensor:
        """(B,) the reward on the turn's last token: the environment's, less the missing-EOS
        penalty where it applies."""
        assert turn.env_rewards is not None and turn.ended_with_eos is not None
        if self.missing_eos_penalty is None:
            return turn.env_rewards
        return turn.env_rewards - self.missing_eos_penalty * (~turn.ended_with_eos).float()


def batch_stats(batch: Experience, kl_coef: float, uses_critic: bool) -> dict[str, float]:
    """The ``charts/*`` and ``objective/*`` metrics of a scored batch (see
    :data:`baselines.ppo.logs.TRAIN_KEYS`), and ``losses/explained_variance`` of the critic
    (NaN without one)."""
    assert batch.episode_returns is not None and batch.episode_kl is not None  # by Scorer
    assert batch.ended_with_eos is not None
    returns, kl, m = batch.episode_returns, batch.episode_kl, batch.response_mask.bool()
    n_turns, tokens = float(len(batch)), float(batch.response_mask.sum())
    return {
        "charts/episodic_return": float(returns.mean()),
        "charts/episodic_return_std": float(returns.std()) if len(returns) > 1 else 0.0,
        "charts/response_tokens": tokens / n_turns,
        "charts/eos_fraction": float(batch.ended_with_eos.sum()) / n_turns,
        "objective/kl": float(kl.mean()),
        "objective/kl_coef": kl_coef,
        "objective/entropy": float(-batch.logprobs[m].mean()),
        "objective/non_score_reward": float(-kl_coef * kl.mean()),
        "losses/explained_variance": explained_variance(batch) if uses_critic else math.nan,
    }


def explained_variance(batch: Experience) -> float:
    """``1 - Var(returns - values) / Var(returns)`` over the batch's response tokens: how much
    of the value targets' variance the rollout's values explain (1: all, 0: no better than
    their mean; NaN when the targets do not vary)."""
    m = batch.response_mask.bool()
    returns, values = batch.returns[m], batch.values[m]
    var = float(returns.var()) if returns.numel() > 1 else 0.0
    return math.nan if var == 0 else 1.0 - float((returns - values).var()) / var
