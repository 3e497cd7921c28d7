"""Action modes: how an action becomes the tokens the agent adds to its turn.

- ``token``: ``Discrete(vocab_size)``, one token id per step;
- ``topk``: ``Discrete(k)``, action i plays the LM's i-th proposal (:mod:`textgym.proposals`);
- ``utterance``: a whole turn per step, ``MultiDiscrete([vocab_size] * max_new_tokens)`` of
  token ids, or a string.

A mode is chosen once, at construction (:func:`make_action_mode`). :meth:`ActionMode.parse`
only reads state: it validates the action and returns a :class:`ParsedAction`, or raises
:class:`~textgym.errors.InvalidAction` naming the value and the fix, so a caller can check a
whole batch before any environment changes (what ``TextVectorEnv.step`` does).
"""

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from textgym.errors import InvalidAction
from textgym.lm import LM
from textgym.proposals import Proposals

ACTION_MODES = ("token", "topk", "utterance")
_FAST_INTS = (int, np.int64, np.int32)
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass
class ParsedAction:
    """What a valid action adds: ``tokens``, whether the turn must close after them
    (an utterance is a whole turn), and info entries to report."""

    tokens: list[int]
    close_turn: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def as_token(action: Any, n: int, what: str = "token id") -> int:
    """One integer in [0, n), or an :class:`InvalidAction` naming the value and the fix."""
    if type(action) in _FAST_INTS and 0 <= action < n:  # the common case, checked fast
        return int(action)
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        action = action.item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        raise InvalidAction(
            f"action {_short(action)} (type {type(action).__name__}) is not a {what}: the "
            f"action space is Discrete({n}), so pass one integer in [0, {n})"
        )
    if not 0 <= action < n:
        raise InvalidAction(f"action {int(action)} is outside Discrete({n}): use [0, {n})")
    return int(action)


def as_utterance(action: Any, lm: LM, budget: int) -> tuple[list[int], bool]:
    """Token ids of an utterance action, at most ``budget`` of them, and whether it was cut.

    Accepts a string (encoded with the environment's tokenizer; lone surrogates, which no
    tokenizer can encode, become U+FFFD; only the first ``budget`` tokens' worth of
    characters is encoded, see :meth:`LM.encode_prefix`) or a 1-D sequence of token ids
    (the ``MultiDiscrete`` space's arrays, lists, tuples).
    """
    if isinstance(action, str):
        ids, cut = lm.encode_prefix(_SURROGATES.sub("\ufffd", action), budget + 1)
        return ids[:budget], cut or len(ids) > budget
    if isinstance(action, (list, tuple)):
        try:
            action = np.asarray(action) if action else np.zeros(0, dtype=np.int64)
        except ValueError:  # ragged: numpy cannot make one array of it
            action = None
    if not isinstance(action, np.ndarray) or action.ndim != 1 or action.dtype.kind not in "iu":
        raise InvalidAction(
            f"utterance action {_short(action)} (type {type(action).__name__}, shape "
            f"{getattr(action, 'shape', None)}) is not a string or a 1-D sequence of integer "
            "token ids: pass text, or one list of ids"
        )
    if action.size and (action.min() < 0 or action.max() >= lm.vocab_size):
        bad = action[(action < 0) | (action >= lm.vocab_size)][0]
        raise InvalidAction(
            f"utterance holds token id {int(bad)}, outside [0, {lm.vocab_size}): pass ids of "
            "the environment's tokenizer"
        )
    return action[:budget].tolist(), action.size > budget


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class ActionMode:
    """Base class: the action space and how an action is parsed."""

    name: str = ""
    space: spaces.Space
    per_token: bool = True
    """one token per step (so per-token KL shaping applies)"""
    needs_logits: bool = False
    """parsing reads the LM's proposals, which must be kept up to date"""
    info_flags: tuple[str, ...] = ()
    """the boolean entries a parsed action may add to ``info``"""

    def parse(self, action: Any) -> ParsedAction:
        raise NotImplementedError

    def masks(self) -> np.ndarray:
        raise TypeError("action_masks() applies to Discrete action modes ('token', 'topk')")


class TokenActions(ActionMode):
    name = "token"

    def __init__(self, lm: LM) -> None:
        self.vocab_size = lm.vocab_size
        self.space = spaces.Discrete(lm.vocab_size)

    def parse(self, action: Any) -> ParsedAction:
        return ParsedAction([as_token(action, self.vocab_size)])

    def masks(self) -> np.ndarray:
        return np.ones(self.vocab_size, dtype=bool)


class TopkActions(ActionMode):
    """Action i plays proposal i; an invalid (masked) proposal plays proposal 0 and sets
    ``info["invalid_action"]``."""

    name = "topk"
    needs_logits = True
    info_flags = ("invalid_action",)

    def __init__(self, proposals: Proposals) -> None:
        self.proposals = proposals
        self.space = spaces.Discrete(proposals.k)

    def parse(self, action: Any) -> ParsedAction:
        index = as_token(action, self.proposals.k, what="proposal index")
        if not self.proposals.mask[index]:
            return ParsedAction([int(self.proposals.ids[0])], info={"invalid_action": True})
        return ParsedAction([int(self.proposals.ids[index])])

    def masks(self) -> np.ndarray:
        return self.proposals.mask.copy()


class UtteranceActions(ActionMode):
    """A whole turn per step. One within the budget closes the turn (with an end token if
    it has none); a longer one is cut to the budget and ends the turn like a token-by-token
    turn that runs out of it (``info["utterance_truncated"]``)."""

    name = "utterance"
    per_token = False
    info_flags = ("utterance_truncated",)

    def __init__(self, lm: LM, max_new_tokens: int) -> None:
        self.lm, self.budget = lm, max_new_tokens
        self.space = spaces.MultiDiscrete(np.full(max_new_tokens, lm.vocab_size, dtype=np.int64))

    def parse(self, action: Any) -> ParsedAction:
        tokens, cut = as_utterance(action, self.lm, self.budget)
        if cut:
            return ParsedAction(tokens, info={"utterance_truncated": True})
        return ParsedAction(tokens, close_turn=True)


def make_action_mode(
    action_mode: str, lm: LM, max_new_tokens: int, proposals: Proposals | None
) -> ActionMode:
    if action_mode == "token":
        return TokenActions(lm)
    if action_mode == "topk":
        assert proposals is not None
        return TopkActions(proposals)
    return UtteranceActions(lm, max_new_tokens)


__all__ = [
    "ACTION_MODES",
    "ActionMode",
    "ParsedAction",
    "TokenActions",
    "TopkActions",
    "UtteranceActions",
    "as_token",
    "as_utterance",
    "make_action_mode",
]
