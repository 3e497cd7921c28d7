"""PPO (Stable-Baselines3) on a textgym environment, acting on the LM's top-k proposals.

python -m baselines.sb3_ppo --env-id TextSentiment-v0 --total-timesteps 50000
python -m baselines.sb3_ppo --evaluate runs/sb3/ppo-TextSentiment-v0-0
"""

from dataclasses import dataclass

from baselines.sb3_common import SB3Config, run


@dataclass
class PPOConfig(SB3Config):
    algo = "ppo"

    learning_rate: float = 3e-3
    """optimizer learning rate (high: the default linear proposal scorer has few weights)"""
    n_steps: int = 64
    """rollout steps per sub-environment between updates (n_steps * num_envs per rollout)"""
    batch_size: int = 256
    """minibatch size"""
    n_epochs: int = 10
    """optimisation epochs over each rollout"""
    gamma: float = 0.5
    """discount factor (short-sighted: with dense rewards a token's own reward is its credit)"""
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
