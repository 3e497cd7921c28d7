"""Reference agent: the environment's own LM as a zero-shot policy (greedy or sampled).

It acts on the token interface: at each step it samples the next token from the LM's
next-token distribution over the environment's full context, kept in a KV cache, so a
step costs one token's forward pass. Tokens the environment adds (a dialogue partner's
turn) are appended to the cache in one forward.
"""

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from textgym.core import text_env


@dataclass
class LMPolicyConfig:
    temperature: float = 0.7
    """sampling temperature; 0 is greedy"""
    top_p: float = 0.9
    """nucleus sampling mass"""
    top_k: int = 0
    """sample among the k most likely tokens (0: no limit)"""
    seed: int = 0
    """seed of the policy's own torch generator"""


class LMPolicy:
    """Zero-shot LM policy for any textgym environment with ``action_mode="token"``."""

    def __init__(self, env: gym.Env, config: LMPolicyConfig | None = None) -> None:
        import torch

        self.env = text_env(env)
        self.lm = self.env.lm
        self.config = config or LMPolicyConfig()
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self._stream: Any = None

    def reset(self) -> None:
        """Call after ``env.reset()``: the next :meth:`act` starts from the new context."""
        self._stream = None

    def act(self) -> int:
        from textgym.lm import sample

        context = self.env.context_ids
        if self._stream is None:
            self._stream = self.lm.stream(context)
        else:
            self._stream.extend(context[len(self._stream.ids) :])
        logits = self._stream.logits.view(1, -1)
        cfg = self.config
        return int(sample(logits, cfg.temperature, cfg.top_p, cfg.top_k, self.generator)[0])


def run_episode(env: gym.Env, policy: LMPolicy, seed: int | None = None) -> dict[str, Any]:
    """Play one episode; returns its return, length, final info and the ansi rendering."""
    obs, info = env.reset(seed=seed)
    policy.reset()
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy.act())
        total += float(reward)
        steps += 1
        done = terminated or truncated
    rendered = text_env(env).render_text()
    return {"return": total, "length": steps, "info": info, "rendered": rendered}
