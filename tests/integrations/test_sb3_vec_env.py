"""SB3VecEnv: the same trajectories as SyncVectorEnv (SAME_STEP), in SB3's VecEnv API."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

from textgym.integrations.sb3 import SB3VecEnv, make_sb3_vec_env

NUM_ENVS = 3
EOS = 2  # <|im_end|> in SmolLM2's tokenizer: ends the agent's turn


def _adapter(env_id, **kwargs):
    venv = gym.make_vec(
        env_id,
        num_envs=NUM_ENVS,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        model="tiny",
        **kwargs,
    )
    return SB3VecEnv(venv)


def _sync(env_id, **kwargs):
    fns = [lambda: gym.make(env_id, model="tiny", **kwargs) for _ in range(NUM_ENVS)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


def _assert_obs_equal(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    else:  # embeddings: batched matmuls round differently from one-row ones
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def _actions(mode, rng, step):
    if mode == "token":
        actions = rng.integers(3, 1000, size=NUM_ENVS)
        actions[rng.random(NUM_ENVS) < 0.3] = EOS  # some sub-envs end a turn, others go on
        return actions
    return rng.integers(0, 4, size=NUM_ENVS)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(obs_mode="tokens", action_mode="token", max_obs_tokens=32),
        dict(obs_mode="embedding", action_mode="topk", topk=4),
    ],
    ids=["tokens", "embedding"],
)
def test_adapter_matches_sync_vector_env(kwargs):
    env_id = "TextSentiment-v0"
    kwargs = dict(kwargs, max_new_tokens=4)
    adapter, sync = _adapter(env_id, **kwargs), _sync(env_id, **kwargs)
    adapter.seed(7)
    obs = adapter.reset()
    sync_obs, sync_info = sync.reset(seed=7)
    _assert_obs_equal(obs, sync_obs)
    assert [i["example_id"] for i in adapter.reset_infos] == list(sync_info["example_id"])
    rng = np.random.default_rng(0)
    seen = {"terminated": 0, "truncated": 0}
    for step in range(14):
        actions = _actions(kwargs["action_mode"], rng, step)
        obs, rewards, dones, infos = adapter.step(actions)
        sync_obs, sync_rewards, terminated, truncated, sync_info = sync.step(actions)
        _assert_obs_equal(obs, sync_obs)
        np.testing.assert_allclose(rewards, sync_rewards, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(dones, terminated | truncated)
        for i, info in enumerate(infos):
            assert info["TimeLimit.truncated"] == bool(truncated[i] and not terminated[i])
            if dones[i]:
                final = sync_info["final_info"]
                _assert_obs_equal(info["terminal_observation"], sync_info["final_obs"][i])
                assert info["generation"] == final["generation"][i]
                assert info["episode_return"] == pytest.approx(final["episode_return"][i])
                assert adapter.reset_infos[i]["example_id"] == sync_info["example_id"][i]
                seen["terminated" if terminated[i] else "truncated"] += 1
            else:
                assert "terminal_observation" not in info
                assert info["generation"] == sync_info["generation"][i]
    # The comparison covered finished episodes (and, with token actions, both kinds of end).
    assert seen["truncated"] > 0
    if kwargs["action_mode"] == "token":
        assert seen["terminated"] > 0
    adapter.close()
    sync.close()


def test_seeds_are_used_once_and_attrs_reach_the_sub_envs():
    env = _adapter("TextSentiment-v0", obs_mode="embedding", action_mode="topk", topk=4)
    env.seed(3)
    env.reset()
    first = [i["example_id"] for i in env.reset_infos]
    env.seed(3)
    env.reset()
    assert [i["example_id"] for i in env.reset_infos] == first
    assert env._seeds == [None] * NUM_ENVS  # used once, as in DummyVecEnv
    assert env.get_attr("topk") == [4] * NUM_ENVS
    env.set_attr("kl_coef", 0.5, indices=[1])
    assert env.get_attr("kl_coef") == [0.0, 0.5, 0.0]
    assert env.env_is_wrapped(gym.Wrapper) == [False] * NUM_ENVS


def test_rejects_next_step_autoreset_and_text_observations():
    venv = gym.make_vec("TextSentiment-v0", num_envs=2, model="tiny")
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(venv)
    with pytest.raises(ValueError, match="array observations"):
        _adapter("TextSentiment-v0", obs_mode="text")


def test_ppo_learns_on_the_adapter():
    env = make_sb3_vec_env(
        "TextSentiment-v0", 4, seed=0, model="tiny", obs_mode="embedding", action_mode="topk",
        topk=4, max_new_tokens=4,
    )  # fmt: skip
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    assert model.num_timesteps == 128
    # VecMonitor logged the finished episodes: at most 4 tokens each, VADER in [-1, 1].
    assert len(model.ep_info_buffer) >= 128 // 4
    assert all(1 <= ep["l"] <= 4 and -1 <= ep["r"] <= 1 for ep in model.ep_info_buffer)


class MaskCounter(BaseCallback):
    def __init__(self):
        super().__init__()
        self.steps = self.invalid = 0

    def _on_step(self):
        self.steps += len(self.locals["infos"])
        self.invalid += sum(bool(i.get("invalid_action")) for i in self.locals["infos"])
        return True


def test_maskable_ppo_gets_masks_through_env_method():
    # At temperature 0.05 and top_p 0.3 only the first proposal is valid in the tiny model.
    env = make_sb3_vec_env(
        "TextSentiment-v0", 4, seed=0, model="tiny", obs_mode="embedding", action_mode="topk",
        topk=8, max_new_tokens=4, topk_temperature=0.05, topk_top_p=0.3,
    )  # fmt: skip
    calls = []
    adapter = env.unwrapped
    original = adapter.env_method

    def spy(name, *args, **kwargs):
        calls.append(name)
        return original(name, *args, **kwargs)

    adapter.env_method = spy
    env.reset()
    masks = get_action_masks(env)
    assert masks.shape == (4, 8) and masks.dtype == bool
    np.testing.assert_array_equal(masks, adapter.venv.action_masks())
    assert (~masks).any()  # restrictive, so the test below can fail
    model = MaskablePPO("MlpPolicy", env, n_steps=16, batch_size=64, n_epochs=1, seed=0)
    counter = MaskCounter()
    model.learn(64, callback=counter)
    assert calls.count("action_masks") >= 16
    assert counter.steps == 64 and counter.invalid == 0


def test_import_textgym_does_not_import_sb3():
    code = "import sys, textgym; assert 'stable_baselines3' not in sys.modules, 'sb3 imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
