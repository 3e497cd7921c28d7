"""The trainer's wiring, checked on real tiny-model rollouts against values computed here
by hand (float64 NumPy, not baselines.ppo.core): what each algorithm's advantages are, where
whitening applies, which KL coefficient shapes the rewards, where GAE bootstraps from, which
algorithm trains the critic, and the explained variance that the logs report.

The pieces are tested on their own in test_ppo_core.py; these tests check how the trainer
connects them: a flag not passed on, a value not bootstrapped or a coefficient dropped fails
one of them."""

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from baselines.ppo.config import PPOConfig
from baselines.ppo.train import Trainer
from textgym.envs.dialogue import TextDialogueEnv
from textgym.vector import TextVectorEnv

B = 8


def make_trainer(tmp_path: Path, envs: TextVectorEnv | None = None, **kwargs) -> Trainer:
    """A trainer on the tiny model whose critic gives real values (not the zero init) and
    whose policy has drifted from the reference (so the KL terms are not ~0)."""
    defaults = dict(
        model="tiny", batch_size=B, minibatch_size=4, update_epochs=1, max_new_tokens=6,
        total_iterations=2, eval_episodes=0, out_dir=str(tmp_path / "run"),
        tensorboard=False, progress=False, gamma=0.9, lam=0.8,
    )  # fmt: skip
    trainer = Trainer(PPOConfig(**{**defaults, **kwargs}), envs=envs)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        trainer.policy.value_head.weight.normal_(0.0, 0.5, generator=g)
        for p in trainer.policy.lm.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return trainer


def rollout_batch(trainer: Trainer):
    obs, _ = trainer.envs.reset(seed=trainer.episode_seeds(0))
    turns = trainer.play(trainer.envs, obs, trainer.sample_rng)
    batch, stats = trainer.build_batch(turns)
    return turns, batch, stats


