"""Seeded fuzzing of every id x observation x action mode on the tiny model.

Each episode mixes valid actions with invalid ones (wrong types, shapes, ranges, ragged
lists, huge and odd strings) and steps after the episode ended. It asserts that every
rejected call raises textgym's own error types with a message, that a rejected call leaves
the episode exactly as it was, and that every episode ends within its step bound.

``TEXTGYM_FUZZ_EPISODES=10000 python -m pytest tests/test_fuzz.py`` runs a longer campaign.
"""

import itertools
import os

import gymnasium as gym
import numpy as np
import pytest

import textgym
from textgym.errors import InvalidAction, ResetNeeded

EPISODES = int(os.environ.get("TEXTGYM_FUZZ_EPISODES", "240"))
OBS_MODES = ("tokens", "text", "embedding", "proposals")
ACTION_MODES = ("token", "topk", "utterance")
BUDGET = 4
ODD_TEXTS = ["", "%s %d %(x)s {0} \\n", "\ud800 lone", "\x00\x07\x1b[31m", "é" * 3000, "<|im_end|>"]


def _make(env_id, obs_mode, action_mode):
    kwargs = dict(model="tiny", obs_mode=obs_mode, action_mode=action_mode, topk=4)
    kwargs["max_new_tokens"] = BUDGET
    if env_id == "TextDialogue-v0":
        kwargs.update(num_turns=2, partner_max_new_tokens=3, similarity="lexical")
    return gym.make(env_id, **kwargs).unwrapped


def _invalid_actions(env, rng):
    n = env.action_space.nvec[0] if env.action_mode == "utterance" else env.action_space.n
    common = [None, 1.5, float("nan"), True, {"a": 1}, object(), np.array([[1]]), -1, 2**70]
    if env.action_mode == "utterance":
        return [*common, [[1, 2], [3]], [1, [2]], [-1], [n], np.array([0.5]), (1, "a")]
    return [*common, n, "text", [1], np.array([1, 2]), np.float32(2.0)]


def _valid_action(env, rng):
    if env.action_mode == "utterance":
        if rng.random() < 0.3:
            return ODD_TEXTS[int(rng.integers(len(ODD_TEXTS)))]
        return rng.integers(0, env.lm.vocab_size, size=int(rng.integers(0, BUDGET + 3))).tolist()
    if env.action_mode == "topk":
        return int(rng.integers(env.topk))
    return int(rng.integers(0, 1000)) if rng.random() < 0.9 else 2  # 2 ends a turn


def _snapshot(env):
    episode = env.episode
    proposals = None if env.proposals is None else env.proposals.ids.tolist()
    return (
        env.context_ids,
        list(env.turn.tokens),
        None if episode is None else (list(episode.turns), episode.total, episode.over),
        proposals,
        env.partner_due,
    )


def fuzz(episodes: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(textgym.ENV_IDS, OBS_MODES, ACTION_MODES))
    envs: dict[tuple[str, str, str], gym.Env] = {}
    counts = {"episodes": 0, "steps": 0, "rejected": 0}
    for e in range(episodes):
        combo = combos[int(rng.integers(len(combos)))]
        env = envs.get(combo) or envs.setdefault(combo, _make(*combo))
        env.reset(seed=int(rng.integers(2**31)))
        invalid = _invalid_actions(env, rng)
        done, steps = False, 0
        while not done:
            steps += 1
            assert steps < 4 * BUDGET * 2 + 20, f"episode {e} of {combo} did not end"
            if rng.random() < 0.3:
                action = invalid[int(rng.integers(len(invalid)))]
                before = _snapshot(env)
                with pytest.raises(InvalidAction) as err:
                    env.step(action)
                assert str(err.value), (combo, action)
                assert _snapshot(env) == before, (combo, action)
                counts["rejected"] += 1
                continue
            _, reward, terminated, truncated, info = env.step(_valid_action(env, rng))
            assert np.isfinite(reward) and isinstance(info["generation"], str)
            done = terminated or truncated
            counts["steps"] += 1
        before = _snapshot(env)
        with pytest.raises(ResetNeeded, match="call env.reset"):
            env.step(_valid_action(env, rng))
        assert _snapshot(env) == before
        counts["episodes"] += 1
    return counts


def test_fuzzed_episodes_raise_only_clear_errors_and_lose_nothing():
    counts = fuzz(EPISODES, seed=0)
    assert counts["episodes"] == EPISODES and counts["rejected"] > EPISODES // 2
