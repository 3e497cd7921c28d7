"""Stable-Baselines3 compatibility on the tiny model: SB3's env checker, and short PPO and
MaskablePPO runs that train on textgym environments end to end.

Text observations (``obs_mode="text"``) are not supported by SB3: its policies need numpy
array (or dict-of-array) observations, so its checker rejects a ``Text`` space. Use
``obs_mode="tokens"``, ``"embedding"`` or ``"proposals"`` with SB3.
"""

import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_checker import check_env

from tests.conftest import ENV_IDS, make

DIALOGUE = "TextDialogue-v0"


def make_env(env_id, **kwargs):
    """gym.make on the tiny model; dialogue gets lexical similarity, two turns and a short
    LM partner."""
    if env_id == DIALOGUE:
        kwargs.setdefault("similarity", "lexical")
        kwargs.setdefault("num_turns", 2)
        kwargs.setdefault("partner_max_new_tokens", 4)
    return make(env_id, **kwargs)


@pytest.mark.parametrize("action_mode", ["token", "topk", "utterance"])
@pytest.mark.parametrize("obs_mode", ["tokens", "embedding", "proposals"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env_passes(env_id, obs_mode, action_mode):
    env = make_env(env_id, obs_mode=obs_mode, action_mode=action_mode, max_new_tokens=4, topk=4)
    check_env(env, warn=True)


def test_sb3_check_env_rejects_text_observations():
    env = make_env("TextTranslation-v0", obs_mode="text")
    with pytest.raises(AssertionError, match="must be a numpy array"):
        check_env(env)


class InfoCounter(BaseCallback):
    """Counts, over the rollouts, steps that played a masked proposal and states whose
    top-k mask was restrictive."""

    def __init__(self):
        super().__init__()
        self.steps = self.invalid = self.restricted = 0

    def _on_step(self):
        for info in self.locals["infos"]:
            self.steps += 1
            self.invalid += bool(info.get("invalid_action"))
            mask = info.get("action_mask")
            self.restricted += mask is not None and not mask.all()
        return True


def _params(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def _changed(before, model):
    return any(
        not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True)
    )


def test_ppo_learns_on_embedding_observations_and_topk_actions():
    env = make_env(
        "TextSentiment-v0", obs_mode="embedding", action_mode="topk", topk=8, max_new_tokens=8
    )
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    before = _params(model)
    counter = InfoCounter()
    model.learn(2048, callback=counter)
    assert model.num_timesteps == 2048 and counter.steps == 2048
    assert _changed(before, model)
    # Episodes of at most 8 tokens: about 2048 / 8 of them were completed and logged.
    assert len(model.ep_info_buffer) == 100
    assert all(1 <= ep["l"] <= 8 for ep in model.ep_info_buffer)
    assert all(-1.0 <= ep["r"] <= 1.0 for ep in model.ep_info_buffer)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))
        obs, *_ = env.step(action)


def test_ppo_multi_input_policy_on_token_observations():
    env = make_env("TextSentiment-v0", obs_mode="tokens", max_obs_tokens=32, max_new_tokens=8)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    before = _params(model)
    model.learn(256)
    assert model.num_timesteps == 256 and _changed(before, model)
    assert len(model.ep_info_buffer) >= 256 // 8
    obs, _ = env.reset(seed=0)
    assert obs["input_ids"].shape == (32,)
    action, _ = model.predict(obs)
    assert env.action_space.contains(int(action))
    obs, *_ = env.step(action)
    assert obs["input_ids"][-1] == int(action)


def test_maskable_ppo_only_plays_valid_proposals():
    # Temperature 0.1 and top_p 0.3 leave a single valid proposal in most states of the
    # tiny model (its distribution is nearly flat at temperature 1).
    kwargs = dict(obs_mode="embedding", action_mode="topk", topk=8, max_new_tokens=8)
    kwargs.update(topk_temperature=0.1, topk_top_p=0.3)
    env = make_env("TextSentiment-v0", **kwargs)
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    before = _params(model)
    counter = InfoCounter()
    model.learn(512, callback=counter)
    assert model.num_timesteps == 512 and _changed(before, model)
    assert counter.restricted > 100  # the masks did restrict the choice ...
    assert counter.invalid == 0  # ... and no masked proposal was played
    obs, _ = env.reset(seed=0)
    for _ in range(4):
        masks = env.unwrapped.action_masks()
        action, _ = model.predict(obs, action_masks=masks, deterministic=True)
        assert masks[int(action)]
        obs, _, terminated, truncated, info = env.step(action)
        assert "invalid_action" not in info
        if terminated or truncated:
            break


def test_unmasked_ppo_on_the_same_env_plays_masked_proposals():
    """The control for the MaskablePPO test: without masks, masked proposals get played
    (and replaced by the first proposal)."""
    kwargs = dict(obs_mode="embedding", action_mode="topk", topk=8, max_new_tokens=8)
    kwargs.update(topk_temperature=0.1, topk_top_p=0.3)
    env = make_env("TextSentiment-v0", **kwargs)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    counter = InfoCounter()
    model.learn(64, callback=counter)
    assert counter.restricted > 10 and counter.invalid > 10
