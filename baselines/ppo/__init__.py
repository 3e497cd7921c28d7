"""Token-level PPO for causal LMs, with critic-free variants (REINFORCE, RLOO, GRPO).

An iteration of :class:`baselines.ppo.train.Trainer` is rollout -> batch -> update:

- :mod:`baselines.ppo.rollout`: samplers and one turn per sub-environment through a textgym
  vector env, played until every episode has ended;
- :mod:`baselines.ppo.scoring`: the turns' rewards (KL penalty to the frozen reference) and
  advantages, stacked into the batch;
- :mod:`baselines.ppo.update`: epochs of minibatch steps (eager or replayed from CUDA graphs).

They share :class:`baselines.ppo.experience.Experience`, the one record of the data, and
:mod:`baselines.ppo.advantages` holds the algorithms (chosen once from the config). Also:
:mod:`baselines.ppo.core` (the algorithm as pure tensor functions), :mod:`baselines.ppo.policy`
(the policy LM with a value head, and the reference), :mod:`baselines.ppo.fastgen` (the CUDA
sampler), :mod:`baselines.ppo.config`, :mod:`baselines.ppo.checkpoint`, :mod:`baselines.ppo.logs`.
"""
