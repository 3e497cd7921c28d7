"""The baseline suite's agents and environments, in the order of its tables and plots:
what :mod:`benchmarks.suite` runs and :mod:`benchmarks.report` sorts by. A module of its own
so that the report need not import the suite (which imports the suite's report)."""

import textgym
from baselines.reference import REFERENCE_AGENTS

# agent -> (config module, config class, algorithm module, algorithm class)
SB3_AGENTS = {
    "ppo": ("baselines.sb3_ppo", "PPOConfig", "stable_baselines3", "PPO"),
    "a2c": ("baselines.sb3_a2c", "A2CConfig", "stable_baselines3", "A2C"),
    "dqn": ("baselines.sb3_dqn", "DQNConfig", "stable_baselines3", "DQN"),
    "maskable-ppo": (
        "baselines.sb3_maskable_ppo",
        "MaskablePPOConfig",
        "sb3_contrib",
        "MaskablePPO",
    ),
}
AGENTS = (*REFERENCE_AGENTS, *SB3_AGENTS)
ENV_ORDER = tuple(textgym.ENV_IDS)
