import subprocess
import sys

import gymnasium as gym

import textgym


def test_import_does_not_import_torch_or_transformers():
    code = (
        "import sys, textgym, gymnasium as gym; "
        "assert 'TextDialogue-v0' in gym.registry; "
        "heavy = [m for m in ('torch', 'transformers', 'sacrebleu') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_four_ids_registered_with_string_entry_points():
    assert textgym.ENV_IDS == (
        "TextSentiment-v0",
        "TextTranslation-v0",
        "TextSummarization-v0",
        "TextDialogue-v0",
    )
    for env_id in textgym.ENV_IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str) and spec.entry_point.startswith("textgym.envs.")
        assert spec.max_episode_steps >= 512


def test_every_env_class_has_the_gymnasium_docstring_sections():
    sections = [
        "## Description",
        "## Action Space",
        "## Observation Space",
        "## Rewards",
        "## Starting State",
        "## Episode End",
        "## Arguments",
        "## Version History",
    ]
    for env_id in textgym.ENV_IDS:
        module, name = gym.spec(env_id).entry_point.split(":")
        cls = getattr(__import__(module, fromlist=[name]), name)
        positions = [cls.__doc__.index(s) for s in sections]
        assert positions == sorted(positions), env_id
