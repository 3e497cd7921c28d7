"""Every bad input gets a clear error that names the value and the fix, and loses nothing."""

import json

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import make


@pytest.mark.parametrize(
    "action, match",
    [
        (49152, "outside Discrete"),
        (-1, "outside Discrete"),
        (1.5, "not a token id"),
        ("hello", "not a token id"),
        (True, "not a token id"),
        (np.array([1, 2]), "not a token id"),
        (None, "not a token id"),
    ],
)
def test_invalid_action_raises_and_loses_nothing(action, match):
    env = make("TextTranslation-v0").unwrapped
    obs, _ = env.reset(seed=0)
    env.step(100)
    before = env.context_ids
    with pytest.raises(ValueError, match=match) as err:
        env.step(action)
    assert isinstance(err.value, gym.error.InvalidAction)
    assert env.context_ids == before
    obs, *_ = env.step(101)  # the episode goes on
    assert env.context_ids == [*before, 101]


def test_numpy_integer_actions_are_accepted():
    env = make("TextTranslation-v0").unwrapped
    env.reset(seed=0)
    env.step(np.int64(5))
    env.step(np.array(6))
    assert env.context_ids[-2:] == [5, 6]


def test_step_before_reset():
    env = make("TextSentiment-v0").unwrapped
    with pytest.raises(gym.error.ResetNeeded, match="before reset"):
        env.step(0)


def test_step_after_episode_end():
    env = make("TextSentiment-v0", max_new_tokens=1).unwrapped
    env.reset(seed=0)
    _, _, _, truncated, _ = env.step(100)
    assert truncated
    with pytest.raises(gym.error.ResetNeeded, match="call env.reset"):
        env.step(100)
    env.reset()
    env.step(100)


def test_unknown_model_alias():
    with pytest.raises(ValueError, match=r"unknown model 'smollm3'.*smollm2-135m, tiny"):
        gym.make("TextSentiment-v0", model="smollm3")


