"""Scoring turns in batches: what an environment asks of its reward, and one call for many.

After :meth:`TextEnv.apply_action` a step may wait for a score: the turn that just ended, or
(with dense shaping) the turn so far. The environment describes it as a
:class:`ScoreRequest` (the text, its references, and the reward's other per-item inputs,
e.g. the dialogue reward's user message and history); :func:`score_requests` scores many with
one call of the reward's batched ``detailed``, which is one MiniLM encode or one reward-model
forward for all of them. ``TextVectorEnv`` scores all its rows that way.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from textgym.rewards.base import Reward


@dataclass
class ScoreRequest:
    """One completion to score: ``detailed([text], [references], **{k: [v]})``."""

    text: str
    references: Sequence[str] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    """the reward's other per-item arguments (the same keys in every request of a task)"""


def score_requests(reward: Reward, requests: Sequence[ScoreRequest]) -> list[dict[str, float]]:
    """The components of every request, from one batched call of ``reward.detailed``."""
    if not requests:
        return []
    keys = requests[0].inputs.keys()
    inputs = {key: [r.inputs[key] for r in requests] for key in keys}
    texts = [r.text for r in requests]
    refs = [tuple(r.references) for r in requests]
    # A task's inputs are its reward's keyword arguments (the dialogue reward's user_turns
    # and histories).
    return reward.detailed(texts, refs, **inputs)


__all__ = ["ScoreRequest", "score_requests"]
