"""Adapters to RL libraries, imported explicitly (``import textgym`` imports none of them).

- :mod:`textgym.integrations.sb3`: a Stable-Baselines3 ``VecEnv`` over textgym's batched
  vector env (``pip install "textgym[sb3]"``).
"""
