"""Rollouts: the policy writes one turn per sub-environment, the environment scores it.

1. a :class:`Sampler` draws each turn from the policy, recording each sampled token's
   log-prob and the value of the context before it on the way, so no second forward over the
   batch is needed to get PPO's "old" log-probs and values: :func:`generate` (the plain
   KV-cache loop, CPU and GPU alike) or, on CUDA, the static-cache CUDA-graph
   :class:`~baselines.ppo.fastgen.StaticGenerator` with the same outputs;
   :func:`make_sampler` picks one;
2. :func:`collect` steps a textgym vector env (``action_mode="utterance"``) with the sampled
   turns, one :class:`~baselines.ppo.experience.Experience` per step; every reward comes
   from the environment;
3. :func:`play` collects turns until every episode that the observations start has ended (a
   multi-turn episode, e.g. a dialogue, gives one record per turn).

Scoring the turns (reference log-probs, KL penalty, advantages) is
:mod:`baselines.ppo.scoring`'s.
"""

import time
from typing import Protocol

import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from baselines.ppo.experience import Experience
from baselines.ppo.policy import PolicyWithValue, logprobs_of
from textgym.lm import sample
from textgym.sampling import decode_step
from textgym.vector import TextVectorEnv

MAX_TURNS = 64
"""An episode still running after this many turns is an error (an environment that never
ends its episodes)."""

Observation = dict[str, np.ndarray]
"""The vector env's ``tokens`` observation: ``input_ids`` and ``attention_mask``, (B, O)
left-padded to the env's ``max_obs_tokens``."""


class Sampler(Protocol):
    """Samples a response to each left-padded prompt (B, P) from ``policy`` at temperature 1
    and returns ``(responses, response_mask, logprobs, values)``, all (B, R) with R at most
    ``max_new_tokens``: a row stops after a token in ``stop_ids`` (kept) and is padded with
    ``pad_id`` after it; ``logprobs`` and ``values`` are 0 at padding."""

    def __call__(
        self,
        policy: PolicyWithValue,
        prompt_ids: Tensor,
        prompt_mask: Tensor,
        max_new_tokens: int,
        stop_ids: frozenset[int],
        pad_id: int,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]: ...