def test_missing_local_model_directory(tmp_path):
    with pytest.raises(ValueError, match="could not load model"):
        gym.make("TextSentiment-v0", model=str(tmp_path))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"obs_mode": "pixels"}, "obs_mode='pixels'"),
        ({"action_mode": "word"}, "action_mode='word'"),
        ({"max_new_tokens": 0}, "max_new_tokens must be a positive integer"),
        ({"render_mode": "rgb_array"}, "render_mode='rgb_array'"),
        ({"split": "dev"}, "split must be one of"),
        ({"dataset": "wmt19"}, "unknown dataset 'wmt19'"),
        ({"metric": "meteor"}, "metric='meteor'"),
        ({"max_prompt_tokens": 8000}, "exceeds"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make("TextTranslation-v0", **kwargs)


def test_bad_task_options():
    with pytest.raises(ValueError, match="target must be one of"):
        make("TextSentiment-v0", target="happy")
    with pytest.raises(ValueError, match="partner='human'"):
        make("TextDialogue-v0", partner="human")
    with pytest.raises(ValueError, match="similarity must be"):
        make("TextDialogue-v0", similarity="bleu")
    with pytest.raises(ValueError, match="length_penalty must be >= 0"):
        make("TextSummarization-v0", length_penalty=-1)


def test_dataset_file_missing(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(ValueError, match=f"{path}.*does not exist"):
        make("TextTranslation-v0", dataset=str(path))


def test_dataset_file_empty(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(ValueError, match="holds no examples"):
        make("TextTranslation-v0", dataset=str(path))


def test_dataset_row_without_required_field_names_file_line_and_field(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "Hello.", "references": ["Hola."]}, {"prompt": "Bye."}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(ValueError, match=rf"{path}, line 2: field 'references'"):
        make("TextTranslation-v0", dataset=str(path))
    # Sentiment needs no references: the same file is fine there.
    env = make("TextSentiment-v0", dataset=str(path))
    assert len(env.unwrapped.examples) == 2


def test_dataset_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok", "references": ["bien"]}\n{"prompt": \n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        make("TextTranslation-v0", dataset=str(path))


def test_dataset_as_python_sequence():
    env = make(
        "TextTranslation-v0", dataset=[{"prompt": "Good night.", "reference": "Buenas noches."}]
    )
    _, info = env.reset(seed=0)
    assert info["references"] == ["Buenas noches."]
    with pytest.raises(ValueError, match="dataset sequence is empty"):
        make("TextTranslation-v0", dataset=[])


def test_overlong_prompt_is_truncated_by_policy():
    long_doc = " ".join(["The committee met again to discuss the harbour budget."] * 80)
    env = make(
        "TextSummarization-v0",
        dataset=[{"prompt": long_doc, "reference": "x y"}],
        max_prompt_tokens=120,
    )
    _, info = env.reset(seed=0)
    ctx = env.unwrapped.context_ids
    assert info["prompt_truncated"] and 100 < len(ctx) <= 120
    text = env.unwrapped.lm.decode(ctx)
    assert "The committee met again" in text and "...<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")  # the instruction's frame is intact
    env.step(5)


def test_overlong_prompt_raises_when_asked():
    long_doc = "word " * 500
    env = make(
        "TextSummarization-v0",
        dataset=[{"prompt": long_doc, "reference": "x"}],
        max_prompt_tokens=100,
        prompt_overflow="error",
    )
    with pytest.raises(ValueError, match=r"prompt of \d+ tokens, more than max_prompt_tokens=100"):
        env.reset(seed=0)


def test_prompt_limit_too_small_for_the_instruction():
    env = make(
        "TextSummarization-v0",
        dataset=[{"prompt": "short text", "reference": "x"}],
        max_prompt_tokens=10,
    )
    with pytest.raises(ValueError, match="cannot hold even the instruction"):
        env.reset(seed=0)


def _record_encodes(lm, monkeypatch):
    """The length of every text the environment's tokenizer encodes."""
    lengths, encode = [], lm.encode

    def recording(text):
        lengths.append(len(text))
        return encode(text)

    monkeypatch.setattr(lm, "encode", recording)
    return lengths


def test_a_megabyte_document_is_cut_before_it_is_tokenised(monkeypatch):
    from textgym.lm import MAX_CHARS_PER_TOKEN

    huge = "The committee met again to discuss the harbour budget. " * 20_000  # 1.1 MB
    env = make(
        "TextSummarization-v0", dataset=[{"prompt": huge, "reference": "x"}], max_prompt_tokens=200
    ).unwrapped
    lengths = _record_encodes(env.lm, monkeypatch)
    _, info = env.reset(seed=0)
    assert info["prompt_truncated"] and len(env.context_ids) <= 200
    assert max(lengths) < 200 * MAX_CHARS_PER_TOKEN + 500  # the instruction and markup
    assert "...<|im_end|>" in env.lm.decode(env.context_ids)


def test_a_megabyte_utterance_is_cut_before_it_is_tokenised(monkeypatch):
    env = make("TextTranslation-v0", action_mode="utterance", max_new_tokens=8).unwrapped
    env.reset(seed=0)
    before = env.context_ids
    lengths = _record_encodes(env.lm, monkeypatch)
    _, _, terminated, truncated, info = env.step("hola " * 200_000)
    assert max(lengths) <= 9 * 128
    assert info["utterance_truncated"] and truncated and not terminated
    assert env.context_ids[: len(before)] == before and len(env.context_ids) == len(before) + 8


def test_lone_surrogates_in_an_utterance_become_replacement_characters():
    env = make("TextTranslation-v0", action_mode="utterance").unwrapped
    env.reset(seed=0)
    _, _, terminated, _, info = env.step("hola \ud800 mundo")
    assert terminated and info["generation"] == "hola \ufffd mundo"


@pytest.mark.parametrize(
    "action",
    [[[1, 2], [3]], [1, [2]], {"ids": [1]}, np.array([[1, 2]]), np.array([1.5]), 3],
)
def test_malformed_utterances_raise_invalid_action_and_lose_nothing(action):
    env = make("TextTranslation-v0", action_mode="utterance").unwrapped
    env.reset(seed=0)
    before = env.context_ids
    with pytest.raises(gym.error.InvalidAction, match="utterance action"):
        env.step(action)
    assert env.context_ids == before


@pytest.mark.parametrize("index", [1.5, True, "0", -1, 10**9, np.float64(2.0)])
def test_bad_example_index_is_rejected_before_anything_changes(index):
    env = make("TextTranslation-v0").unwrapped
    env.reset(seed=0)
    env.step(100)
    before = env.context_ids
    with pytest.raises(ValueError, match="example_index"):
        env.reset(options={"example_index": index})
    assert env.context_ids == before
    env.step(101)
