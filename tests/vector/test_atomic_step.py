"""A rejected vector step or reset changes nothing: every sub-environment stays exactly as a
seeded twin that never saw the bad call, and the error names the row and the value."""

import gymnasium as gym
import numpy as np
import pytest

from tests.vector.test_vector_env import _assert_same

N = 4
CASES = [
    ("TextTranslation-v0", dict(obs_mode="proposals", action_mode="topk", topk=8)),
    ("TextSentiment-v0", dict(obs_mode="embedding", action_mode="token")),
    ("TextSummarization-v0", dict(obs_mode="text", action_mode="utterance", max_new_tokens=6)),
    (
        "TextDialogue-v0",
        dict(obs_mode="tokens", action_mode="topk", topk=4, num_turns=2, max_new_tokens=3),
    ),
]


def _make(env_id, kwargs):
    return gym.make_vec(
        env_id, num_envs=N, vectorization_mode="vector_entry_point", model="tiny", **kwargs
    )


def _valid(vec, t):
    space = vec.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return [int(3 + (7 * t + 3 * i) % (min(space.n, 900) - 3)) for i in range(N)]
    return [[100 + t, 101 + i] for i in range(N)]


def _bad_batches(vec):
    space = vec.single_action_space
    last_row_bad = list(_valid(vec, 0))
    if isinstance(space, gym.spaces.Discrete):
        last_row_bad[-1] = None
        return [
            (last_row_bad, "sub-environment 3"),
            (last_row_bad[:-1] + [space.n], "sub-environment 3"),
            (last_row_bad[:-1] + [1.5], "sub-environment 3"),
            ([0, 1, 2], "3 actions for 4 environments"),
            (np.zeros((N, 2), dtype=np.int64), "sub-environment 0"),
        ]
    last_row_bad[-1] = [1, 2, 10**9]
    return [
        (last_row_bad, "sub-environment 3"),
        (last_row_bad[:-1] + [[[1, 2], [3]]], "sub-environment 3"),
        (np.full((N, 6), -1), "sub-environment 0"),
    ]


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=[c[0] for c in CASES])
def test_a_rejected_step_leaves_every_row_as_its_seeded_twin(env_id, kwargs):
    victim, twin = _make(env_id, kwargs), _make(env_id, kwargs)
    _assert_same(victim.reset(seed=3), twin.reset(seed=3))
    done, checked = np.zeros(N, dtype=bool), 0
    for t in range(8):
        if t and not done.any():  # a row that autoresets ignores its action
            checked += 1
            for bad, row in _bad_batches(victim):
                with pytest.raises(gym.error.InvalidAction, match=row) as err:
                    victim.step(bad)
                assert isinstance(err.value, ValueError)
        actions = _valid(victim, t)
        result = victim.step(actions)
        _assert_same(result, twin.step(actions))
        done = result[2] | result[3]
    assert checked >= 2
    assert [e.context_ids for e in victim.envs] == [e.context_ids for e in twin.envs]


def test_a_rejected_reset_resets_no_row():
    victim = _make("TextSentiment-v0", dict(obs_mode="tokens"))
    twin = _make("TextSentiment-v0", dict(obs_mode="tokens"))
    victim.reset(seed=0), twin.reset(seed=0)
    victim.step(_valid(victim, 0)), twin.step(_valid(twin, 0))
    for options, match in [
        ({"example_index": [0, 1, 999, 2]}, "sub-environment 2.*999"),
        ({"example_index": 1.5}, "1.5"),
        ({"example_index": [0, 1, True, 2]}, "sub-environment 2.*True"),
        ({"example_index": "0"}, "'0'"),
    ]:
        with pytest.raises(ValueError, match=match):
            victim.reset(seed=5, options=options)
    with pytest.raises(ValueError, match="seed 1.5 of sub-environment 1"):
        victim.reset(seed=[0, 1.5, 2, 3])
    _assert_same(victim.step(_valid(victim, 1)), twin.step(_valid(twin, 1)))
