"""The exact reward an environment gives for a known generation."""

import pytest
from sacrebleu.metrics import BLEU
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.conftest import make, play


def _write(env, text, seed=0, index=0, eos=True):
    lm = env.unwrapped.lm
    env.reset(seed=seed, options={"example_index": index})
    tokens = lm.encode(text)
    if eos:
        tokens.append(lm.tokenizer.convert_tokens_to_ids("<|im_end|>"))
    steps = []
    for token in tokens:
        steps.append(env.step(token))
        if steps[-1][2] or steps[-1][3]:
            break
    return steps


def test_translation_equal_to_reference_scores_one():
    env = make("TextTranslation-v0")
    ref = env.unwrapped.examples[0].references[0]
    steps = _write(env, ref)
    _, reward, terminated, _, info = steps[-1]
    assert terminated and reward == 1.0
    assert info["generation"] == ref


def test_translation_reward_is_sacrebleu_sentence_bleu():
    env = make("TextTranslation-v0")
    example = env.unwrapped.examples[0]
    hyp = "El tiempo es muy bueno hoy y la casa es grande."
    _, reward, *_ = _write(env, hyp)[-1]
    expected = BLEU(effective_order=True).sentence_score(hyp, list(example.references)).score
    assert reward == pytest.approx(expected / 100, abs=1e-12)


def test_translation_chrf_option():
    env = make("TextTranslation-v0", metric="chrf")
    ref = env.unwrapped.examples[3].references[0]
    _, reward, _, _, info = _write(env, ref, index=3)[-1]
    assert reward == 1.0 and "chrf" in info["reward_components"]
    assert "nc:6" in info["metric_signature"]


def test_summarization_rouge_and_length_penalty():
    env = make("TextSummarization-v0", max_new_tokens=64)
    ref = env.unwrapped.examples[0].references[0]
    assert _write(env, ref)[-1][1] == pytest.approx(1.0)
    ref_words = ref.split()
    half = " ".join(ref_words[: len(ref_words) // 2])
    env = make("TextSummarization-v0", length_penalty=1.0, max_new_tokens=64)
    _, reward, _, _, info = _write(env, half)[-1]
    c = info["reward_components"]
    # A prefix of the reference: precision 1, recall h/n, so F1 = 2r / (1 + r).
    recall = len(half.split()) / len(ref_words)
    assert c["rougeL_f"] == pytest.approx(2 * recall / (1 + recall))
    assert c["length_penalty"] == pytest.approx(
        abs(len(half.split()) - len(ref_words)) / len(ref_words)
    )
    assert reward == pytest.approx(c["rougeL_f"] - c["length_penalty"])


@pytest.mark.parametrize("target, sign", [("positive", 1.0), ("negative", -1.0)])
def test_sentiment_reward_is_vader_compound_of_continuation_only(target, sign):
    env = make("TextSentiment-v0", target=target)
    text = " absolutely wonderful, I loved every minute of it."
    _, reward, *_ = _write(env, text)[-1]
    compound = SentimentIntensityAnalyzer().polarity_scores(text.strip())["compound"]
    assert compound > 0.8
    assert reward == pytest.approx(sign * compound)


def test_dialogue_first_turn_scored_against_reference():
    env = make(
        "TextDialogue-v0", dataset="original", similarity="lexical", num_turns=2, max_new_tokens=64
    )
    ref = env.unwrapped.examples[0].references[0]
    _, reward, terminated, _, info = _write(env, ref)[-1]
    assert reward == pytest.approx(1.0) and not terminated
    assert info["reward_components"]["has_reference"] == 1.0


def test_dialogue_empty_and_repeated_turns_are_penalised():
    env = make(
        "TextDialogue-v0", dataset="original", similarity="lexical", num_turns=2, max_new_tokens=64
    )
    eos = env.unwrapped.lm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    steps = play(env, [eos, eos])
    assert steps[0][1] == -1.0 and steps[1][1] == -1.0
    assert steps[1][2]  # last turn ended by EOS: terminated
    ref = env.unwrapped.examples[0].references[0]
    env.reset(seed=0, options={"example_index": 0})
    lm = env.unwrapped.lm
    rewards = []
    for _ in range(2):
        for token in [*lm.encode(ref), eos]:
            _, reward, term, trunc, info = env.step(token)
        rewards.append(reward)
    assert info["reward_components"]["repeated"] == 1.0
    assert rewards[0] == pytest.approx(1.0)


def test_dialogue_minilm_reward_prefers_the_reference_meaning():
    env = make("TextDialogue-v0", dataset="original", num_turns=1, max_new_tokens=64)
    ref = env.unwrapped.examples[0].references[0]
    good = _write(env, ref)[-1][1]
    bad = _write(env, "The stock market closed lower on Tuesday.")[-1][1]
    assert good == pytest.approx(1.0, abs=1e-5) and bad < 0.4


def test_kl_penalty_uses_the_policy_logprob_when_given():
    import torch

    env = make("TextTranslation-v0", kl_coef=0.5).unwrapped
    env.reset(seed=0)
    ctx = env.context_ids
    with torch.inference_mode():
        ref = env.lm.model(torch.tensor([ctx])).logits[0, -1].log_softmax(-1)[700].item()
    env.policy_logprob = -1.25
    _, reward, _, _, info = env.step(700)
    assert info["ref_logprob"] == pytest.approx(ref, abs=1e-4)
    assert reward == pytest.approx(-0.5 * (-1.25 - ref), abs=1e-4)
    assert env.policy_logprob is None  # consumed: the next step needs a new one
    _, reward, _, _, info = env.step(701)
    assert reward == pytest.approx(0.5 * info["ref_logprob"])


def test_vector_env_passes_policy_logprobs():
    import gymnasium as gym
    import numpy as np

    vec = gym.make_vec("TextTranslation-v0", num_envs=2, model="tiny", kl_coef=1.0)
    vec.reset(seed=0)
    vec.set_policy_logprobs([-2.0, -3.0])
    _, rewards, _, _, info = vec.step(np.array([700, 700]))
    np.testing.assert_allclose(rewards, -(np.array([-2.0, -3.0]) - info["ref_logprob"]))
    with pytest.raises(ValueError, match="expected 2 log-probabilities"):
        vec.set_policy_logprobs([0.0])
