import gymnasium as gym
import numpy as np
import pytest

import textgym


@pytest.fixture(scope="session")
def tiny_lm():
    from textgym.lm import load_lm

    return load_lm("tiny")


def make(env_id: str, **kwargs):
    """gym.make on the tiny model."""
    kwargs.setdefault("model", "tiny")
    return gym.make(env_id, **kwargs)


def play(env, tokens, seed=0):
    """Reset, then step the given tokens; returns (steps, final info)."""
    env.reset(seed=seed)
    steps = []
    for token in tokens:
        obs, reward, terminated, truncated, info = env.step(token)
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


def random_episode(env, seed: int):
    """An episode with actions from a seeded generator; returns comparable records."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    records = [(_freeze(obs), info["example_id"])]
    done = False
    while not done:
        action = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(action)
        records.append((_freeze(obs), reward, terminated, truncated, info["generation"]))
        done = terminated or truncated
    records.append(info.get("user_turns"))
    return records


def _freeze(obs):
    if isinstance(obs, dict):
        return tuple((k, tuple(v.tolist())) for k, v in sorted(obs.items()))
    return obs


ENV_IDS = textgym.ENV_IDS


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread: the tiny model's ops are too small to split, and on a loaded
    2-core machine two threads made the suite ~10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
