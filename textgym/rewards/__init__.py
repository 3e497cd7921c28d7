"""Rewards as plain batched callables: ``reward(completions, references) -> list[float]``.

Each reward also has ``detailed(...)``, which returns one dict of components per item
(the ``"reward"`` key is what ``__call__`` returns), and a ``signature`` string that pins
the metric's version and options; environments put both into ``info``. They import their
metric libraries on construction, so ``import textgym.rewards`` stays light.
"""

from collections.abc import Sequence


class Reward:
    """Base class: subclasses implement :meth:`detailed`."""

    name: str = "reward"

    @property
    def signature(self) -> str:
        return self.name

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        raise NotImplementedError

    def __call__(
        self, completions: Sequence[str], references: Sequence[Sequence[str]] | None = None
    ) -> list[float]:
        if references is None:
            references = [()] * len(completions)
        return [item["reward"] for item in self.detailed(completions, references)]


def check_batch(completions: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Reject mismatched batches and bare strings where lists of references are expected."""
    if isinstance(completions, str):
        raise TypeError("completions must be a sequence of strings, not one string")
    if len(completions) != len(references):
        raise ValueError(
            f"got {len(completions)} completions but {len(references)} reference lists"
        )
    for refs in references:
        if isinstance(refs, str):
            raise TypeError(
                f"each item of references must be a list of strings, got the string {refs!r}: "
                "wrap it as [reference]"
            )


from textgym.rewards.bleu import SentenceBLEU, SentenceChrF  # noqa: E402
from textgym.rewards.rouge import RougeL  # noqa: E402
from textgym.rewards.sentiment import VaderSentiment  # noqa: E402
from textgym.rewards.similarity import DialogueReward, MiniLMEncoder, lexical_f1  # noqa: E402

__all__ = [
    "DialogueReward",
    "MiniLMEncoder",
    "Reward",
    "RougeL",
    "SentenceBLEU",
    "SentenceChrF",
    "VaderSentiment",
    "check_batch",
    "lexical_f1",
]
