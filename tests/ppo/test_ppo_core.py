"""baselines.ppo.core against hand-computed values."""

import math

import pytest
import torch

from baselines.ppo import core

GAMMA, LAM = 0.9, 0.8


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_gae_terminal_ignores_last_value():
    # delta_2 = 1 - 0.7 = 0.3; delta_1 = 0.9*0.7 - 0.6 = 0.03; delta_0 = 0.9*0.6 - 0.5 = 0.04
    # A_2 = 0.3; A_1 = 0.03 + 0.72*0.3 = 0.246; A_0 = 0.04 + 0.72*0.246 = 0.21712
    adv, ret = core.gae(
        t([0.0, 0.0, 1.0]), t([0.5, 0.6, 0.7]), torch.tensor([True]), t(10.0), GAMMA, LAM
    )
    torch.testing.assert_close(adv, t([0.21712, 0.246, 0.3]))
    torch.testing.assert_close(ret, t([0.71712, 0.846, 1.0]))


def test_gae_truncated_bootstraps_with_next_value():
    # delta_2 = 1 + 0.9*2 - 0.7 = 2.1; A_1 = 0.03 + 0.72*2.1 = 1.542; A_0 = 0.04 + 0.72*1.542
    expected = t([0.04 + 0.72 * 1.542, 1.542, 2.1])
    rewards, values = t([0.0, 0.0, 1.0]), t([0.5, 0.6, 0.7])
    adv, _ = core.gae(
        rewards, values, torch.tensor([True]), t(2.0), GAMMA, LAM, truncated=torch.tensor([True])
    )
    torch.testing.assert_close(adv, expected)
    # An episode that goes on (not done) bootstraps the same way.
    adv, _ = core.gae(rewards, values, torch.tensor([False]), t(2.0), GAMMA, LAM)
    torch.testing.assert_close(adv, expected)


