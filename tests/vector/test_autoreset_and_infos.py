"""Every Gymnasium autoreset mode, partial resets with ``reset_mask``, and numeric infos."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import textgym
from tests.vector.test_vector_env import _actions, _assert_same

DISABLED = AutoresetMode.DISABLED


def _make(mode, vectorization, **kwargs):
    kwargs = dict(model="tiny", max_new_tokens=3, **kwargs)
    if vectorization == "sync":
        return gym.make_vec(
            "TextDialogue-v0",
            num_envs=3,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": mode},
            **kwargs,
        )
    return gym.make_vec("TextDialogue-v0", num_envs=3, autoreset_mode=mode, **kwargs)


@pytest.mark.parametrize("obs_mode", ["tokens", "embedding"])
def test_disabled_autoreset_with_reset_mask_equals_sync_vector_env(obs_mode):
    kwargs = dict(obs_mode=obs_mode, num_turns=1, similarity="lexical")
    runs = []
    for vectorization in ("sync", "ours"):
        vec = _make(DISABLED, vectorization, **kwargs)
        assert vec.metadata["autoreset_mode"] == DISABLED
        rng = np.random.default_rng(0)
        records = [vec.reset(seed=7)]
        for t in range(14):
            step = vec.step(_actions(vec, rng, t))
            records.append(step)
            done = step[2] | step[3]
            if done.any():  # reset just the finished rows; the others go on
                records.append(vec.reset(options={"reset_mask": done}))
        runs.append(records)
    _assert_same(*runs)


def test_disabled_autoreset_never_resets_by_itself():
    vec = _make(DISABLED, "ours", num_turns=1, similarity="lexical")
    vec.reset(seed=0)
    for _ in range(3):
        _, _, _, truncated, _ = vec.step(np.full(3, 5))
    assert truncated.all()
    with pytest.raises(gym.error.ResetNeeded, match="sub-environment 0.*reset_mask"):
        vec.step(np.full(3, 5))
    mask = np.array([True, False, True])
    obs, info = vec.reset(options={"reset_mask": mask})
    assert info["_turn"].tolist() == mask.tolist()  # infos of the reset rows only
    with pytest.raises(gym.error.ResetNeeded, match="sub-environment 1"):
        vec.step(np.full(3, 5))
    for bad, error in [
        ([True, False, True], TypeError),
        (np.array([1, 0, 1]), TypeError),
        (np.array([True, False]), ValueError),
        (np.zeros(3, dtype=bool), ValueError),
    ]:
        with pytest.raises(error, match="reset_mask"):
            vec.reset(options={"reset_mask": bad})


@pytest.mark.parametrize("env_id", textgym.ENV_IDS)
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(obs_mode="tokens", action_mode="token", kl_coef=0.1),
        dict(obs_mode="proposals", action_mode="topk", topk=4),
        dict(obs_mode="text", action_mode="utterance"),
    ],
    ids=["token-kl", "topk", "utterance"],
)
def test_numeric_infos_have_the_same_numeric_keys_on_every_step(env_id, kwargs):
    extra = dict(num_turns=2, similarity="lexical") if env_id == "TextDialogue-v0" else {}
    env = gym.make(env_id, model="tiny", max_new_tokens=3, info_mode="numeric", **kwargs, **extra)
    check_env(env.unwrapped)
    env.action_space.seed(0)
    _, info = env.reset(seed=0)
    keys = set(info)
    assert "metric" in keys and "generation" not in keys
    for _ in range(12):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert set(info) == keys
        assert all(np.asarray(v).dtype.kind in "biuf" for v in info.values()), info
        if info["turn_ended"]:
            assert info["metric"] == env.unwrapped.text_info()["reward_components"]["reward"]
        if terminated or truncated:
            assert info["episode_return"] == pytest.approx(
                env.unwrapped.text_info()["episode_return"]
            )
            env.reset()
    assert env.unwrapped.text_info()["prompt"]  # the texts stay one call away


def test_numeric_vector_infos_have_no_masks_missing():
    vec = gym.make_vec(
        "TextSentiment-v0", num_envs=3, model="tiny", max_new_tokens=2, info_mode="numeric"
    )
    _, info = vec.reset(seed=0)
    keys = set(info)
    for _ in range(6):
        _, _, _, _, info = vec.step(np.full(3, 5))
        assert set(info) == keys
        assert all(info[f"_{k}"].all() for k in keys if not k.startswith("_"))
    texts = vec.text_infos()
    assert [t["example_id"] for t in texts] == [e.example.id for e in vec.envs]
