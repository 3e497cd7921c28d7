"""MaskablePPO (sb3-contrib) on a textgym environment: PPO that only plays valid proposals.

With ``topk_top_p < 1`` a proposal is valid only while the proposals ranked above it hold
less than ``topk_top_p`` of the LM's probability (at ``topk_temperature``); the env's
``action_masks()`` says which, and MaskablePPO gives the invalid ones zero probability,
in training (through ``env_method("action_masks")``) and in evaluation.

    python -m baselines.sb3_maskable_ppo --env-id TextSentiment-v0 --total-timesteps 50000
    python -m baselines.sb3_maskable_ppo --evaluate runs/sb3/maskable_ppo-TextSentiment-v0-0
"""

from dataclasses import dataclass
from typing import Any

from baselines.sb3_common import SB3Config, evaluate_saved, parse_config, train


@dataclass
class MaskablePPOConfig(SB3Config):
    algo = "maskable_ppo"

    topk_temperature: float = 1.0
    """temperature at which the proposals' probabilities (and so the mask) are computed"""
    topk_top_p: float = 0.9
    """nucleus mass: proposals ranked after this much probability are masked"""
    n_steps: int = 128
    """rollout steps per sub-environment between updates (n_steps * num_envs per rollout)"""
    batch_size: int = 256
    """minibatch size"""
    n_epochs: int = 4
    """optimisation epochs over each rollout"""
    gamma: float = 1.0
    """discount factor (1: the reward comes once, at the end of the episode)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_range: float = 0.2
    """PPO clipping parameter"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""

    def env_kwargs(self) -> dict[str, Any]:
        return {
            **super().env_kwargs(),
            "topk_temperature": self.topk_temperature,
            "topk_top_p": self.topk_top_p,
        }


def main(argv: list[str] | None = None) -> dict:
    from sb3_contrib import MaskablePPO

    config = parse_config(MaskablePPOConfig, argv)
    if config.evaluate:
        return evaluate_saved(MaskablePPO, MaskablePPOConfig, config.evaluate, config)
    return train(
        MaskablePPO,
        config,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
    )


if __name__ == "__main__":
    main()