def test_gae_skips_padding_on_either_side():
    # Real tokens: rewards (0, 1), values (0.5, 0.6), terminal.
    # A_1 = 1 - 0.6 = 0.4; A_0 = 0.9*0.6 - 0.5 + 0.72*0.4 = 0.328
    rewards = t([0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    values = t([0.5, 0.6, 99.0], [99.0, 0.5, 0.6])
    mask = t([1, 1, 0], [0, 1, 1])
    adv, ret = core.gae(
        rewards, values, torch.tensor([True, True]), t(5.0, 5.0), GAMMA, LAM, mask=mask
    )
    torch.testing.assert_close(adv, t([0.328, 0.4, 0.0], [0.0, 0.328, 0.4]))
    torch.testing.assert_close(ret, t([0.828, 1.0, 0.0], [0.0, 0.828, 1.0]))


def test_whiten_masked_mean_zero_std_one():
    x = t([1.0, 2.0, 3.0, 100.0], [4.0, 6.0, -50.0, 7.0])
    mask = t([1, 1, 1, 0], [1, 1, 0, 1])
    out = core.whiten(x, mask)
    real = out[mask.bool()]
    assert abs(float(real.mean())) < 1e-6
    assert float(real.std()) == pytest.approx(1.0, abs=1e-5)
    assert float(out[0, 3]) == 0.0 and float(out[1, 2]) == 0.0
    # Without the shift the mean stays: 23 / 6.
    kept = core.whiten(x, mask, shift_mean=False)[mask.bool()]
    assert float(kept.mean()) == pytest.approx(23 / 6, abs=1e-5)


def test_kl_penalty_is_zero_when_policy_equals_reference():
    logprobs = t([-1.0, -2.0, -0.5], [-3.0, -0.1, -9.0])
    mask = t([1, 1, 0], [1, 1, 1])
    env_reward = t(0.7, -0.2)
    rewards = core.per_token_rewards(env_reward, logprobs, logprobs.clone(), 0.3, mask)
    torch.testing.assert_close(rewards, t([0.0, 0.7, 0.0], [0.0, 0.0, -0.2]))


def test_kl_penalty_values_and_env_reward_at_last_real_token():
    logprobs, ref = t([-1.0, -2.0, -0.5]), t([-1.5, -1.0, -0.5])
    rewards = core.per_token_rewards(t(2.0), logprobs, ref, 0.1, t([1, 1, 0]))
    # -0.1 * (0.5, -1.0, masked) and the reward 2 on token 1
    torch.testing.assert_close(rewards, t([-0.05, 0.1 + 2.0, 0.0]))


def test_policy_loss_equals_unclipped_when_ratios_are_one():
    logprobs = t([-1.0, -2.0, -0.5], [-0.3, -0.1, -4.0]).requires_grad_()
    adv = t([1.0, -2.0, 3.0], [0.5, 4.0, -1.0])
    mask = t([1, 1, 1], [1, 1, 0])
    loss, clipfrac, approx_kl = core.policy_loss(logprobs, logprobs.detach(), adv, mask, 0.2)
    assert loss.item() == pytest.approx(-float((adv * mask).sum()) / 5)
    assert float(clipfrac) == 0.0 and float(approx_kl) == 0.0
    loss.backward()
    # d/dlogp of -A * exp(logp - old) at ratio 1 is -A / n_tokens: the unclipped gradient.
    torch.testing.assert_close(logprobs.grad, -adv * mask / 5)


@pytest.mark.parametrize(
    "ratio, advantage, clipped",
    [
        (1.5, 1.0, True),  # good action, too likely already: gain capped at 1.2 * A
        (0.5, -1.0, True),  # bad action, unlikely already: capped at 0.8 * A
        (0.5, 1.0, False),  # good action made unlikely: the pessimistic unclipped term
        (1.5, -1.0, False),  # bad action made likely: unclipped, full penalty
    ],
)
def test_policy_loss_clipping(ratio, advantage, clipped):
    old = t([-1.0])
    logprobs = (old + math.log(ratio)).requires_grad_()
    loss, clipfrac, approx_kl = core.policy_loss(logprobs, old, t([advantage]), t([1.0]), 0.2)
    bound = min(max(ratio, 0.8), 1.2) if clipped else ratio
    assert loss.item() == pytest.approx(-advantage * bound, rel=1e-5)
    assert float(clipfrac) == float(clipped)
    assert float(approx_kl) == pytest.approx(ratio - 1 - math.log(ratio), rel=1e-4)
    loss.backward()
    expected_grad = 0.0 if clipped else -advantage * ratio
    assert float(logprobs.grad) == pytest.approx(expected_grad, rel=1e-5, abs=1e-7)


def test_value_loss_clipping():
    mask = t([1.0, 1.0])
    old, returns = t([0.0, 0.0]), t([1.0, 1.0])
    # Row 0 moved to 1.0 (clipped back to 0.2: error 0.64); row 1 moved to 0.1 (error 0.81).
    values = t([1.0, 0.1]).requires_grad_()
    loss, clipfrac = core.value_loss(values, old, returns, mask, 0.2)
    assert loss.item() == pytest.approx(0.5 * (0.64 + 0.81) / 2)
    assert float(clipfrac) == 0.5
    loss.backward()
    # The clipped row gets no gradient; the other one (V - R) / n = -0.9 / 2.
    torch.testing.assert_close(values.grad, t([0.0, -0.45]))
    loss, clipfrac = core.value_loss(t([1.0, 0.1]), old, returns, mask, 10.0)
    assert loss.item() == pytest.approx(0.5 * 0.81 / 2) and float(clipfrac) == 0.0


def test_adaptive_kl_controller():
    up = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    assert up.update(100.0, n_steps=256) == pytest.approx(0.1 * (1 + 0.2 * 256 / 10000))
    near = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    assert near.update(6.6, n_steps=256) == pytest.approx(0.1 * (1 + 0.1 * 256 / 10000))
    down = core.AdaptiveKLController(0.1, target=6.0, horizon=10000)
    assert down.update(0.0, n_steps=256) == pytest.approx(0.1 * (1 - 0.2 * 256 / 10000))
    assert core.FixedKLController(0.05).update(100.0, 256) == 0.05
    with pytest.raises(ValueError, match="target"):
        core.AdaptiveKLController(0.1, target=0.0, horizon=10)


def test_reinforce_baselines():
    rewards = t(1.0, 2.0, 6.0)
    torch.testing.assert_close(core.reinforce_advantages(rewards), t(-2.0, -1.0, 3.0))
    torch.testing.assert_close(core.reinforce_advantages(rewards, 1.0), t(0.0, 1.0, 5.0))
    running = core.RunningBaseline(decay=0.5)
    assert running.update(rewards) == 3.0
    assert running.update(t(1.0, 1.0)) == 2.0


def test_rloo_exact():
    rewards = t(1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 4.0)
    expected = t(-2.0, -2 / 3, 2 / 3, 2.0, -4 / 3, -4 / 3, -4 / 3, 4.0)
    torch.testing.assert_close(core.rloo_advantages(rewards, k=4), expected)


def test_grpo_exact():
    rewards = t(1.0, 3.0, 5.0, 5.0)
    # group (1, 3): mean 2, unbiased std sqrt(2); group (5, 5): all 0
    s = 1 / (math.sqrt(2) + 1e-4)
    torch.testing.assert_close(core.grpo_advantages(rewards, k=2), t(-s, s, 0.0, 0.0))
    torch.testing.assert_close(core.grpo_advantages(rewards, 2, scale=False), t(-1, 1, 0, 0.0))
    with pytest.raises(ValueError, match="k=3"):
        core.grpo_advantages(rewards, k=3)


def test_sequence_to_tokens():
    out = core.sequence_to_tokens(t(2.0, -1.0), t([1, 1, 0], [0, 1, 1]))
    torch.testing.assert_close(out, t([2.0, 2.0, 0.0], [0.0, -1.0, -1.0]))