@torch.no_grad()
def generate(
    policy: PolicyWithValue,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    max_new_tokens: int,
    stop_ids: frozenset[int],
    pad_id: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The plain :class:`Sampler`: a KV-cache loop of :func:`textgym.sampling.decode_step`
    (the step ``LM.generate`` takes too), at temperature 1 (the distribution PPO's ratios
    refer to)."""
    was_training = policy.training
    policy.eval()
    B = prompt_ids.shape[0]
    device = prompt_ids.device
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    mask = prompt_mask.long()
    step_ids, cache = prompt_ids, None
    done = torch.zeros(B, dtype=torch.bool, device=device)
    tokens, real, logps, vals = [], [], [], []
    for _ in range(max_new_tokens):
        step = decode_step(policy.lm, step_ids, mask, cache, hidden=True)
        assert step.hidden is not None  # asked for with hidden=True
        cache, logits = step.cache, step.logits  # logits: (B, V)
        value = policy.value_of(step.hidden)  # (B,)
        token = sample(logits, 1.0, 1.0, 0, generator)  # (B,)
        token = torch.where(done, torch.full_like(token, pad_id), token)
        live = ~done  # (B,) this token belongs to the response
        logp = logprobs_of(logits[:, None], token[:, None])[:, 0]  # (B,)
        tokens.append(token)
        real.append(live)
        logps.append(torch.where(live, logp, torch.zeros_like(logp)))
        vals.append(torch.where(live, value, torch.zeros_like(value)))
        done = done | torch.isin(token, stop)
        if bool(done.all()):
            break
        step_ids = token[:, None]
        mask = torch.cat([mask, live.long()[:, None]], dim=1)
    policy.train(was_training)
    return (
        torch.stack(tokens, dim=1),
        torch.stack(real, dim=1).long(),
        torch.stack(logps, dim=1),
        torch.stack(vals, dim=1),
    )


def make_sampler(
    policy: PolicyWithValue, envs: TextVectorEnv, compile: bool | None = None
) -> Sampler:
    """The sampler for ``envs``' turns: on CUDA a :class:`~baselines.ppo.fastgen.StaticGenerator`
    for their batch shape (built here, captured on its first call and replayed after; it
    samples from a bf16 copy of the policy, refreshed every call, as the update runs under
    bf16 autocast; ``compile`` as its argument), elsewhere :func:`generate`."""
    if next(policy.parameters()).device.type != "cuda":
        return generate
    from baselines.ppo.fastgen import StaticGenerator

    env = envs.envs[0]
    return StaticGenerator(
        policy,
        batch_size=envs.num_envs,
        max_prompt_len=env.max_obs_tokens,
        max_new_tokens=env.max_new_tokens,
        dtype=torch.bfloat16,
        compile=compile,
    )


def collect(
    envs: TextVectorEnv,
    policy: PolicyWithValue,
    obs: Observation,
    generator: torch.Generator | None = None,
    max_new_tokens: int | None = None,
    timings: dict[str, float] | None = None,
    sampler: Sampler = generate,
) -> tuple[Experience, Observation]:
    """Sample one turn for each sub-environment from its ``tokens`` observation with
    ``sampler`` and step ``envs`` with it; returns the turn's record (its sequences, the
    policy's log-probs and values, the environment's rewards, flags and infos; no scores
    yet) and the next observations.

    ``timings``, if given, accumulates the seconds spent in ``generate`` and ``env_step``.

    ``envs`` is a textgym vector env with ``action_mode="utterance"``, ``obs_mode="tokens"``
    and ``autoreset_mode=SAME_STEP`` (so a finished episode's next prompt is already in
    the returned observation instead of costing a generation that the env would ignore).
    """
    if envs.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
        raise ValueError(
            "collect needs a vector env with autoreset_mode=SAME_STEP: "
            'gym.make_vec(env_id, num_envs=B, action_mode="utterance", '
            "autoreset_mode=AutoresetMode.SAME_STEP)"
        )
    lm = envs.lm
    budget = max_new_tokens or envs.envs[0].max_new_tokens
    device = next(policy.parameters()).device
    prompt_ids = torch.as_tensor(obs["input_ids"], dtype=torch.long)
    prompt_mask = torch.as_tensor(obs["attention_mask"], dtype=torch.long)
    # Drop the columns that are padding in every row (observations are left-padded to
    # max_obs_tokens); at least one token stays.
    first = int(prompt_mask.any(0).long().argmax())
    prompt_ids, prompt_mask = prompt_ids[:, first:].to(device), prompt_mask[:, first:].to(device)
    start = time.perf_counter()
    responses, response_mask, logprobs, values = sampler(
        policy, prompt_ids, prompt_mask, budget, lm.eos_ids, lm.pad_id, generator
    )
    lengths = response_mask.sum(-1).tolist()
    actions = [responses[i, :n].tolist() for i, n in enumerate(lengths)]
    generated = time.perf_counter()
    next_obs, rewards, terminated, truncated, infos = envs.step(actions)
    if timings is not None:
        timings["generate"] = timings.get("generate", 0.0) + generated - start
        timings["env_step"] = timings.get("env_step", 0.0) + time.perf_counter() - generated
    last = responses.gather(1, (response_mask.sum(-1, keepdim=True) - 1).clamp(min=0))[:, 0]
    turn = Experience(
        input_ids=torch.cat([prompt_ids, responses], dim=1),
        attention_mask=torch.cat([prompt_mask, response_mask], dim=1),
        prompt_width=prompt_ids.shape[1],
        response_mask=response_mask,
        logprobs=logprobs,
        values=values,
        advantages=torch.zeros_like(logprobs),
        returns=torch.zeros_like(logprobs),
        env_rewards=torch.as_tensor(rewards, dtype=torch.float32, device=device),
        ended_with_eos=torch.isin(last, torch.tensor(sorted(lm.eos_ids), device=device)),
        terminated=torch.as_tensor(terminated, device=device),
        truncated=torch.as_tensor(truncated, device=device),
        infos=infos,
    )
    return turn, next_obs


def play(
    envs: TextVectorEnv,
    policy: PolicyWithValue,
    obs: Observation,
    generator: torch.Generator | None,
    sampler: Sampler = generate,
    timings: dict[str, float] | None = None,
) -> list[Experience]:
    """Play the episodes that ``obs`` starts (one per sub-environment) until every one has
    ended: one record per turn, each with ``live`` set (the rows whose episode was still
    running when the turn began)."""
    turns: list[Experience] = []
    active = torch.ones(envs.num_envs, dtype=torch.bool)
    for _ in range(MAX_TURNS):
        turn, obs = collect(envs, policy, obs, generator, timings=timings, sampler=sampler)
        assert turn.terminated is not None and turn.truncated is not None  # collect sets them
        turn.live = active.clone()
        turns.append(turn)
        active &= ~(turn.terminated | turn.truncated).cpu()
        if not bool(active.any()):
            return turns
    raise RuntimeError(f"episodes did not end within {MAX_TURNS} turns")