def np64(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().double().numpy()


def hand_gae(rewards, values, mask, last_value, gamma, lam) -> np.ndarray:
    """GAE over each row's real (left-aligned) tokens, bootstrapping from last_value."""
    out = np.zeros_like(rewards)
    for i in range(rewards.shape[0]):
        next_value, adv = last_value[i], 0.0
        for t in reversed(range(int(mask[i].sum()))):
            adv = rewards[i, t] + gamma * next_value - values[i, t] + gamma * lam * adv
            out[i, t], next_value = adv, values[i, t]
    return out


def hand_whiten(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    real = x[mask > 0]
    return (x - real.mean()) / np.sqrt(real.var(ddof=1) + 1e-8) * mask


def episode_advantages(algo: str, scores: np.ndarray, k: int) -> np.ndarray:
    if algo == "reinforce":
        return scores - scores.mean()
    g = scores.reshape(-1, k)
    if algo == "rloo":
        return (g - (g.sum(1, keepdims=True) - g) / (k - 1)).reshape(-1)
    return ((g - g.mean(1, keepdims=True)) / (g.std(1, ddof=1, keepdims=True) + 1e-4)).reshape(-1)


@pytest.mark.parametrize(
    "algo, whiten",
    [("ppo", True), ("ppo", False), ("reinforce", True), ("rloo", True), ("grpo", True)],
)
def test_advantages_are_the_algorithms_and_whitened_where_it_whitens(tmp_path, algo, whiten):
    trainer = make_trainer(tmp_path, algo=algo, whiten_advantages=whiten, group_size=4)
    _, batch, _ = rollout_batch(trainer)
    mask, rewards = np64(batch.response_mask), np64(batch.rewards)
    if algo == "ppo":  # one turn per episode, terminated: nothing to bootstrap from
        raw = hand_gae(rewards, np64(batch.values), mask, np.zeros(B), 0.9, 0.8)
        returns = (raw + np64(batch.values)) * mask  # the value targets, never whitened
        np.testing.assert_allclose(np64(batch.returns), returns, rtol=1e-4, atol=1e-5)
    else:  # the episode's summed rewards (KL penalty included), given to each token
        raw = episode_advantages(algo, rewards.sum(1), 4)[:, None] * mask
    whitened = whiten and algo in ("ppo", "reinforce")  # rloo and grpo are group-relative
    expected = hand_whiten(raw, mask) if whitened else raw
    np.testing.assert_allclose(np64(batch.advantages), expected, rtol=1e-4, atol=1e-5)
    real = np64(batch.advantages)[mask > 0]
    if whitened:
        assert abs(real.mean()) < 1e-6 and real.std(ddof=1) == pytest.approx(1.0, abs=1e-5)
    else:
        assert abs(real.std(ddof=1) - 1.0) > 0.05  # whitening would have changed these


def test_explained_variance_is_computed_on_the_batch(tmp_path):
    trainer = make_trainer(tmp_path)
    _, batch, stats = rollout_batch(trainer)
    m = np64(batch.response_mask) > 0
    returns, values = np64(batch.returns)[m], np64(batch.values)[m]
    expected = 1.0 - np.var(returns - values, ddof=1) / np.var(returns, ddof=1)
    assert abs(expected) > 0.05
    assert stats["losses/explained_variance"] == pytest.approx(expected, rel=1e-4)


def test_rewards_and_kl_use_the_controllers_coefficient(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.kl.value = 0.37
    turns, batch, stats = rollout_batch(trainer)
    (turn,) = turns
    with torch.no_grad():  # the reference's log-probs, from the env's own LM
        ids, mask, P = turn.input_ids, turn.attention_mask, turn.prompt_width
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = trainer.lm.model(input_ids=ids, attention_mask=mask, position_ids=positions)
        logp = logits.logits[:, P - 1 : -1].log_softmax(-1)
        ref = logp.gather(-1, ids[:, P:, None])[..., 0]
    m = np64(turn.response_mask)
    log_ratio = (np64(turn.logprobs) - np64(ref)) * m
    expected = -0.37 * log_ratio
    last = m.sum(1).astype(int) - 1
    expected[np.arange(B), last] += np64(turn.env_rewards)
    np.testing.assert_allclose(np64(batch.rewards), expected, rtol=1e-4, atol=1e-5)
    kl = log_ratio.sum(1).mean()
    assert abs(kl) > 0.05  # the policy has drifted: a dropped coefficient would show
    assert stats["objective/kl_coef"] == 0.37
    assert stats["objective/kl"] == pytest.approx(kl, rel=1e-4)
    assert stats["objective/non_score_reward"] == pytest.approx(-0.37 * kl, rel=1e-4)


def test_the_kl_controller_sees_the_iterations_kl(tmp_path):
    trainer = make_trainer(tmp_path, target_kl=0.5, kl_horizon=100)
    stats = trainer.iterate()
    error = np.clip(stats["objective/kl"] / 0.5 - 1.0, -0.2, 0.2)
    assert error != 0
    assert trainer.kl.value == pytest.approx(0.05 * (1.0 + error * B / 100), rel=1e-9)


def test_a_non_final_turn_bootstraps_from_the_next_turns_first_value(tmp_path):
    trainer = make_trainer(
        tmp_path, env_id="TextDialogue-v0", batch_size=4, num_turns=2, max_new_tokens=4,
        whiten_advantages=False,
    )  # fmt: skip
    turns, batch, _ = rollout_batch(trainer)
    assert len(turns) == 2 and len(batch) == 8
    first, second = turns
    next_value = np64(second.values)[:, 0]
    assert np.abs(next_value).min() > 1e-3  # a missing bootstrap would differ
    for t, (turn, last_value) in enumerate([(first, next_value), (second, np.zeros(4))]):
        R = turn.response_mask.shape[1]
        expected = hand_gae(np64(turn.rewards), np64(turn.values), np64(turn.response_mask),
                            last_value, 0.9, 0.8)  # fmt: skip
        rows = slice(4 * t, 4 * t + 4)
        np.testing.assert_allclose(np64(batch.advantages[rows, :R]), expected, atol=1e-5)


def test_a_truncated_episode_bootstraps_from_its_final_state(tmp_path):
    # A one-step time limit on two-turn dialogues: every episode is cut off after its first
    # turn, in a state that has a value.
    envs = TextVectorEnv(
        num_envs=4, env_cls=TextDialogueEnv, max_episode_steps=1, model="tiny",
        action_mode="utterance", max_new_tokens=4, num_turns=2,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )  # fmt: skip
    trainer = make_trainer(
        tmp_path, envs=envs, env_id="TextDialogue-v0", batch_size=4, num_turns=2,
        max_new_tokens=4, whiten_advantages=False,
    )  # fmt: skip
    (turn,), batch, _ = rollout_batch(trainer)
    assert bool(turn.truncated.all()) and not bool(turn.terminated.any())
    final = turn.infos["final_obs"]
    ids = torch.as_tensor(np.stack([o["input_ids"] for o in final]))
    mask = torch.as_tensor(np.stack([o["attention_mask"] for o in final]))
    with torch.no_grad():
        final_value = np64(trainer.policy(ids, mask)[1][:, -1])
    assert np.abs(final_value).min() > 1e-3
    args = np64(turn.rewards), np64(turn.values), np64(turn.response_mask)
    expected = hand_gae(*args, final_value, 0.9, 0.8)
    np.testing.assert_allclose(np64(batch.advantages), expected, atol=1e-5)
    assert not np.allclose(expected, hand_gae(*args, np.zeros(4), 0.9, 0.8), atol=1e-3)


@pytest.mark.parametrize("algo, k", [("ppo", 1), ("reinforce", 1), ("rloo", 2), ("grpo", 4)])
def test_reset_seeds_group_the_samples_of_one_prompt(tmp_path, algo, k):
    trainer = Trainer(
        PPOConfig(model="tiny", algo=algo, group_size=max(k, 2), batch_size=B,
                  minibatch_size=4, out_dir=str(tmp_path), tensorboard=False)
    )  # fmt: skip
    seeds = trainer.episode_seeds(5)
    assert seeds == [seeds[0] + i // k for i in range(B)]


@pytest.mark.parametrize("algo", ["ppo", "grpo"])
def test_only_the_critic_trains_the_value_head(tmp_path, algo):
    trainer = make_trainer(tmp_path, algo=algo, group_size=4)
    before = trainer.policy.value_head.weight.detach().clone()
    stats = trainer.iterate()
    moved = not torch.equal(before, trainer.policy.value_head.weight)
    assert moved == (algo == "ppo")
    assert np.isfinite(stats["losses/value_loss"]) == (algo == "ppo")
