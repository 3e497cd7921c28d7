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
from typing import TYPE_CHECKING, Any, NamedTuple

from textgym.rewards.base import Reward

if TYPE_CHECKING:
    from textgym.core import TextEnv


@dataclass
class ScoreRequest:
    """One completion to score: ``detailed([text], [references], **{k: [v]})``."""

    text: str
    references: Sequence[str] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    """the reward's other per-item arguments (the same keys in every request of a task)"""
    prompt: str = ""
    """what the text answers (the example's prompt; in dialogue the user's message), given
    to rewards whose ``uses_prompts`` is True (a learned reward model scores the pair)"""


def score_requests(reward: Reward, requests: Sequence[ScoreRequest]) -> list[dict[str, float]]:
    """The components of every request, from one batched call of ``reward.detailed``."""
    if not requests:
        return []
    keys = requests[0].inputs.keys()
    inputs = {key: [r.inputs[key] for r in requests] for key in keys}
    if getattr(reward, "uses_prompts", False):
        inputs["prompts"] = [r.prompt for r in requests]
    texts = [r.text for r in requests]
    refs = [tuple(r.references) for r in requests]
    # A task's inputs are its reward's keyword arguments (the dialogue reward's user_turns
    # and histories).
    return reward.detailed(texts, refs, **inputs)


class StepOutcome(NamedTuple):
    """What ``TextEnv.finish_step`` returns: Gymnasium's reward and flags, and the
    entries it adds to the step's info."""

    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass
class PendingStep:
    """A step between ``TextEnv.apply_action`` and ``TextEnv.finish_step``."""

    reward: float  # so far (the KL penalty)
    extra: dict[str, Any]
    ended_by_eos: bool
    out_of_budget: bool

    @property
    def turn_ended(self) -> bool:
        return self.ended_by_eos or self.out_of_budget


def score_steps(envs: Sequence["TextEnv"]) -> list[StepOutcome]:
    """Finish the steps ``apply_action`` began in every environment: the scores they need
    come from one batched reward call per reward (rows whose rewards share a class and
    signature), so N dialogue turns cost one MiniLM encode, N reward-model scores one
    forward."""
    requests = [(env, env.score_request()) for env in envs]
    groups: dict[tuple[type, str], list[tuple[int, ScoreRequest]]] = {}
    components: dict[int, dict[str, float]] = {}
    for i, (env, request) in enumerate(requests):
        if request is None:
            continue
        if env.scores_in_batch:
            key = (type(env.reward_fn), env.reward_fn.signature)
            groups.setdefault(key, []).append((i, request))
        else:
            components[i] = env.score_turn(request.text)
    for rows in groups.values():
        reward = envs[rows[0][0]].reward_fn
        scores = score_requests(reward, [request for _, request in rows])
        components.update((i, score) for (i, _), score in zip(rows, scores, strict=True))
    return [env.finish_step(components.get(i)) for i, env in enumerate(envs)]


__all__ = ["PendingStep", "ScoreRequest", "StepOutcome", "score_requests", "score_steps"]
