"""Rollouts through a textgym vector env on the tiny model."""

import gymnasium as gym
import pytest
import torch
from gymnasium.vector import AutoresetMode

from baselines.ppo.policy import PolicyWithValue
from baselines.ppo.rollout import collect, generate
from baselines.ppo.scoring import score

B = 4


@pytest.fixture(scope="module")
def envs():
    envs = gym.make_vec(
        "TextSentiment-v0",
        num_envs=B,
        model="tiny",
        action_mode="utterance",
        max_new_tokens=8,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    yield envs
    envs.close()


@pytest.fixture(scope="module")
def policy(envs):
    torch.manual_seed(0)
    policy = PolicyWithValue.from_lm(envs.lm)
    # A non-zero value head, so that recorded values are checked against real numbers.
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    return policy


@pytest.fixture(scope="module")
def rollout(envs, policy):
    obs, _ = envs.reset(seed=0)
    rollout, next_obs = collect(envs, policy, obs, torch.Generator().manual_seed(0))
    return rollout


def test_recorded_logprobs_and_values_equal_a_fresh_forward(rollout, policy):
    with torch.no_grad():
        logprobs, values = policy.evaluate(
            rollout.input_ids, rollout.attention_mask, rollout.prompt_width
        )
    m = rollout.response_mask.bool()
    assert rollout.logprobs.shape == rollout.values.shape == rollout.response_mask.shape
    torch.testing.assert_close(rollout.logprobs[m], logprobs[m], rtol=0, atol=1e-4)
    torch.testing.assert_close(rollout.values[m], values[m], rtol=0, atol=1e-4)
    assert float(rollout.values[m].abs().max()) > 1e-3
    assert bool((rollout.logprobs[~m] == 0).all())


def test_env_reward_reaches_the_last_token(rollout, policy, envs):
    rewards, ref = score(rollout, envs.lm.model, kl_coef=0.0)
    lengths = rollout.response_mask.sum(-1)
    for i in range(B):
        n = int(lengths[i])
        assert float(rewards[i, n - 1]) == pytest.approx(float(rollout.env_rewards[i]))
        assert bool((rewards[i, : n - 1] == 0).all()) and bool((rewards[i, n:] == 0).all())
    # Iteration 0: the policy is a copy of the reference, so the KL penalty is 0.
    m = rollout.response_mask.bool()
    torch.testing.assert_close(rollout.logprobs[m], ref[m], rtol=0, atol=1e-4)
    # The env scored exactly the generated turns: every episode ended (single turn).
    assert bool((rollout.terminated | rollout.truncated).all())
    assert "final_info" in rollout.infos


def test_generation_is_seeded_and_stops_at_end_tokens(policy, envs):
    prompt = torch.tensor([[envs.lm.pad_id, 5, 6], [7, 8, 9]])
    mask = torch.tensor([[0, 1, 1], [1, 1, 1]])
    stop = frozenset({2})
    outs = [
        generate(policy, prompt, mask, 6, stop, envs.lm.pad_id, torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(outs[0][0], outs[1][0])
    # Treat whatever row 0 sampled first as an end token: it stops there, padded after.
    first = int(outs[0][0][0, 0])
    responses, response_mask, logprobs, _ = generate(
        policy, prompt, mask, 6, frozenset({first}), 0, torch.Generator().manual_seed(3)
    )
    assert response_mask[0].tolist()[:2] == [1, 0]
    assert bool((logprobs[0, 1:] == 0).all())


def test_collect_needs_same_step_autoreset(policy):
    envs = gym.make_vec("TextSentiment-v0", num_envs=1, model="tiny", action_mode="utterance")
    obs, _ = envs.reset(seed=0)
    with pytest.raises(ValueError, match="SAME_STEP"):
        collect(envs, policy, obs)
