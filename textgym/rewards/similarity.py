"""Dialogue reward: semantic similarity (MiniLM) with penalties for empty and repeated turns."""

import re
from collections import Counter
from collections.abc import Sequence

from textgym.encoders import MiniLMEncoder
from textgym.rewards.base import Reward, check_batch

_WORD = re.compile(r"\w+")


def lexical_f1(a: str, b: str) -> float:
    """Bag-of-words F1 between two texts (case-insensitive), in [0, 1].

    >>> lexical_f1("the cat sat", "the cat ran")
    0.6666666666666666
    """
    wa, wb = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    common = sum((wa & wb).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(wa.values()), common / sum(wb.values())
    return 2 * precision * recall / (precision + recall)


class DialogueReward(Reward):
    """Per-turn dialogue reward.

    ``reward = similarity - empty_penalty * [turn is empty] - repeat_penalty * [repeated]``

    similarity is the cosine (MiniLM, or bag-of-words F1 with ``similarity="lexical"``)
    between the agent's turn and the closest reference reply when there is one, else between the
    turn and the user message it answers (relevance). A turn is repeated when its lexical F1
    with an earlier agent turn of the episode is at least ``repeat_threshold``. An empty
    turn scores ``-empty_penalty`` and nothing else.

    >>> DialogueReward(similarity="lexical")(["nice to meet you"], [["nice to meet you"]])
    [1.0]
    """

    name = "dialogue"

    def __init__(
        self,
        similarity: str = "minilm",
        empty_penalty: float = 1.0,
        repeat_penalty: float = 0.5,
        repeat_threshold: float = 0.8,
        device: str = "cpu",
    ) -> None:
        if similarity not in ("minilm", "lexical"):
            raise ValueError(f"similarity must be 'minilm' or 'lexical', got {similarity!r}")
        self.similarity = similarity
        self.empty_penalty = float(empty_penalty)
        self.repeat_penalty = float(repeat_penalty)
        self.repeat_threshold = float(repeat_threshold)
        self._encoder = MiniLMEncoder.shared(device) if similarity == "minilm" else None

    @property
    def signature(self) -> str:
        sim = "all-MiniLM-L6-v2:mean-pool:cosine" if self.similarity == "minilm" else "lexical-f1"
        return (
            f"{sim}|empty:{self.empty_penalty}|repeat:{self.repeat_penalty}@{self.repeat_threshold}"
        )

    def _similarity(self, a: list[str], b: list[str]) -> list[float]:
        if not a:
            return []
        if self._encoder is None:
            return [lexical_f1(x, y) for x, y in zip(a, b, strict=True)]
        return self._encoder.similarity(a, b)

    def detailed(
        self,
        completions: Sequence[str],
        references: Sequence[Sequence[str]],
        user_turns: Sequence[str] | None = None,
        histories: Sequence[Sequence[str]] | None = None,
    ) -> list[dict[str, float]]:
        """``user_turns[i]`` is the message turn i answers (used when it has no reference);
        ``histories[i]`` are the agent's earlier turns in the same episode."""
        check_batch(completions, references)
        n = len(completions)
        user_turns = list(user_turns) if user_turns is not None else [""] * n
        histories = list(histories) if histories is not None else [()] * n
        if len(user_turns) != n or len(histories) != n:
            raise ValueError(f"user_turns and histories need one item per completion ({n})")
        # One similarity per (turn, target) pair; a turn's score is its best target, so any
        # of several references counts.
        targets = [
            list(refs) if refs else [user]
            for refs, user in zip(references, user_turns, strict=True)
        ]
        pairs = [
            (i, t) for i in range(n) if completions[i].strip() for t in targets[i] if t.strip()
        ]
        scores = self._similarity([completions[i] for i, _ in pairs], [t for _, t in pairs])
        sims: dict[int, float] = {}
        for (i, _), score in zip(pairs, scores, strict=True):
            sims[i] = max(sims.get(i, float("-inf")), float(score))
        out = []
        for i, text in enumerate(completions):
            if not text.strip():
                out.append(
                    {
                        "reward": -self.empty_penalty,
                        "similarity": 0.0,
                        "empty": 1.0,
                        "repeated": 0.0,
                    }
                )
                continue
            repeated = any(lexical_f1(text, old) >= self.repeat_threshold for old in histories[i])
            sim = float(sims.get(i, 0.0))
            out.append(
                {
                    "reward": sim - self.repeat_penalty * repeated,
                    "similarity": sim,
                    "empty": 0.0,
                    "repeated": float(repeated),
                    "has_reference": float(bool(references[i])),
                }
            )
        return out
