"""A2C (Stable-Baselines3) on a textgym environment, acting on the LM's top-k proposals.

python -m baselines.sb3_a2c --env-id TextSentiment-v0 --total-timesteps 50000
python -m baselines.sb3_a2c --evaluate runs/sb3/a2c-TextSentiment-v0-0
"""

from dataclasses import dataclass

from baselines.sb3_common import SB3Config, run


@dataclass
class A2CConfig(SB3Config):
    algo = "a2c"

    learning_rate: float = 7e-4
    """optimizer learning rate (RMSprop, SB3's A2C default)"""
    n_steps: int = 8
    """rollout steps per sub-environment between updates"""
    gamma: float = 1.0
    """discount factor (1: the reward comes once, at the end of the episode)"""
    gae_lambda: float = 1.0
    """GAE lambda (1: plain n-step returns, as in the A2C paper)"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping norm"""
    normalize_advantage: bool = False
    """normalise advantages within each rollout"""


def main(argv: list[str] | None = None) -> dict:
    from stable_baselines3 import A2C

    return run(A2C, A2CConfig, argv)


if __name__ == "__main__":
    main()
