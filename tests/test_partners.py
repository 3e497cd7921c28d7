"""The ELIZA partner answers any text, draws only from the environment's generator, and
keeps a dialogue episode whole."""

import threading

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import make
from textgym.partners import ElizaPartner

# Texts that broke NLTK's Chat: a % of the agent's was read as a template placeholder
# (ValueError, IndexError) or, as %1, re-expanded forever.
ODD_TEXTS = [
    "100% sure %s %(x)d {0}",
    "I need 50%",
    "I am {0} %d",
    "I need %9",
    "I feel %1",
    "%" * 1000,
    "",
    "\ud800",
    "I need \ud800 and \udfff",
    "I need \x00\x01\x1b\x7f",
    "I need a\nb\tc",
    "I need " + "x" * 1_000_000,
]


def _reply(partner, text, rng, seconds=10.0):
    """partner.reply on a thread, so that a reply that never returns fails the test."""
    out = {}

    def run():
        try:
            out["reply"] = partner.reply(["Hi."], [text], rng)
        except Exception as error:  # noqa: BLE001 (reported below)
            out["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no reply to {text[:40]!r} within {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["reply"]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=lambda t: repr(t[:20]))
def test_eliza_answers_any_text_with_one_draw(text):
    partner = ElizaPartner()
    rng = np.random.default_rng(3)
    reply = _reply(partner, text, rng)
    assert isinstance(reply, str) and reply
    reply.encode("utf-8")  # no lone surrogates: the environment tokenises the reply
    assert len(reply) <= partner.max_chars + 100
    expected = np.random.default_rng(3)
    expected.integers(2)  # one draw
    assert rng.bit_generator.state == expected.bit_generator.state
    assert _reply(partner, text, np.random.default_rng(3)) == reply  # seeded


def test_eliza_puts_the_agents_words_in_as_plain_text():
    partner = ElizaPartner()
    replies = {
        partner.reply([], ["I need 50% of {it}, %1"], np.random.default_rng(s)) for s in range(20)
    }
    # ELIZA's three responses to "I need (.*)", %1 = the rest, lowercased, verbatim.
    assert replies == {
        "Why do you need 50% of {it}, %1?",
        "Would it really help you to get 50% of {it}, %1?",
        "Are you sure you need 50% of {it}, %1?",
    }
    reflected = partner.reply([], ["I need you to help me"], np.random.default_rng(0))
    assert "me to help you" in reflected  # first and second person swapped
    assert "\ufffd" in partner.reply([], ["I need \ud800"], np.random.default_rng(0))


# Left out: "I feel %1" (before the fix it never returned, which the test above catches on
# a thread), a lone surrogate (the tokenizer rejects it as an utterance, before the partner
# sees it) and 1 MB (seconds of tokenising; the partner sees the turn cut to its budget).
EPISODE_TEXTS = [t for t in ODD_TEXTS if "%1" not in t and "\ud800" not in t and len(t) < 10**6]


@pytest.fixture(scope="module")
def eliza_env():
    return make("TextDialogue-v0", partner="eliza", action_mode="utterance", similarity="lexical")


def _episode(env, text):
    """Three turns of ``text`` from ``reset(seed=0)``; the last step's info."""
    env.reset(seed=0)
    for turn in range(1, 4):
        obs, reward, terminated, truncated, info = env.step(text)
        assert info["turn_ended"] and len(info["agent_turns"]) == turn
        assert len(info["user_turns"]) == min(turn + 1, 3)  # the partner answered
        assert all(info["user_turns"])
    assert terminated != truncated  # over: truncated when the utterance overran its budget
    return info


@pytest.mark.parametrize("text", EPISODE_TEXTS, ids=lambda t: repr(t[:20]))
def test_dialogue_episode_with_eliza_runs_whole_on_odd_utterances(eliza_env, text):
    info = _episode(eliza_env, text)
    base = eliza_env.unwrapped
    context = base.lm.decode(base.context_ids)
    assert info["user_turns"][1] in context and info["user_turns"][2] in context
    # The replies come from the env's seeded generator: the same episode again.
    assert _episode(eliza_env, text)["user_turns"] == info["user_turns"]


def test_a_failed_partner_reply_is_given_before_the_next_action():
    # The LM partner's generate fails once (e.g. out of memory); the next step first gives
    # the reply, then plays the action: the episode never goes on without it.
    kwargs = dict(model="tiny", num_turns=2, max_new_tokens=3, partner_max_new_tokens=4)
    env, twin = (gym.make("TextDialogue-v0", **kwargs).unwrapped for _ in range(2))
    env.reset(seed=1), twin.reset(seed=1)
    generate, calls = env.lm.generate, []

    def fails_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated failure")
        return generate(*args, **kw)

    for token in (100, 101):
        env.step(token), twin.step(token)
    env.lm.generate = fails_once
    try:
        with pytest.raises(RuntimeError, match="simulated"):
            env.step(2)  # ends turn 1: the partner is due
        assert env.partner_due
        _, _, _, _, info = env.step(102)
    finally:
        del env.lm.generate
    twin.step(2)
    _, _, _, _, twin_info = twin.step(102)
    assert env.context_ids == twin.context_ids
    assert info["user_turns"] == twin_info["user_turns"] and len(info["user_turns"]) == 2
