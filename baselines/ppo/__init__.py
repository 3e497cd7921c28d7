"""Token-level PPO for causal LMs, with critic-free variants (REINFORCE, RLOO, GRPO).

- :mod:`baselines.ppo.core`: the algorithm as pure tensor functions (GAE, KL shaping,
  losses, KL controllers, critic-free advantages);
- :mod:`baselines.ppo.policy`: the policy LM with a value head, and the frozen reference;
- :mod:`baselines.ppo.config`: :class:`~baselines.ppo.config.PPOConfig`;
- :mod:`baselines.ppo.rollout`: one turn per sub-environment through a textgym vector env.
"""
