"""The proposal-scoring SB3 policies on the tiny model's ``proposals`` observation: the
untrained policy is the LM's distribution over its top k, the logits are the documented
formula, masks apply, save/load keeps the architecture, and PPO trains with it."""

import gymnasium as gym
import pytest
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

from baselines.sb3_policies import MaskableProposalPolicy, ProposalPolicy
from tests.conftest import make


def _env(**kwargs):
    kwargs = dict(obs_mode="proposals", action_mode="topk", topk=5, max_new_tokens=4) | kwargs
    return make("TextSentiment-v0", **kwargs)


def _obs_tensor(policy, obs):
    tensor, _ = policy.obs_to_tensor(obs)
    return tensor


def _probs(policy, obs, **kwargs):
    with torch.no_grad():
        dist = policy.get_distribution(_obs_tensor(policy, obs), **kwargs)
    return dist.distribution.probs[0]


@pytest.mark.parametrize("scorer_hidden", [0, 16])
def test_untrained_policy_is_the_lms_distribution_over_its_top_k(scorer_hidden):
    env = _env()
    model = PPO(ProposalPolicy, env, policy_kwargs={"scorer_hidden": scorer_hidden}, seed=0)
    obs, _ = env.reset(seed=0)
    expected = torch.softmax(torch.from_numpy(obs["proposal_logprobs"]), -1)
    # The scorer's last layer starts at ~0 (gain 0.01) and alpha at 1.
    torch.testing.assert_close(_probs(model.policy, obs), expected, atol=0.02, rtol=0)
    assert model.action_space == gym.spaces.Discrete(5)


def test_linear_scorer_logits_are_a_token_preference_plus_copy_repeat_weights_plus_lm_logprobs():
    env = _env()
    model = PPO(ProposalPolicy, env, seed=0)
    scorer = model.policy.mlp_extractor
    direction = torch.randn(64)
    with torch.no_grad():
        scorer.score[0].weight.copy_(direction[None])
        scorer.score[0].bias.fill_(0.3)
        scorer.alpha.fill_(0.5)
        scorer.flag_weights.copy_(torch.tensor([2.0, -3.0]))
    obs, _ = env.reset(seed=1)
    # Copy / repeat flags set by hand: the policy reads them from the observation.
    obs["proposal_in_context"][:] = [1, 0, 1, 0, 0]
    obs["proposal_in_turn"][:] = [0, 1, 1, 0, 0]
    e = torch.from_numpy(obs["proposals"])
    e = e / e.pow(2).mean(-1, keepdim=True).add(1e-6).sqrt()  # RMS-normalised
    flags = torch.tensor([2.0, -3.0, -1.0, 0.0, 0.0])  # 2 * in_context - 3 * in_turn
    logits = e @ direction + 0.3 + flags + 0.5 * torch.from_numpy(obs["proposal_logprobs"])
    torch.testing.assert_close(
        _probs(model.policy, obs), torch.softmax(logits, -1), atol=1e-5, rtol=1e-4
    )


def test_maskable_policy_gives_masked_proposals_no_probability():
    env = _env(topk_top_p=0.5, topk_temperature=0.01)
    model = MaskablePPO(MaskableProposalPolicy, env, seed=0)
    obs, _ = env.reset(seed=0)
    mask = env.unwrapped.action_masks()
    assert not mask.all()  # the nucleus leaves some proposals out
    probs = _probs(model.policy, obs, action_masks=mask)
    assert torch.all(probs[~torch.from_numpy(mask)] < 1e-6)
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)


def test_save_and_load_keep_the_architecture_and_the_actions(tmp_path):
    env = _env()
    model = PPO(ProposalPolicy, env, policy_kwargs={"scorer_hidden": 8}, n_steps=16, seed=0)
    model.learn(16)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip")
    assert isinstance(loaded.policy, ProposalPolicy)
    assert loaded.policy.mlp_extractor.contextual
    obs, _ = env.reset(seed=3)
    for _ in range(3):
        action, _ = model.predict(obs, deterministic=True)
        assert loaded.predict(obs, deterministic=True)[0] == action
        obs, *_ = env.step(action)


def test_ppo_learns_a_token_preference_from_dense_rewards():
    # A reward the linear scorer can represent, like "play a positive word": +1 for a
    # token whose embedding has a positive first coordinate, so PPO must learn to look at
    # the proposals (about half of the tiny model's tokens qualify, in no order).
    class Bandit(gym.Wrapper):
        def step(self, action):
            good = self._obs["proposals"][action, 0] > 0
            self._obs, _, terminated, truncated, info = self.env.step(action)
            return self._obs, float(good), terminated, truncated, info

        def reset(self, **kwargs):
            self._obs, info = self.env.reset(**kwargs)
            return self._obs, info

    env = Bandit(_env(max_new_tokens=8))
    model = PPO(
        ProposalPolicy, env, n_steps=128, batch_size=64, learning_rate=1e-2, gamma=0.0, seed=0
    )

    def hit_rate():
        obs, _ = env.reset(seed=100)
        hits = 0
        for _ in range(64):
            action, _ = model.predict(obs, deterministic=True)
            hits += obs["proposals"][action, 0] > 0
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
        return hits / 64

    before = hit_rate()
    model.learn(1024)
    assert before < 0.7 and hit_rate() > 0.8


def test_without_token_preference_the_logits_are_copy_repeat_weights_plus_lm_logprobs(tmp_path):
    env = _env()
    kwargs = {"token_preference": False}
    model = PPO(ProposalPolicy, env, policy_kwargs=kwargs, n_steps=16, seed=0)
    scorer = model.policy.mlp_extractor
    assert scorer.score is None
    trainable = sum(p.numel() for n, p in scorer.named_parameters() if not n.startswith("value"))
    assert trainable == 3  # u (copy, repeat) and alpha
    with torch.no_grad():
        scorer.flag_weights.copy_(torch.tensor([1.5, -2.0]))
        scorer.alpha.fill_(0.8)
    obs, _ = env.reset(seed=2)
    obs["proposal_in_context"][:] = [0, 1, 1, 0, 0]
    obs["proposal_in_turn"][:] = [1, 0, 1, 0, 0]
    logits = torch.tensor([-2.0, 1.5, -0.5, 0.0, 0.0])
    logits += 0.8 * torch.from_numpy(obs["proposal_logprobs"])
    torch.testing.assert_close(_probs(model.policy, obs), torch.softmax(logits, -1))
    model.learn(16)  # trains, saves and loads without the token scorer
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip")
    assert loaded.policy.mlp_extractor.score is None
