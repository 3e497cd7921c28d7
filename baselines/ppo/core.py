"""The PPO algorithm for token sequences, as pure functions of tensors.

A batch holds B sequences (one agent turn each) of at most T tokens. Shapes:

- per-token tensors are ``(B, T)``: ``rewards``, ``values``, ``logprobs``, ``mask``
  (1 for a real token, 0 for padding; padding may sit on either side);
- per-sequence tensors are ``(B,)``: the environment's reward, ``dones``, ``truncated``,
  the value after the last token (``last_value``).

Nothing here touches a model or an environment, so every function is tested on small
hand-computed examples (``tests/ppo/test_ppo_core.py``).
"""

import torch
from torch import Tensor


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (a scalar)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def whiten(x: Tensor, mask: Tensor, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """``x`` scaled to mean 0 and standard deviation 1 over the masked entries.

    The standard deviation is the unbiased one (Bessel's correction), as TRL's
    ``masked_whiten``. Padding entries come back as 0. With ``shift_mean=False`` only the
    scale changes (the usual choice for rewards, whose sign carries meaning).
    """
    m = mask.to(x.dtype)
    n = m.sum()
    mean = (x * m).sum() / n.clamp(min=1.0)
    var = (((x - mean) * m) ** 2).sum() / (n - 1).clamp(min=1.0)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return out * m


def last_token_index(mask: Tensor) -> Tensor:
    """(B,) index of each row's last real token; every row needs at least one."""
    if bool((mask.sum(-1) == 0).any()):
        raise ValueError("a row of the mask has no real token: every sequence needs one")
    T = mask.shape[-1]
    return T - 1 - mask.flip(-1).to(torch.long).argmax(-1)


def per_token_rewards(
    env_reward: Tensor, logprobs: Tensor, ref_logprobs: Tensor, kl_coef: float, mask: Tensor
) -> Tensor:
    """(B, T) rewards: ``-kl_coef * (logprobs - ref_logprobs)`` at every real token, plus
    the environment's reward (B,) at each sequence's last real token (Ziegler et al. 2019).

    The log-ratio is the single-sample KL estimate; it is exactly 0 where the policy equals
    the reference, so the first iteration's penalty is 0.
    """
    m = mask.to(logprobs.dtype)
    rewards = -kl_coef * (logprobs - ref_logprobs) * m  # (B, T)
    last = last_token_index(mask)  # (B,)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += env_reward.to(rewards.dtype)
    return rewards


def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    mask: Tensor | None = None,
    truncated: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over tokens; returns ``(advantages, returns)``,
    both (B, T) and 0 at padding.

    Args:
        rewards, values: (B, T) per-token rewards and value estimates V(s_t) (the value
            of the context before token t).
        dones: (B,) bool, the episode ended after the sequence's last token (terminated
            or truncated, Gymnasium's two flags or-ed).
        last_value: (B,) V of the state after the last token: the next turn's first
            state, or the final state of a truncated episode.
        gamma, lam: discount and GAE lambda.
        mask: (B, T) 1 for real tokens; padding is skipped (either side). Default: all 1.
        truncated: (B,) bool, the episode was cut off (time limit, token budget) rather
            than ended by the task. A truncated end is not a terminal state, so the value
            is bootstrapped with ``last_value`` there, as Stable-Baselines3 does (CleanRL
            treats it as terminal, which biases values down near the limit). A terminal
            end bootstraps with 0. Default: no sequence truncated.
    """
    B, T = rewards.shape
    if mask is None:
        mask = torch.ones_like(rewards)
    if truncated is None:
        truncated = torch.zeros(B, dtype=torch.bool, device=rewards.device)
    bootstrap = (~dones.bool() | truncated.bool()).to(values.dtype)  # (B,)
    real = mask.bool()
    next_value = last_value.to(values.dtype) * bootstrap  # (B,) V(s_{t+1})
    next_adv = torch.zeros(B, dtype=values.dtype, device=values.device)  # (B,) A_{t+1}
    advantages = torch.zeros_like(values)
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]  # (B,)
        adv = delta + gamma * lam * next_adv
        # A padding position carries the recursion through unchanged.
        advantages[:, t] = torch.where(real[:, t], adv, torch.zeros_like(adv))
        next_value = torch.where(real[:, t], values[:, t], next_value)
        next_adv = torch.where(real[:, t], adv, next_adv)
    returns = (advantages + values) * mask.to(values.dtype)
    return advantages, returns


def policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, clip: float
) -> tuple[Tensor, Tensor, Tensor]:
    """PPO's clipped surrogate loss, averaged over real tokens.

    Returns ``(loss, clipfrac, approx_kl)``: ``clipfrac`` is the fraction of tokens whose
    clipped term is the active one, ``approx_kl`` the estimate ``(r - 1) - log r`` of
    KL(old || new) (Schulman's k3, as CleanRL), both detached.
    """
    log_ratio = logprobs - old_logprobs  # (B, T)
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean((ratio - 1) - log_ratio, mask)
    return loss, clipfrac, approx_kl


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, clip: float
) -> tuple[Tensor, Tensor]:
    """Clipped value loss ``0.5 * max((V - R)^2, (V_clipped - R)^2)`` over real tokens,
    where ``V_clipped`` stays within ``clip`` of the rollout's value; returns
    ``(loss, clipfrac)``."""
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    err = (values - returns) ** 2
    err_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(err, err_clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((err_clipped > err).float(), mask)
    return loss, clipfrac


class AdaptiveKLController:
    """The KL coefficient of Ziegler et al. 2019 ("Fine-Tuning Language Models from Human
    Preferences", section 2.2): a proportional controller that steers the measured KL to
    ``target``. Each update multiplies the coefficient by
    ``1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon``.
    """

    def __init__(self, init_kl_coef: float, target: float, horizon: int) -> None:
        if init_kl_coef < 0 or target <= 0 or horizon <= 0:
            raise ValueError(
                f"AdaptiveKLController needs init_kl_coef >= 0, target > 0 and horizon > 0; "
                f"got {init_kl_coef}, {target}, {horizon}"
            )
        self.value, self.target, self.horizon = float(init_kl_coef), float(target), horizon

    def update(self, current_kl: float, n_steps: int) -> float:
        """Adjust after a batch of ``n_steps`` samples whose mean KL was ``current_kl``;
        returns the new coefficient."""
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value


class FixedKLController:
    """A constant KL coefficient, with the adaptive controller's interface."""

    def __init__(self, kl_coef: float) -> None:
        if kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        self.value = float(kl_coef)

    def update(self, current_kl: float, n_steps: int) -> float:
        return self.value


# -- critic-free advantages: one scalar per sequence, (N,) -> (N,) ----------------------------
# For RLOO and GRPO the N = P * k sequences hold k samples of each of P prompts, a prompt's
# samples next to each other (rows i*k .. i*k + k - 1), as ``repeat_interleave`` lays them.


def reinforce_advantages(rewards: Tensor, baseline: float | Tensor | None = None) -> Tensor:
    """REINFORCE with a baseline: ``rewards - baseline``; the batch mean by default, or a
    running mean (:class:`RunningBaseline`) kept across iterations."""
    if baseline is None:
        baseline = rewards.mean()
    return rewards - baseline


class RunningBaseline:
    """An exponential moving average of rewards, for :func:`reinforce_advantages`."""

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value: float | None = None

    def update(self, rewards: Tensor) -> float:
        """Fold in a batch of rewards; returns the new baseline. The first batch sets it."""
        mean = float(rewards.float().mean())
        if self.value is None:
            self.value = mean
        else:
            self.value = self.decay * self.value + (1.0 - self.decay) * mean
        return self.value


def _groups(rewards: Tensor, k: int) -> Tensor:
    if k < 2 or rewards.numel() % k:
        raise ValueError(
            f"{rewards.numel()} rewards cannot form groups of k={k}: k must be >= 2 and "
            "divide the number of sequences"
        )
    return rewards.view(-1, k)  # (P, k)


def rloo_advantages(rewards: Tensor, k: int) -> Tensor:
    """REINFORCE leave-one-out (Ahmadian et al. 2024): each sample's reward minus the mean
    of the other k - 1 samples of its prompt."""
    g = _groups(rewards, k)  # (P, k)
    others = (g.sum(-1, keepdim=True) - g) / (k - 1)
    return (g - others).view(-1)


def grpo_advantages(rewards: Tensor, k: int, scale: bool = True, eps: float = 1e-4) -> Tensor:
    """GRPO (Shao et al. 2024): rewards normalised within each prompt's group,
    ``(r - mean) / (std + eps)`` with the unbiased std, as TRL; ``scale=False`` only
    subtracts the mean (Dr. GRPO, Liu et al. 2025)."""
    g = _groups(rewards, k)  # (P, k)
    adv = g - g.mean(-1, keepdim=True)
    if scale:
        adv = adv / (g.std(-1, keepdim=True) + eps)
    return adv.view(-1)


def sequence_to_tokens(advantages: Tensor, mask: Tensor) -> Tensor:
    """(B, T): a per-sequence advantage (B,) given to each of its real tokens, the
    critic-free variants' token advantages."""
    return advantages[:, None].to(torch.float32) * mask.to(torch.float32)
