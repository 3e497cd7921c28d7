"""Rollouts: the policy writes one turn per sub-environment, the environment scores it.

Three separate steps, as TRL separates them:

1. :func:`generate`: batched sampling from the policy with a KV cache, recording each
   sampled token's log-prob and the value of the context before it on the way, so no
   second forward over the batch is needed to get PPO's "old" log-probs and values;
2. :func:`collect`: step a textgym vector env (``action_mode="utterance"``) with the
   generated turns; every reward comes from the environment;
3. :func:`score`: the frozen reference's log-probs and the per-token rewards
   (KL penalty on every token, the environment's reward on the last one).

This is the plain PyTorch path (CPU and GPU alike); a static-cache, CUDA-graph generator
can replace :func:`generate` with the same outputs.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

from baselines.ppo import core
from baselines.ppo.policy import PolicyWithValue, logprobs_of, position_ids, reference_logprobs
from textgym.lm import sample


@dataclass
class Rollout:
    """One turn per sub-environment; the layout of :mod:`baselines.ppo.policy`."""

    input_ids: Tensor
    """(B, P + R) left-padded prompts, then right-padded responses"""
    attention_mask: Tensor
    """(B, P + R) 1 on real tokens"""
    prompt_width: int
    """P: every response starts at this column"""
    response_mask: Tensor
    """(B, R) 1 on the response's real tokens"""
    logprobs: Tensor
    """(B, R) log pi of each response token, recorded while sampling (0 at padding)"""
    values: Tensor
    """(B, R) V of the context before each response token (0 at padding)"""
    ended_with_eos: Tensor
    """(B,) the turn ended with an end-of-turn token (not by the budget)"""
    env_rewards: Tensor
    """(B,) the environment's reward for the turn"""
    terminated: Tensor
    """(B,) bool, Gymnasium's flag"""
    truncated: Tensor
    """(B,) bool, Gymnasium's flag"""
    infos: dict
    """the vector env's infos of the step"""

    @property
    def responses(self) -> Tensor:
        return self.input_ids[:, self.prompt_width :]


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
    """Sample a response to each left-padded prompt (B, P) from the policy at temperature 1
    (the distribution PPO's ratios refer to).

    Returns ``(responses, response_mask, logprobs, values)``, all (B, R) with R at most
    ``max_new_tokens``: a row stops after a token in ``stop_ids`` (kept) and is padded
    with ``pad_id`` after it.
    """
    was_training = policy.training
    policy.eval()
    B = prompt_ids.shape[0]
    device = prompt_ids.device
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    mask = prompt_mask.long()
    step_ids, past = prompt_ids, None
    done = torch.zeros(B, dtype=torch.bool, device=device)
    tokens, real, logps, vals = [], [], [], []
    for _ in range(max_new_tokens):
        out = policy.lm(
            input_ids=step_ids,
            attention_mask=mask,
            position_ids=position_ids(mask)[:, -step_ids.shape[1] :],
            past_key_values=past,
            use_cache=True,
            output_hidden_states=True,
        )
        past = out.past_key_values
        logits = out.logits[:, -1].float()  # (B, V)
        value = policy.value_of(out.hidden_states[-1][:, -1])  # (B,)
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


def collect(
    envs: Any,
    policy: PolicyWithValue,
    obs: dict,
    generator: torch.Generator | None = None,
    max_new_tokens: int | None = None,
    timings: dict[str, float] | None = None,
    generate_fn: Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]] | None = None,
) -> tuple[Rollout, dict]:
    """Generate one turn for each sub-environment from its ``tokens`` observation and step
    ``envs`` with it; returns the rollout and the next observations.

    ``timings``, if given, accumulates the seconds spent in ``generate`` and ``env_step``.
    ``generate_fn`` replaces :func:`generate` (same signature and outputs), e.g. the
    static-cache generator on GPU.

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
    responses, response_mask, logprobs, values = (generate_fn or generate)(
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
    rollout = Rollout(
        input_ids=torch.cat([prompt_ids, responses], dim=1),
        attention_mask=torch.cat([prompt_mask, response_mask], dim=1),
        prompt_width=prompt_ids.shape[1],
        response_mask=response_mask,
        logprobs=logprobs,
        values=values,
        ended_with_eos=torch.isin(last, torch.tensor(sorted(lm.eos_ids), device=device)),
        env_rewards=torch.as_tensor(rewards, dtype=torch.float32, device=device),
        terminated=torch.as_tensor(terminated, device=device),
        truncated=torch.as_tensor(truncated, device=device),
        infos=infos,
    )
    return rollout, next_obs


def score(
    rollout: Rollout, reference: Any, kl_coef: float, env_rewards: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``(rewards, ref_logprobs)``, both (B, R): per-token rewards (the KL penalty to the
    frozen ``reference`` model on every token, the turn's reward on the last) and the
    reference's log-probs of the response tokens. The turn's reward is the environment's
    unless ``env_rewards`` (B,) replaces it (e.g. with a missing-EOS penalty applied)."""
    ref = reference_logprobs(
        reference, rollout.input_ids, rollout.attention_mask, rollout.prompt_width
    )
    turn_rewards = rollout.env_rewards if env_rewards is None else env_rewards
    rewards = core.per_token_rewards(
        turn_rewards, rollout.logprobs, ref, kl_coef, rollout.response_mask
    )
    return rewards, ref
