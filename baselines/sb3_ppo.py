"""PPO (Stable-Baselines3) on a textgym environment, acting on the LM's top-k proposals.

python -m baselines.sb3_ppo --env-id TextSentiment-v0 --total-timesteps 50000
python -m baselines.sb3_ppo --evaluate runs/sb3/ppo-TextSentiment-v0-0
"""

from dataclasses import dataclass

from baselines.sb3_common import SB3Config, run


@dataclass
class PPOConfig(SB3Config):
    algo = "ppo"

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
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping norm"""


def main(argv: list[str] | None = None) -> dict:
    from stable_baselines3 import PPO

    return run(PPO, PPOConfig, argv)


if __name__ == "__main__":
    main()
