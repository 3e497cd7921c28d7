"""PPOConfig's checks say what is wrong."""

import pytest

from baselines.ppo.config import PPOConfig


def test_defaults_are_valid():
    config = PPOConfig()
    assert config.batch_size % config.minibatch_size == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 10, "minibatch_size": 4}, "not divisible by minibatch_size=4"),
        ({"algo": "rloo", "group_size": 1}, "group_size must be >= 2"),
        ({"algo": "grpo", "batch_size": 12, "minibatch_size": 4, "group_size": 5}, "group_size=5"),
        ({"algo": "dpo"}, "choose one of"),
        ({"learning_rate": 0.0}, "learning_rate must be > 0"),
        ({"clip_coef": 0.0}, "clip_coef must be > 0"),
        ({"minibatch_size": 0}, "minibatch_size must be a positive integer"),
        ({"target_kl": 0.0}, "adaptive_kl=False"),
    ],
)
def test_invalid_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**kwargs)


def test_group_size_ignored_by_ppo():
    assert PPOConfig(algo="ppo", group_size=1).group_size == 1
    assert PPOConfig(algo="grpo", batch_size=12, minibatch_size=4, group_size=3).algo == "grpo"
