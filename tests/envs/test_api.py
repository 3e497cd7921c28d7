"""Gymnasium conformance, determinism, observations and episode flags, on the tiny model."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from tests.conftest import ENV_IDS, make, play, random_episode


@pytest.mark.parametrize("obs_mode", ["tokens", "text"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes(env_id, obs_mode):
    env = make(env_id, obs_mode=obs_mode, render_mode="ansi")
    check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("obs_mode", ["tokens", "text"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_identical_episode(env_id, obs_mode):
    first = random_episode(make(env_id, obs_mode=obs_mode), seed=7)
    second = random_episode(make(env_id, obs_mode=obs_mode), seed=7)
    assert first == second
    assert len(first) > 3


def test_dialogue_partner_is_seeded_and_differs_across_seeds():
    env = make("TextDialogue-v0", max_new_tokens=4, num_turns=2)
    a = random_episode(env, seed=1)[-1]
    b = random_episode(env, seed=1)[-1]
    c = random_episode(env, seed=2)[-1]
    assert a == b
    assert len(a) == 2 and a[1]  # opening + one LM-written partner turn
    assert a != c


def test_seed_fixes_example_order_and_resets_continue_it():
    env = make("TextTranslation-v0")
    order = []
    env.reset(seed=3)
    order.append(env.unwrapped.example.id)
    for _ in range(4):
        order.append(env.reset()[1]["example_id"])
    again = [env.reset(seed=3)[1]["example_id"]] + [env.reset()[1]["example_id"] for _ in range(4)]
    assert order == again
    assert len(set(order)) == 5
    other = [env.reset(seed=4)[1]["example_id"]] + [env.reset()[1]["example_id"] for _ in range(4)]
    assert other != order


def test_example_index_option_picks_the_example():
    env = make("TextTranslation-v0")
    _, info = env.reset(seed=0, options={"example_index": 5})
    assert info["example_id"] == env.unwrapped.examples[5].id
    with pytest.raises(ValueError, match="example_index"):
        env.reset(options={"example_index": 10**6})


def test_tokens_observation_is_left_padded_with_newest_token_last():
    env = make("TextTranslation-v0", max_obs_tokens=128)
    obs, _ = env.reset(seed=0)
    ctx = env.unwrapped.context_ids
    n = len(ctx)
    assert obs["input_ids"].dtype == np.int64 and obs["input_ids"].shape == (128,)
    assert obs["attention_mask"].sum() == n
    assert obs["attention_mask"][: 128 - n].sum() == 0
    assert obs["input_ids"][-n:].tolist() == ctx
    obs, *_ = env.step(1234)
    assert obs["input_ids"][-1] == 1234 and obs["attention_mask"].sum() == n + 1


def test_tokens_observation_keeps_the_most_recent_tokens_when_context_is_long():
    env = make("TextSummarization-v0", max_obs_tokens=16)
    obs, _ = env.reset(seed=0)
    assert obs["attention_mask"].tolist() == [1] * 16
    assert obs["input_ids"].tolist() == env.unwrapped.context_ids[-16:]


def test_tokens_observations_are_new_arrays_that_later_steps_leave_alone():
    # Users keep observations (rollout buffers), so none may share memory with another or
    # change as the environment goes on: across steps, and across resets, which rewrite the
    # context buffer from the cached prompt (example 0 twice: the cache's second use).
    env = make("TextSummarization-v0", max_new_tokens=3, max_obs_tokens=64)
    kept = []

    def keep(obs):
        kept.append((obs, {key: value.copy() for key, value in obs.items()}))

    keep(env.reset(seed=0, options={"example_index": 0})[0])
    for index in (1, 0, 2):
        for token in (500, 600, 700):
            obs, _, terminated, truncated, _ = env.step(token)
            keep(obs)
        assert truncated and not terminated
        keep(env.reset(options={"example_index": index})[0])
    arrays = [array for obs, _ in kept for array in obs.values()]
    for obs, snapshot in kept:
        for key, array in obs.items():
            assert array.tolist() == snapshot[key].tolist()
    for i, a in enumerate(arrays):
        assert not any(np.shares_memory(a, b) for b in arrays[i + 1 :])


def test_text_observation_shows_prompt_and_generation():
    env = make("TextSentiment-v0", obs_mode="text")
    obs, info = env.reset(seed=0)
    assert obs == info["prompt"]
    lm = env.unwrapped.lm
    for token in lm.encode(" and it was great"):
        obs, *_ = env.step(token)
    assert obs == info["prompt"] + " and it was great"
    assert env.observation_space.contains(obs)


def test_text_observation_accepts_non_ascii_text():
    env = make("TextTranslation-v0", obs_mode="text")
    env.reset(seed=0)
    lm = env.unwrapped.lm
    for token in lm.encode(" ¿Dónde está la estación? Ça va 😀"):
        obs, *_ = env.step(token)
    assert obs.endswith("¿Dónde está la estación? Ça va 😀")
    assert env.observation_space.contains(obs)


def test_eos_terminates_single_turn_episode():
    env = make("TextSentiment-v0")
    eos = env.unwrapped.lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    steps = play(env, [1000, 2000, eos])
    assert [s[2] for s in steps] == [False, False, True]
    assert [s[3] for s in steps] == [False, False, False]
    assert steps[-1][4]["turn_ended"] and not steps[-1][4]["turn_truncated"]


def test_token_budget_truncates_and_still_scores():
    env = make("TextTranslation-v0", max_new_tokens=5)
    lm = env.unwrapped.lm
    env.reset(seed=0)
    ref = env.unwrapped.example.references[0]
    tokens = lm.encode(ref)[:5]
    steps = play(env, tokens, seed=0)
    assert len(steps) == 5
    _, reward, terminated, truncated, info = steps[-1]
    assert truncated and not terminated
    assert info["turn_truncated"]
    assert info["reward_components"]["bleu"] > 0 and reward == pytest.approx(
        info["reward_components"]["bleu"] / 100
    )
    assert all(s[1] == 0.0 for s in steps[:-1])


def test_registration_time_limit_bounds_the_episode():
    env = make("TextSentiment-v0", max_new_tokens=1000, max_episode_steps=7)
    steps = play(env, [1000] * 20)
    assert len(steps) == 7 and steps[-1][3]


def test_dialogue_turns_partner_and_flags():
    env = make("TextDialogue-v0", num_turns=2, max_new_tokens=3, similarity="lexical")
    lm = env.unwrapped.lm
    eos = lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    _, info = env.reset(seed=0)
    ctx_before = len(env.unwrapped.context_ids)
    steps = [env.step(t) for t in (500, eos)]
    _, reward, terminated, truncated, info = steps[-1]
    assert not terminated and not truncated and info["turn_ended"]
    assert info["turn"] == 1 and len(info["user_turns"]) == 2
    # The partner's turn was appended as tokens, in the chat format, after the agent's EOS.
    ctx = env.unwrapped.context_ids
    assert ctx[ctx_before : ctx_before + 2] == [500, eos]
    tail = lm.decode(ctx[ctx_before + 2 :])
    assert tail.startswith("\n<|im_start|>user\n") and tail.endswith("<|im_start|>assistant\n")
    assert info["user_turns"][1] in tail
    # Second (last) turn runs out of budget: truncated.
    steps = [env.step(t) for t in (600, 601, 602)]
    _, reward, terminated, truncated, info = steps[-1]
    assert truncated and not terminated and info["turn"] == 2
    assert "episode_return" in info


def test_eliza_partner_is_seeded():
    kwargs = dict(partner="eliza", num_turns=2, max_new_tokens=2, similarity="lexical")
    a = random_episode(make("TextDialogue-v0", **kwargs), seed=5)[-1]
    b = random_episode(make("TextDialogue-v0", **kwargs), seed=5)[-1]
    assert a == b and len(a) == 2 and a[1]


def test_render_modes():
    env = make("TextTranslation-v0", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert env.unwrapped.example.prompt in text and "reference" in text


def test_human_render_prints_at_episode_end(capsys):
    env = make("TextSentiment-v0", render_mode="human", max_new_tokens=2)
    play(env, [100, 200])
    assert "[sentiment]" in capsys.readouterr().out


def test_info_carries_texts_and_signature():
    env = make("TextTranslation-v0")
    _, info = env.reset(seed=0)
    for key in ("prompt", "generation", "references", "metric_signature", "example_id"):
        assert key in info
    assert "version:2." in info["metric_signature"]
