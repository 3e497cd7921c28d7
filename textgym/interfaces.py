"""Observation and action interfaces over the token-level MDP.

Observation modes: ``tokens`` (ids + mask), ``text`` (a ``Text`` string), ``embedding``
(a float vector: the LM's last hidden state, or a MiniLM sentence embedding) and
``proposals`` (that vector plus the token embeddings and log-probabilities of the LM's
top-k next tokens, so that an agent choosing among them can see what they are).
Action modes: ``token`` (``Discrete(vocab)``), ``topk`` (``Discrete(k)`` over the LM's
proposals) and ``utterance`` (a whole turn per step, ``MultiDiscrete`` of token ids).
"""

from typing import Any

import numpy as np
from gymnasium import spaces

from textgym.errors import InvalidAction
from textgym.spaces import text_space

OBS_MODES = ("tokens", "text", "embedding", "proposals")
ACTION_MODES = ("token", "topk", "utterance")
EMBEDDING_MODELS = ("lm", "minilm")


def observation_space(env: Any) -> spaces.Space:
    if env.obs_mode == "tokens":
        ids = spaces.Box(0, env.lm.vocab_size - 1, (env.max_obs_tokens,), np.int64)
        mask = spaces.Box(0, 1, (env.max_obs_tokens,), np.int64)
        return spaces.Dict({"input_ids": ids, "attention_mask": mask})
    if env.obs_mode == "text":
        return text_space(env.max_obs_chars)
    dim = env.lm.hidden_size if env.embedding_model == "lm" else 384
    context = spaces.Box(-np.inf, np.inf, (dim,), np.float32)
    if env.obs_mode == "embedding":
        return context
    k, d = env.topk, env.lm.hidden_size
    return spaces.Dict(
        {
            "context": context,
            "proposals": spaces.Box(-np.inf, np.inf, (k, d), np.float32),
            "proposal_logprobs": spaces.Box(-np.inf, 0.0, (k,), np.float32),
            "proposal_in_context": spaces.Box(0.0, 1.0, (k,), np.float32),
            "proposal_in_turn": spaces.Box(0.0, 1.0, (k,), np.float32),
        }
    )


def action_space(env: Any) -> spaces.Space:
    if env.action_mode == "token":
        return spaces.Discrete(env.lm.vocab_size)
    if env.action_mode == "topk":
        return spaces.Discrete(env.topk)
    return spaces.MultiDiscrete(np.full(env.max_new_tokens, env.lm.vocab_size, dtype=np.int64))


_FAST_INTS = (int, np.int64, np.int32)


def as_token(action: Any, n: int, what: str = "token id") -> int:
    """One integer in [0, n), or an :class:`InvalidAction` naming the value and the fix."""
    if type(action) in _FAST_INTS and 0 <= action < n:  # the common case, checked fast
        return int(action)
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        raise InvalidAction(
            f"action {action!r} (type {type(action).__name__}) is not a {what}: the "
            f"action space is Discrete({n}), so pass one integer in [0, {n})"
        )
    if not 0 <= action < n:
        raise InvalidAction(f"action {int(action)} is outside Discrete({n}): use [0, {n})")
    return int(action)


def as_utterance(action: Any, lm: Any) -> list[int]:
    """Token ids of an utterance action.

    Accepts a string (encoded with the environment's tokenizer) or a 1-D sequence of
    token ids (the ``MultiDiscrete`` space's arrays, lists, tuples).
    """
    if isinstance(action, str):
        return lm.encode(action)
    if isinstance(action, (list, tuple)):
        action = np.asarray(action) if action else np.zeros(0, dtype=np.int64)
    if not isinstance(action, np.ndarray) or action.ndim != 1 or action.dtype.kind not in "iu":
        shape = getattr(action, "shape", None)
        raise InvalidAction(
            f"utterance action {action!r} (type {type(action).__name__}, shape {shape}) is not "
            "a string or a 1-D sequence of integer token ids"
        )
    if action.size and (action.min() < 0 or action.max() >= lm.vocab_size):
        bad = action[(action < 0) | (action >= lm.vocab_size)][0]
        raise InvalidAction(
            f"utterance holds token id {int(bad)}, outside [0, {lm.vocab_size}): pass ids of "
            "the environment's tokenizer"
        )
    return action.tolist()


class Proposals:
    """The top-k next tokens of a logits vector, with a validity mask.

    Tokens are ranked by logit (so by probability at any temperature); special tokens
    other than end-of-turn tokens are never proposed. With ``top_p < 1`` a proposal is
    valid only while the proposals ranked above it hold less than ``top_p`` of the
    probability mass (computed at ``temperature``; 0 is greedy: only the first is valid);
    the first is always valid. Proposals with probability 0 are invalid too.
    """

    def __init__(self, k: int, temperature: float, top_p: float, banned: list[int]) -> None:
        self.k, self.temperature, self.top_p = k, temperature, top_p
        self.banned = banned
        self.ids = np.zeros(k, dtype=np.int64)
        self.mask = np.ones(k, dtype=bool)
        self.probs = np.zeros(k, dtype=np.float32)
        self.logprobs = np.zeros(k, dtype=np.float32)  # under the LM at temperature 1

    def update(self, logits: Any) -> None:
        import torch

        logits = logits.float().clone()
        log_z = torch.logsumexp(logits, -1)  # the LM's own normaliser, special tokens included
        if self.banned:
            logits[self.banned] = float("-inf")
        top_logits, top_ids = torch.topk(logits, self.k)
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            top_probs = probs[top_ids]
        else:  # greedy: all the mass on the most likely token
            top_probs = torch.zeros(self.k)
            top_probs[0] = 1.0
        mass_before = torch.cumsum(top_probs, 0) - top_probs
        mask = top_probs > 0
        if self.top_p < 1.0:
            mask &= mass_before < self.top_p
        mask[0] = True
        self.ids = top_ids.numpy().astype(np.int64)
        self.mask = mask.numpy()
        self.probs = top_probs.numpy().astype(np.float32)
        self.logprobs = (top_logits - log_z).numpy().astype(np.float32)
