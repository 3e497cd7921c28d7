"""Observation and action interfaces on the tiny model: embedding observations, top-k
proposals, utterance actions, and dense and KL reward shaping."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from tests.conftest import ENV_IDS, make

DIALOGUE = "TextDialogue-v0"
SINGLE_TURN = [env_id for env_id in ENV_IDS if env_id != DIALOGUE]
ENDOFTEXT, IM_START, IM_END = 0, 1, 2  # SmolLM2's special tokens; 0 and 2 end a turn
VOCAB = 49152


def make_env(env_id, **kwargs):
    """The unwrapped environment on the tiny model; the dialogue env gets lexical
    similarity, two turns and a short LM partner unless told otherwise."""
    if env_id == DIALOGUE:
        kwargs.setdefault("similarity", "lexical")
        kwargs.setdefault("num_turns", 2)
        kwargs.setdefault("partner_max_new_tokens", 6)
    return make(env_id, **kwargs).unwrapped


def full_forward(lm, ids):
    """Next-token logits and last-layer hidden state after ``ids``, from one forward over
    the whole context (no KV cache)."""
    with torch.inference_mode():
        out = lm.model(torch.tensor([ids]), output_hidden_states=True)
    # Clones made outside inference mode, so that callers may edit them in place.
    return out.logits[0, -1].float().clone(), out.hidden_states[-1][0, -1].float().clone()


def expected_proposals(lm, ids, k):
    """The k highest-logit next tokens with every special token but the end-of-turn ones
    banned (``<|im_start|>``, ``<file_sep>``, ...)."""
    logits, _ = full_forward(lm, ids)
    banned = sorted(lm.special_ids - lm.eos_ids)
    assert IM_START in banned and len(banned) >= 10
    logits[banned] = float("-inf")
    return torch.topk(logits, k).indices.tolist()


# -- 1. Gymnasium conformance of every interface -----------------------------------------


@pytest.mark.parametrize("action_mode", ["token", "topk", "utterance"])
@pytest.mark.parametrize("obs_mode", ["tokens", "text", "embedding", "proposals"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_every_interface(env_id, obs_mode, action_mode):
    kwargs = dict(obs_mode=obs_mode, action_mode=action_mode, max_new_tokens=4, topk=4)
    if env_id == DIALOGUE:
        kwargs["partner_max_new_tokens"] = 4
    env = make_env(env_id, **kwargs)
    check_env(env)
    if action_mode == "utterance" and env_id != DIALOGUE:
        # A sampled MultiDiscrete action is a complete turn that fills the budget: the
        # single-turn episode terminates (a whole utterance is never "cut off").
        env.action_space.seed(0)
        env.reset(seed=0)
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        assert terminated and not truncated


# -- 2. Embedding observations -----------------------------------------------------------


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_lm_embedding_matches_full_forward_and_updates_incrementally(env_id):
    # Dialogue: the first turn ends with <|im_end|>, the partner answers, then two tokens.
    actions = [100, 200, IM_END, 300, 400] if env_id == DIALOGUE else [100, 200, 300, 400]
    env = make_env(env_id, obs_mode="embedding", max_new_tokens=5)
    lm = env.lm
    assert env.observation_space == spaces.Box(-np.inf, np.inf, (64,), np.float32)
    obs, info = env.reset(seed=0)
    stream = env.lm_state.stream
    forwarded = []  # lengths of the model's forward inputs, during the current step

    def count(module, args, kwargs):
        forwarded.append((kwargs["input_ids"] if "input_ids" in kwargs else args[0]).shape[1])

    observations, per_step = [(obs, env.context_ids)], []
    for action in actions:
        forwarded.clear()
        handle = lm.model.register_forward_pre_hook(count, with_kwargs=True)
        try:
            obs, _, terminated, truncated, info = env.step(action)
        finally:
            handle.remove()
        assert not (terminated or truncated)
        per_step.append(list(forwarded))
        observations.append((obs, env.context_ids))
        # The same KV-cached stream, extended with exactly the new context tokens.
        assert env.lm_state.stream is stream and stream.ids == env.context_ids
    if env_id == DIALOGUE:
        assert len(info["user_turns"]) == 2 and info["user_turns"][1]
        # The partner's generation, then one forward over the agent's <|im_end|> and
        # everything the partner's turn appended.
        appended = len(observations[3][1]) - len(observations[2][1])
        assert appended > 6 and per_step[2][-1] == appended
        assert per_step[:2] == per_step[3:] == [[1], [1]]
    else:
        assert per_step == [[1]] * 4  # one token per step, never a re-encode
    for obs, ids in observations:
        assert obs.shape == (64,) and obs.dtype == np.float32
        _, hidden = full_forward(lm, ids)
        np.testing.assert_allclose(obs, hidden.numpy(), atol=1e-4)
    assert not np.allclose(observations[-1][0], observations[-2][0], atol=1e-3)


def test_minilm_embedding_is_a_unit_vector_of_the_context_text():
    env = make_env("TextSentiment-v0", obs_mode="embedding", embedding_model="minilm")
    assert env.observation_space.shape == (384,)
    obs, info = env.reset(seed=0)
    assert env.embedding_text() == info["prompt"]
    obs2, *_ = env.step(env.lm.encode(" terrible")[0])
    for o in (obs, obs2):
        assert o.shape == (384,) and o.dtype == np.float32
        assert np.linalg.norm(o) == pytest.approx(1.0, abs=1e-5)
        assert env.observation_space.contains(o)
    assert not np.allclose(obs, obs2, atol=1e-3)


# -- 3. Top-k proposals ------------------------------------------------------------------


def test_topk_proposals_are_the_top_logits_and_actions_play_them():
    env = make_env("TextTranslation-v0", action_mode="topk", topk=8)
    lm = env.lm
    assert env.action_space == spaces.Discrete(8)
    _, info = env.reset(seed=0)
    for index in (0, 5, 7, 3):
        proposals = info["proposal_ids"]
        assert proposals.tolist() == expected_proposals(lm, env.context_ids, 8)
        assert IM_START not in proposals
        assert info["proposal_texts"] == [lm.decode([t]) for t in proposals]
        assert info["action_mask"].tolist() == [True] * 8
        probs = info["proposal_probs"]
        assert np.all(np.diff(probs) <= 0) and probs[0] > 0
        mask = env.action_masks()
        assert mask.shape == (8,) and mask.dtype == bool and mask.all()
        before = env.context_ids
        _, _, terminated, truncated, info = env.step(index)
        assert env.context_ids == [*before, int(proposals[index])]
        assert "invalid_action" not in info and not (terminated or truncated)


def test_topk_proposals_after_a_partner_turn_follow_the_full_context():
    env = make_env(DIALOGUE, action_mode="topk", topk=8, max_new_tokens=2)
    _, info = env.reset(seed=0)
    env.step(0)
    before = env.context_ids
    _, _, terminated, truncated, info = env.step(1)
    assert info["turn_ended"] and not (terminated or truncated)
    assert len(env.context_ids) > len(before) + 6  # the partner's turn was appended
    assert info["proposal_ids"].tolist() == expected_proposals(env.lm, env.context_ids, 8)


@pytest.mark.parametrize("action_mode", ["topk", "token"])
def test_proposals_observation_shows_the_proposed_tokens(action_mode):
    env = make_env("TextSentiment-v0", obs_mode="proposals", action_mode=action_mode, topk=5)
    lm = env.lm
    table = lm.model.get_input_embeddings().weight.detach().float()
    assert env.observation_space == spaces.Dict(
        {
            "context": spaces.Box(-np.inf, np.inf, (64,), np.float32),
            "proposals": spaces.Box(-np.inf, np.inf, (5, 64), np.float32),
            "proposal_logprobs": spaces.Box(-np.inf, 0.0, (5,), np.float32),
            "proposal_in_context": spaces.Box(0.0, 1.0, (5,), np.float32),
            "proposal_in_turn": spaces.Box(0.0, 1.0, (5,), np.float32),
        }
    )
    obs, info = env.reset(seed=0)
    prompt = list(env.context_ids)
    for action in (3, 0, 4):
        logits, hidden = full_forward(lm, env.context_ids)
        ids = expected_proposals(lm, env.context_ids, 5)
        assert info["proposal_ids"].tolist() == ids
        torch.testing.assert_close(torch.from_numpy(obs["context"]), hidden, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.from_numpy(obs["proposals"]), table[ids])
        # log-probabilities under the LM at temperature 1, best first
        expected = logits.log_softmax(-1)[ids]
        torch.testing.assert_close(
            torch.from_numpy(obs["proposal_logprobs"]), expected, atol=1e-4, rtol=1e-4
        )
        assert np.all(np.diff(obs["proposal_logprobs"]) <= 0)
        turn = env.context_ids[len(prompt) :]
        assert obs["proposal_in_context"].tolist() == [float(t in prompt) for t in ids]
        assert obs["proposal_in_turn"].tolist() == [float(t in turn) for t in ids]
        token = ids[action] if action_mode == "token" else action
        obs, _, _, _, info = env.step(token)
        assert env.context_ids[-1] == ids[action]
    # Token actions stay Discrete(vocab), with no proposal mask.
    if action_mode == "token":
        assert env.action_masks().shape == (VOCAB,)


@pytest.mark.parametrize("env_id", ["TextSummarization-v0", "TextDialogue-v0"])
def test_proposal_flags_mark_copies_and_repeats(env_id):
    # A copy is a token of the context before the agent's turn (the document, the user's
    # message, earlier turns); a repeat one of the turn itself.
    env = make_env(env_id, obs_mode="proposals", action_mode="token", topk=4)
    env.reset(seed=0)
    before = list(env.context_ids)
    copy, fresh = before[-3], next(t for t in range(700, VOCAB) if t not in before)
    env.step(fresh)
    logits = torch.zeros(VOCAB)
    other = next(t for t in range(900, VOCAB) if t not in before and t != fresh)
    logits[[copy, fresh, other, 5000]] = torch.tensor([9.0, 8.0, 7.0, 6.0])
    env.proposals.update(logits)
    obs, _ = env.observe()
    assert env.proposals.ids.tolist()[:3] == [copy, fresh, other]
    assert obs["proposal_in_context"][:3].tolist() == [1.0, 0.0, 0.0]
    assert obs["proposal_in_turn"][:3].tolist() == [0.0, 1.0, 0.0]
    assert obs["proposal_in_context"].dtype == np.float32


def test_topk_never_proposes_im_start_but_may_propose_eos():
    env = make_env("TextSentiment-v0", action_mode="topk", topk=4)
    env.reset(seed=0)
    logits = torch.zeros(VOCAB)
    logits[[IM_START, IM_END, 700, ENDOFTEXT, 900]] = torch.tensor([9.0, 8.0, 7.0, 6.0, 5.0])
    env.proposals.update(logits)
    assert env.proposals.ids.tolist() == [IM_END, 700, ENDOFTEXT, 900]


def test_topk_never_proposes_other_special_tokens():
    env = make_env("TextSentiment-v0", action_mode="topk", topk=4)
    env.reset(seed=0)
    file_sep = env.lm.tokenizer.convert_tokens_to_ids("<file_sep>")
    assert env.lm.decode([file_sep], skip_special_tokens=True) == ""  # a special token
    logits = torch.zeros(VOCAB)
    logits[[file_sep, 700, 800, 900]] = torch.tensor([9.0, 8.0, 7.0, 6.0])
    env.proposals.update(logits)
    assert file_sep not in env.proposals.ids.tolist()


def test_topk_equal_to_vocabulary_never_proposes_im_start():
    try:
        env = make_env("TextSentiment-v0", action_mode="topk", topk=VOCAB, max_new_tokens=1)
    except ValueError:
        return  # rejecting more proposals than proposable tokens is a fine fix too
    _, info = env.reset(seed=0)
    assert IM_START not in info["proposal_ids"].tolist()


def test_topk_temperature_zero_is_greedy_for_the_top_p_mask():
    kwargs = dict(action_mode="topk", topk=8, topk_temperature=0.0, topk_top_p=0.5)
    env = make_env("TextSentiment-v0", **kwargs)
    env.reset(seed=0)
    assert env.action_masks().tolist() == [True] + [False] * 7


def test_topk_top_p_masks_all_but_a_prefix_and_masked_choice_plays_the_first():
    # The tiny model's distribution is nearly flat; temperature 0.1 sharpens it so that
    # the first proposal alone holds more than top_p=0.05 of the mass.
    kwargs = dict(action_mode="topk", topk=8, topk_temperature=0.1, topk_top_p=0.05)
    env = make_env("TextTranslation-v0", **kwargs)
    _, info = env.reset(seed=0)
    logits, _ = full_forward(env.lm, env.context_ids)
    logits[sorted(env.lm.special_ids - env.lm.eos_ids)] = float("-inf")
    probs = torch.softmax(logits / 0.1, -1)[torch.as_tensor(info["proposal_ids"])]
    mass_before = (torch.cumsum(probs, 0) - probs).numpy()
    mask = env.action_masks()
    assert mask.tolist() == (mass_before < 0.05).tolist()
    assert mask[0] and not mask.all()
    assert mask.tolist() == sorted(mask.tolist(), reverse=True)  # a prefix
    np.testing.assert_allclose(info["proposal_probs"], probs.numpy(), rtol=1e-4)
    masked = int(np.flatnonzero(~mask)[0])
    before, first = env.context_ids, int(info["proposal_ids"][0])
    _, _, _, _, info = env.step(masked)
    assert info["invalid_action"] is True
    assert env.context_ids == [*before, first]


def test_topk_larger_than_vocabulary_raises():
    with pytest.raises(ValueError, match="tokens that can be proposed"):
        make("TextSentiment-v0", action_mode="topk", topk=VOCAB + 1)


@pytest.mark.parametrize("index", [8, 100, -1])
def test_topk_index_outside_k_raises_and_changes_nothing(index):
    env = make_env("TextTranslation-v0", action_mode="topk", topk=8)
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)
    before = env.context_ids
    with pytest.raises(gym.error.InvalidAction, match=r"Discrete\(8\)") as err:
        env.step(index)
    assert isinstance(err.value, ValueError)
    assert env.context_ids == before
    assert env.proposals.ids.tolist() == info["proposal_ids"].tolist()
    assert info["num_new_tokens"] == 1
    _, _, _, _, after = env.step(1)
    assert env.context_ids == [*before, int(info["proposal_ids"][1])]
    assert after["num_new_tokens"] == 2


# -- 4. Utterance actions ----------------------------------------------------------------


def test_utterance_action_space_and_masks():
    env = make_env("TextSummarization-v0", action_mode="utterance", max_new_tokens=7)
    assert isinstance(env.action_space, spaces.MultiDiscrete)
    assert env.action_space.shape == (7,)
    assert env.action_space.nvec.tolist() == [VOCAB] * 7
    with pytest.raises(TypeError, match="Discrete action modes"):
        env.action_masks()


def _turn_tokens(env_id, env, info, ending, budget):
    """Tokens for the agent's next turn that the reward scores above zero: the reference,
    positive words for sentiment, an echo of the partner for a later dialogue turn."""
    refs = env.example.references
    if env_id == "TextSentiment-v0":
        text = " wonderful great happy love excellent good"
    elif env_id == DIALOGUE and (len(info["user_turns"]) > 1 or not refs):
        text = info["user_turns"][-1]  # lexical F1 with the message it answers
    else:
        text = refs[0]
    tokens = env.lm.encode(text + " and the weather is nice today")[:budget]
    assert len(tokens) == budget and not set(tokens) & env.lm.eos_ids
    return tokens[:3] + [IM_END] if ending == "eos" else tokens


@pytest.mark.parametrize("ending", ["eos", "budget"])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_utterance_step_equals_token_steps(env_id, ending):
    budget = 6
    tok = make_env(env_id, max_new_tokens=budget)
    utt = make_env(env_id, max_new_tokens=budget, action_mode="utterance")
    _, tok_info = tok.reset(seed=3)
    _, utt_info = utt.reset(seed=3)
    assert tok.context_ids == utt.context_ids
    turn_rewards = []
    for turn in range(tok.num_turns):
        tokens = _turn_tokens(env_id, tok, tok_info, ending, budget)
        rewards = []
        for i, token in enumerate(tokens):
            _, reward, tok_term, tok_trunc, tok_info = tok.step(token)
            rewards.append(reward)
            assert tok_info["turn_ended"] == (i == len(tokens) - 1)
        _, utt_reward, utt_term, utt_trunc, utt_info = utt.step(np.array(tokens))
        assert utt_reward == sum(rewards)
        turn_rewards.append(utt_reward)
        # Flags agree, except that a whole utterance filling the budget is a complete turn
        # (terminated), where the same tokens one per step ran out of budget (truncated).
        assert (utt_term, utt_trunc) == (tok_term or tok_trunc, False)
        assert utt_info["turn_ended"] and utt_info["generation"] == tok_info["generation"]
        assert tok_info["turn_truncated"] == (ending == "budget")
        assert not utt_info["turn_truncated"]
        assert "utterance_truncated" not in utt_info
        if env_id == DIALOGUE:
            assert utt_info["user_turns"] == tok_info["user_turns"]
            assert len(utt_info["user_turns"]) == 2 and utt_info["user_turns"][1]
        assert utt.context_ids == tok.context_ids
        assert not (tok_term or tok_trunc) or turn == tok.num_turns - 1
    assert (tok_term, tok_trunc) == ((True, False) if ending == "eos" else (False, True))
    assert utt_info["episode_return"] == tok_info["episode_return"] == sum(turn_rewards)
    assert any(r != 0 for r in turn_rewards)


@pytest.mark.parametrize("env_id", ["TextTranslation-v0", "TextSentiment-v0"])
def test_text_utterance_appends_encoded_text_and_an_end_token(env_id):
    env = make_env(env_id, action_mode="utterance", max_new_tokens=8)
    env.reset(seed=0)
    before = env.context_ids
    _, _, terminated, truncated, info = env.step("Hola amigo")
    encoded = env.lm.encode("Hola amigo")
    assert env.context_ids == [*before, *encoded, IM_END]
    assert terminated and not truncated
    assert info["generation"] == "Hola amigo" and info["num_new_tokens"] == len(encoded) + 1


def test_text_utterance_in_dialogue_ends_the_turn_and_the_partner_answers():
    env = make_env(DIALOGUE, action_mode="utterance", max_new_tokens=8)
    env.reset(seed=0)
    before = env.context_ids
    _, _, terminated, truncated, info = env.step("Hello there")
    assert not (terminated or truncated) and info["turn_ended"]
    encoded = env.lm.encode("Hello there")
    assert env.context_ids[: len(before) + len(encoded) + 1] == [*before, *encoded, IM_END]
    tail = env.lm.decode(env.context_ids[len(before) + len(encoded) + 1 :])
    assert tail.startswith("\n<|im_start|>user\n") and info["user_turns"][1] in tail
    assert info["agent_turns"] == ["Hello there"]


def test_overlong_utterance_is_cut_to_the_budget_and_truncates():
    env = make_env("TextTranslation-v0", action_mode="utterance", max_new_tokens=5)
    env.reset(seed=0)
    before = env.context_ids
    _, _, terminated, truncated, info = env.step(list(range(100, 109)))
    assert env.context_ids == [*before, 100, 101, 102, 103, 104]
    assert info["utterance_truncated"] is True
    assert truncated and not terminated and info["num_new_tokens"] == 5


@pytest.mark.parametrize(
    "action",
    [
        np.array([[100, 101], [102, 103]]),
        np.array([100.0, 101.0]),
        [1.5, 2.5],
        {"ids": [100]},
        [100, VOCAB],
        np.array([-1, 5]),
        [True, False],
        7,
    ],
    ids=["2d", "float-array", "float-list", "dict", "id-too-large", "negative", "bool", "int"],
)
def test_bad_utterance_raises_and_changes_nothing(action):
    env = make_env("TextTranslation-v0", action_mode="utterance", max_new_tokens=4)
    env.reset(seed=0)
    before = env.context_ids
    with pytest.raises(gym.error.InvalidAction) as err:
        env.step(action)
    assert isinstance(err.value, ValueError)
    assert env.context_ids == before
    _, _, terminated, _, info = env.step([100, IM_END])
    assert env.context_ids == [*before, 100, IM_END] and terminated
    assert info["num_new_tokens"] == 2


# -- 5. Dense reward shaping -------------------------------------------------------------


@pytest.mark.parametrize("env_id", ["TextTranslation-v0", "TextSentiment-v0"])
def test_dense_rewards_sum_to_the_terminal_reward(env_id):
    rewards = {}
    for shaping in ("terminal", "dense"):
        env = make_env(env_id, reward_shaping=shaping, max_new_tokens=12)
        env.reset(seed=0)
        if env_id == "TextSentiment-v0":
            tokens = env.lm.encode(" it was great, wonderful and I love it")
        else:
            tokens = env.lm.encode(env.example.references[0])[:10]
        rewards[shaping] = []
        for token in [*tokens, IM_END]:
            _, reward, terminated, truncated, info = env.step(token)
            rewards[shaping].append(reward)
        assert terminated and not truncated
    terminal, dense = rewards["terminal"], rewards["dense"]
    assert terminal[:-1] == [0.0] * (len(terminal) - 1) and terminal[-1] > 0.3
    assert sum(dense) == pytest.approx(terminal[-1])
    assert sum(r != 0 for r in dense[:-1]) >= 2


# -- 6. KL shaping -----------------------------------------------------------------------


@pytest.mark.parametrize("action_mode", ["token", "topk"])
def test_kl_penalty_is_the_reference_logprob_of_each_token(action_mode):
    env = make_env("TextTranslation-v0", kl_coef=0.1, action_mode=action_mode, max_new_tokens=8)
    _, info = env.reset(seed=0)
    actions = [100, 2000, 30000, IM_END] if action_mode == "token" else [0, 3, 1, 2]
    for step, action in enumerate(actions):
        token = action if action_mode == "token" else int(info["proposal_ids"][action])
        logits, _ = full_forward(env.lm, env.context_ids)
        logprob = float(torch.log_softmax(logits, -1)[token])
        assert logprob < -5  # a nearly flat random model: ~ -log(49152)
        _, reward, terminated, truncated, info = env.step(action)
        assert info["ref_logprob"] == pytest.approx(logprob, abs=1e-4)
        assert info["kl_penalty"] == pytest.approx(0.1 * -logprob, abs=1e-5)
        if step < len(actions) - 1:
            assert reward == pytest.approx(-0.1 * -logprob, abs=1e-5)
            assert not (terminated or truncated)
    if action_mode == "token":
        assert terminated
        score = info["reward_components"]["reward"]
        assert reward == pytest.approx(score - 0.1 * -logprob, abs=1e-5)


def test_kl_coef_needs_per_token_actions_and_must_be_non_negative():
    with pytest.raises(ValueError, match="kl_coef applies per token"):
        make("TextTranslation-v0", kl_coef=0.1, action_mode="utterance")
    with pytest.raises(ValueError, match="kl_coef must be >= 0"):
        make("TextTranslation-v0", kl_coef=-0.1)


# -- 7. Determinism with LM-derived observations and actions -----------------------------


def _topk_embedding_episode(env_id, seed):
    env = make_env(env_id, obs_mode="embedding", action_mode="topk", topk=6, max_new_tokens=4)
    obs, info = env.reset(seed=seed)
    records = [(obs, info["proposal_ids"], info["example_id"])]
    for action in [0, 5, 2, 1, 4, 3, 0, 1]:
        obs, reward, terminated, truncated, info = env.step(action)
        records.append((obs, reward, terminated, truncated, info.get("proposal_ids")))
        if terminated or truncated:
            break
    return records, info.get("user_turns")


def _equal(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("env_id", ["TextSentiment-v0", DIALOGUE])
def test_same_seed_and_actions_give_identical_topk_embedding_episode(env_id):
    first, turns_a = _topk_embedding_episode(env_id, seed=11)
    second, turns_b = _topk_embedding_episode(env_id, seed=11)
    assert len(first) == len(second) >= 5
    assert all(_equal(a, b) for a, b in zip(first, second, strict=True))
    assert turns_a == turns_b
    other, _ = _topk_embedding_episode(env_id, seed=12)
    assert not _equal(first[0], other[0])
