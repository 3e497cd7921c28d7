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


def test_help_lists_every_field_with_its_docstring(capsys, monkeypatch):
    """``python -m baselines.ppo --help`` (a docstring's ``%`` once broke argparse's help)."""
    import dataclasses

    from baselines.cli import field_docstrings
    from baselines.ppo.__main__ import main

    monkeypatch.setenv("COLUMNS", "10000")  # no wrapping inside hyphenated words
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    docs = field_docstrings(PPOConfig)
    for field in dataclasses.fields(PPOConfig):
        assert f"--{field.name.replace('_', '-')}" in text
        assert " ".join(docs[field.name].split()) in text, field.name
