"""TextVectorEnv: same trajectories as SyncVectorEnv, one LM, batched forwards."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import textgym
from textgym.batching import BatchedContexts
from textgym.vector import TextSentimentVectorEnv, TextVectorEnv


def _actions(vec, rng, step):
    space = vec.single_action_space
    if isinstance(space, gym.spaces.Discrete) and space.n > 1000:
        actions = rng.integers(3, 1000, size=vec.num_envs)
        if step % 5 == 4:
            actions[::2] = 2  # <|im_end|>: some sub-envs end a turn, others go on
        return actions
    return vec.action_space.sample()


def _rollout(vec, steps, seed):
    rng = np.random.default_rng(seed)
    vec.action_space.seed(seed)
    obs, info = vec.reset(seed=seed)
    records = [(obs, info["example_id"].tolist())]
    for t in range(steps):
        obs, reward, terminated, truncated, info = vec.step(_actions(vec, rng, t))
        records.append(
            (obs, reward, terminated, truncated, list(info["generation"]), list(info["example_id"]))
        )
    return records


def _assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


CASES = [
    ("TextSentiment-v0", dict(obs_mode="tokens")),
    ("TextSentiment-v0", dict(obs_mode="embedding", action_mode="topk", topk=8)),
    ("TextSentiment-v0", dict(obs_mode="proposals", action_mode="topk", topk=4)),
    ("TextTranslation-v0", dict(obs_mode="embedding")),
    ("TextSummarization-v0", dict(obs_mode="text")),
    # A short partner budget keeps these fast; the batched-partner path is the same.
    ("TextDialogue-v0", dict(obs_mode="embedding", num_turns=2, partner_max_new_tokens=6)),
    ("TextDialogue-v0", dict(obs_mode="tokens", action_mode="utterance", partner_max_new_tokens=6)),
]


@pytest.mark.parametrize("env_id, kwargs", CASES)
def test_same_trajectories_as_sync_vector_env(env_id, kwargs):
    kwargs = dict(kwargs, model="tiny", max_new_tokens=6)
    if env_id == "TextDialogue-v0":
        kwargs.setdefault("similarity", "lexical")
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync", **kwargs)
    ours = gym.make_vec(env_id, num_envs=3, **kwargs)
    assert isinstance(ours, TextVectorEnv)
    _assert_same(_rollout(sync, 25, seed=4), _rollout(ours, 25, seed=4))


def test_declares_next_step_autoreset_and_resets_after_done():
    vec = gym.make_vec("TextSentiment-v0", num_envs=2, model="tiny", max_new_tokens=2)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    vec.reset(seed=0)
    vec.step(np.array([5, 5]))
    _, _, _, truncated, _ = vec.step(np.array([5, 5]))
    assert truncated.all()
    obs, reward, terminated, truncated, info = vec.step(np.array([5, 5]))  # autoreset step
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    assert (info["num_new_tokens"] == 0).all()


def test_one_lm_for_all_sub_envs():
    vec = gym.make_vec("TextTranslation-v0", num_envs=4, model="tiny", obs_mode="embedding")
    assert len({id(env.lm) for env in vec.envs}) == 1
    assert vec.observation_space.shape == (4, 64)


def test_mixing_models_is_a_clear_error():
    from textgym.envs.sentiment import TextSentimentEnv

    envs = [TextSentimentEnv(model="tiny"), TextSentimentEnv(model="tiny", dtype="bfloat16")]
    with pytest.raises(ValueError, match="same model, device and dtype"):
        TextVectorEnv.from_envs(envs)


def test_mixing_configurations_is_a_clear_error():
    from textgym.envs.sentiment import TextSentimentEnv

    envs = [TextSentimentEnv(model="tiny"), TextSentimentEnv(model="tiny", max_obs_tokens=64)]
    with pytest.raises(ValueError, match="one class and configuration"):
        TextVectorEnv.from_envs(envs)


def test_bad_vector_arguments():
    vec = TextSentimentVectorEnv(num_envs=2, model="tiny")
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(np.array([1, 2]))
    vec.reset(seed=0)
    with pytest.raises(ValueError, match="do not match 2 environments"):
        vec.step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        TextSentimentVectorEnv(num_envs=0, model="tiny")
    with pytest.raises(ValueError, match="3 seeds for 2"):
        vec.reset(seed=[1, 2, 3])


def test_action_masks_are_stacked():
    vec = gym.make_vec(
        "TextSentiment-v0", num_envs=3, model="tiny", action_mode="topk", topk=4, topk_top_p=0.5
    )
    vec.reset(seed=0)
    masks = vec.action_masks()
    assert masks.shape == (3, 4) and masks[:, 0].all()


def test_batched_contexts_match_single_streams(tiny_lm):
    """Restarts, single tokens and multi-token chunks in one cache give each row's own
    logits and hidden state."""
    rng = np.random.default_rng(0)
    contexts = [rng.integers(3, 1000, size=n).tolist() for n in (5, 12, 8)]
    batch = BatchedContexts(tiny_lm, 3, hidden=True)
    batch.update([(True, c) for c in contexts])
    for step in range(12):
        pending = []
        for row, ctx in enumerate(contexts):
            if step == 6 and row == 1:
                contexts[row] = rng.integers(3, 1000, size=20).tolist()  # new episode
                pending.append((True, contexts[row]))
                continue
            new = rng.integers(3, 1000, size=7 if step == 3 and row != 2 else 1).tolist()
            ctx.extend(new)
            pending.append((False, new))
        batch.update(pending)
        for row, ctx in enumerate(contexts):
            out = tiny_lm.model(torch.tensor([ctx]), output_hidden_states=True)
            torch.testing.assert_close(batch.logits[row], out.logits[0, -1], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(
                batch.hidden[row], out.hidden_states[-1][0, -1], atol=1e-4, rtol=1e-4
            )


def test_every_id_has_a_vector_entry_point():
    for env_id in textgym.ENV_IDS:
        assert gym.spec(env_id).vector_entry_point.startswith("textgym.vector:")


@pytest.mark.parametrize("obs_mode", ["tokens", "embedding"])
def test_same_step_autoreset_matches_sync_vector_env(obs_mode):
    kwargs = dict(model="tiny", max_new_tokens=3, obs_mode=obs_mode)
    mode = gym.vector.AutoresetMode.SAME_STEP
    sync = gym.make_vec(
        "TextTranslation-v0",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": mode},
        **kwargs,
    )
    ours = gym.make_vec("TextTranslation-v0", num_envs=3, autoreset_mode=mode, **kwargs)
    assert ours.metadata["autoreset_mode"] == mode
    for vec in (sync, ours):
        vec.reset(seed=1)
    rng = np.random.default_rng(0)
    for step in range(7):
        actions = rng.integers(3, 1000, size=3)
        if step == 1:
            actions[1] = 2  # one sub-env ends early
        a, b = sync.step(actions), ours.step(actions)
        for x, y in zip(a[:4], b[:4], strict=True):
            _assert_same(x, y)
        assert a[4]["example_id"].tolist() == b[4]["example_id"].tolist()
        if "final_info" in a[4]:
            assert b[4]["_final_obs"].tolist() == a[4]["_final_obs"].tolist()
            done = np.flatnonzero(a[4]["_final_obs"])
            for i in done:
                _assert_same(a[4]["final_obs"][i], b[4]["final_obs"][i])
            assert (
                a[4]["final_info"]["generation"][done].tolist()
                == b[4]["final_info"]["generation"][done].tolist()
            )
            assert (b[4]["num_new_tokens"][done] == 0).all()  # already reset


def test_same_step_final_obs_is_one_dimensional_when_every_env_ends():
    vec = gym.make_vec(
        "TextSentiment-v0",
        2,
        model="tiny",
        obs_mode="embedding",
        max_new_tokens=1,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    vec.reset(seed=0)
    final_obs = vec.step(np.array([5, 6]))[4]["final_obs"]
    assert final_obs.shape == (2,) and final_obs[0].dtype == np.float32
    assert final_obs[0].shape == (64,)


def test_turns_that_end_together_are_scored_in_one_reward_call(monkeypatch):
    from textgym.encoders import MiniLMEncoder

    kwargs = dict(model="tiny", num_turns=1, max_new_tokens=4, similarity="minilm")
    vec = gym.make_vec("TextDialogue-v0", num_envs=4, **kwargs)
    sync = gym.make_vec("TextDialogue-v0", num_envs=4, vectorization_mode="sync", **kwargs)
    vec.reset(seed=0), sync.reset(seed=0)
    calls, encode = [], MiniLMEncoder.encode

    def counting(self, texts):
        calls.append(len(texts))
        return encode(self, texts)

    monkeypatch.setattr(MiniLMEncoder, "encode", counting)
    actions = np.array([300, 400, 500, 600])  # tokens that decode to text
    for _ in range(3):
        vec.step(actions)
    calls.clear()
    ours = vec.step(actions)  # every row's turn runs out of budget: 4 turns to score
    assert len(calls) == 1 and calls[0] >= 8  # one encode: 4 turns and their targets
    for _ in range(4):
        theirs = sync.step(actions)
    _assert_same(ours[:4], theirs[:4])
