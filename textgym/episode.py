"""An episode's record and the order in which resets walk through the examples."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textgym.data import Example


class ExampleOrder:
    """A seeded shuffle of ``n`` example indices that later resets walk through; a new
    shuffle starts when a seed is given or the current one is used up."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._order: np.ndarray | None = None
        self._cursor = 0

    @property
    def shuffled(self) -> bool:
        return self._order is not None

    def reshuffle(self, rng: np.random.Generator) -> None:
        self._order, self._cursor = rng.permutation(self.n), 0

    def next(self, rng: np.random.Generator) -> int:
        if self._order is None or self._cursor >= len(self._order):
            self.reshuffle(rng)
        assert self._order is not None
        self._cursor += 1
        return int(self._order[self._cursor - 1])


@dataclass
class Episode:
    """What an episode has done: its example, the agent's finished turns and their scores,
    the last turn's reward components, the return so far and whether it is over."""

    example: Example
    index: int
    """the example's index in the environment's dataset"""
    prompt_truncated: bool
    turns: list[str] = field(default_factory=list)
    turn_rewards: list[float] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    over: bool = False

    def info(self, signature: str) -> dict[str, Any]:
        """The info entries that describe the episode itself."""
        ex = self.example
        info: dict[str, Any] = {
            "example_id": ex.id,
            "prompt": ex.prompt,
            "references": list(ex.references),
            "turn": len(self.turns),
            "prompt_truncated": self.prompt_truncated,
            "metric_signature": signature,
        }
        if self.components:
            info["reward_components"] = dict(self.components)
        if self.over:
            info["episode_return"] = self.total
        return info

    def render(self, task: str, generation: str) -> str:
        ex = self.example
        lines = [f"[{task}] example {ex.id}", f"prompt:     {ex.prompt}"]
        lines += [f"turn {i + 1}:     {t}" for i, t in enumerate(self.turns)]
        if not self.over:
            lines.append(f"generating: {generation}")
        lines += [f"reference:  {r}" for r in ex.references[:3]]
        if self.components:
            parts = ", ".join(f"{k}={v:.3f}" for k, v in self.components.items())
            lines.append(f"reward:     {parts}")
        return "\n".join(lines)


__all__ = ["Episode", "ExampleOrder"]
