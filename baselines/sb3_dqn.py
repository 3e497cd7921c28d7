"""DQN (Stable-Baselines3) on a textgym environment, acting on the LM's top-k proposals.

DQN is off-policy: transitions go to a replay buffer and it learns from minibatches of
them. With embedding observations (576 floats for SmolLM2) a transition is a few KiB, so
the default 100k-transition buffer is a few hundred MiB; shrink ``buffer_size`` on small
machines. ``learning_starts`` is small so that short runs learn at all.

    python -m baselines.sb3_dqn --env-id TextSentiment-v0 --total-timesteps 50000
    python -m baselines.sb3_dqn --evaluate runs/sb3/dqn-TextSentiment-v0-0
"""

from dataclasses import dataclass
from typing import Any

from baselines.sb3_common import SB3Config, run


@dataclass
class DQNConfig(SB3Config):
    algo = "dqn"

    learning_rate: float = 1e-4
    """optimizer learning rate"""
    buffer_size: int = 100_000
    """replay buffer capacity, in transitions (capped at total_timesteps)"""
    learning_starts: int = 256
    """transitions collected before the first gradient step"""
    batch_size: int = 64
    """minibatch size sampled from the replay buffer"""
    gamma: float = 1.0
    """discount factor (1: the reward comes once, at the end of the episode)"""
    train_freq: int = 4
    """vector-env steps between gradient updates"""
    gradient_steps: int = 1
    """gradient steps per update"""
    target_update_interval: int = 1000
    """environment steps between target network updates"""
    exploration_fraction: float = 0.3
    """fraction of training over which epsilon decays"""
    exploration_final_eps: float = 0.05
    """final epsilon of the epsilon-greedy exploration"""

    def policy(self) -> Any:
        # DQN's Q-network has no proposal scorer: the proposals observation goes to a plain
        # MLP over its flattened parts.
        return "MlpPolicy" if self.obs_mode == "embedding" else "MultiInputPolicy"

    def policy_kwargs(self) -> dict[str, Any]:
        return {}

    def algo_kwargs(self) -> dict[str, Any]:
        # A buffer larger than the run would only reserve memory it never fills.
        kwargs = super().algo_kwargs()
        kwargs["buffer_size"] = max(1, min(self.buffer_size, self.total_timesteps))
        return kwargs


def main(argv: list[str] | None = None) -> dict:
    from stable_baselines3 import DQN

    return run(DQN, DQNConfig, argv)


if __name__ == "__main__":
    main()
