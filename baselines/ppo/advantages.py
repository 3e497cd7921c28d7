"""The algorithms, each an :class:`Algorithm` chosen once from ``PPOConfig.algo`` by
:func:`make_algorithm`: how it estimates advantages, and what follows from that (whether it
trains a critic, whether its advantages are whitened, how many episodes share a prompt).

- ``ppo``: GAE over each turn's tokens with the value head as critic (:func:`gae_advantages`).
  A non-final turn bootstraps from the value of the next turn's first state, a truncated
  episode from its final state's value, a terminated one from 0 (:func:`bootstrap_values`);
- ``reinforce``, ``rloo``, ``grpo``: one advantage per episode, from the episode's summed
  rewards (:mod:`baselines.ppo.core`'s critic-free estimators), given to each of its tokens
  (:func:`episode_advantages`). ``rloo`` and ``grpo`` compare the ``group_size`` samples of
  one prompt.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import Tensor

from baselines.ppo import core
from baselines.ppo.config import PPOConfig
from baselines.ppo.experience import Experience
from baselines.ppo.policy import PolicyWithValue

AdvantageFn = Callable[[list[Experience], Tensor, PolicyWithValue], None]
"""``(turns, episode_scores, policy)``: fill each turn's ``advantages`` and ``returns`` (B, R),
from the turns' scores (``rewards``, set) and, for the critic, ``policy``'s values."""


@dataclass(frozen=True)
class Algorithm:
    """What sets one algorithm apart; :func:`make_algorithm` builds it from the config."""

    name: str
    """``PPOConfig.algo``"""
    advantages: AdvantageFn
    """fills each turn's advantages and returns"""
    uses_critic: bool
    """trains the value head (the clipped value loss), bootstraps from it, and reports its
    explained variance"""
    whiten: bool
    """the batch's advantages are whitened over its response tokens"""
    group_size: int
    """episodes per prompt: the sub-environments come in groups of this many, reset with one
    seed (1: every episode its own prompt)"""


def make_algorithm(config: PPOConfig) -> Algorithm:
    """``config.algo``'s :class:`Algorithm`, with the config's GAE parameters, group size and
    ``whiten_advantages`` (which rloo and grpo ignore: their advantages are already relative
    to their group)."""
    k, whiten = config.group_size, config.whiten_advantages
    gae = partial(gae_advantages, gamma=config.gamma, lam=config.lam)

    def per_episode(fn: Callable[[Tensor], Tensor]) -> AdvantageFn:
        return partial(episode_advantages, per_episode=fn)

    algorithms = {
        "ppo": Algorithm("ppo", gae, uses_critic=True, whiten=whiten, group_size=1),
        "reinforce": Algorithm(
            "reinforce", per_episode(core.reinforce_advantages), False, whiten, group_size=1
        ),
        "rloo": Algorithm(
            "rloo", per_episode(partial(core.rloo_advantages, k=k)), False, False, group_size=k
        ),
        "grpo": Algorithm(
            "grpo", per_episode(partial(core.grpo_advantages, k=k)), False, False, group_size=k
        ),
    }
    return algorithms[config.algo]


def gae_advantages(
    turns: list[Experience],
    episode_scores: Tensor,
    policy: PolicyWithValue,
    *,
    gamma: float,
    lam: float,
) -> None:
    """PPO's advantages: :func:`baselines.ppo.core.gae` over each turn's tokens, with
    :func:`bootstrap_values` after its last token; ``returns`` are the value targets."""
    for t, turn in enumerate(turns):
        assert turn.rewards is not None and turn.terminated is not None  # scored, collected
        assert turn.truncated is not None
        turn.advantages, turn.returns = core.gae(
            turn.rewards,
            turn.values,
            turn.terminated | turn.truncated,
            bootstrap_values(turns, t, policy),
            gamma,
            lam,
            mask=turn.response_mask,
            truncated=turn.truncated,
        )


def bootstrap_values(turns: list[Experience], t: int, policy: PolicyWithValue) -> Tensor:
    """(B,) V of the state after turn ``t``: the value of the next turn's first state (the
    same sub-environment's context, with the partner's reply), 0 after the last turn, and
    for an episode truncated at turn ``t`` its final observation's value (the state the
    episode was cut off in; :func:`baselines.ppo.core.gae` uses it in place of 0 there). A
    terminated episode's entry is ignored by GAE."""
    turn = turns[t]
    assert turn.truncated is not None and turn.live is not None  # set by rollout.play
    if t + 1 < len(turns):
        next_value = turns[t + 1].values[:, 0].clone()
    else:
        next_value = torch.zeros(len(turn), device=turn.values.device)
    cut = (turn.truncated.cpu() & turn.live).nonzero().flatten().tolist()
    if cut:
        assert turn.infos is not None  # collect keeps the step's infos
        next_value[cut] = state_values(policy, [turn.infos["final_obs"][i] for i in cut])
    return next_value


@torch.no_grad()
def state_values(policy: PolicyWithValue, observations: list[dict[str, np.ndarray]]) -> Tensor:
    """(n,) V of ``tokens`` observations (a truncated episode's final state)."""
    device = next(policy.parameters()).device
    ids = torch.as_tensor(np.stack([o["input_ids"] for o in observations]))
    mask = torch.as_tensor(np.stack([o["attention_mask"] for o in observations]))
    _, values = policy(ids.to(device), mask.to(device))
    return values[:, -1]


def episode_advantages(
    turns: list[Experience],
    episode_scores: Tensor,
    policy: PolicyWithValue,
    *,
    per_episode: Callable[[Tensor], Tensor],
) -> None:
    """The critic-free advantages: ``per_episode(episode_scores)`` (B,), one per episode,
    given to every response token of each of its turns; no value targets (``returns`` 0)."""
    advantages = per_episode(episode_scores)  # (B,)
    for turn in turns:
        turn.advantages = core.sequence_to_tokens(advantages, turn.response_mask)
        turn.returns = torch.zeros_like(turn.advantages)
