"""Agents for textgym: reference agents now; Stable-Baselines3 agents and token-level PPO
come in later versions."""
