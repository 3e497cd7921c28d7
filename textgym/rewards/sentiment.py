"""Sentiment reward: VADER compound score toward a target polarity."""

from collections.abc import Sequence

from textgym.rewards.base import Reward, check_batch

TARGETS = ("positive", "negative")


class VaderSentiment(Reward):
    """VADER compound score in [-1, 1], negated for ``target="negative"``.

    >>> reward = VaderSentiment("positive")
    >>> reward(["It was wonderful and I loved it."])[0] > 0.8
    True
    >>> VaderSentiment("negative")(["It was wonderful and I loved it."])[0] < -0.8
    True
    """

    name = "vader"

    def __init__(self, target: str = "positive") -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.target = target
        self._sign = 1.0 if target == "positive" else -1.0
        self._analyzer = SentimentIntensityAnalyzer()
        self._signature = self._make_signature()  # importlib.metadata is slow: once

    @property
    def signature(self) -> str:
        return self._signature

    def _make_signature(self) -> str:
        from importlib.metadata import version

        return f"vaderSentiment:{version('vaderSentiment')}|compound|target:{self.target}"

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]] | None = None
    ) -> list[dict[str, float]]:
        if references is None:
            references = [()] * len(completions)
        check_batch(completions, references)
        out = []
        for text in completions:
            compound = self._analyzer.polarity_scores(text)["compound"]
            out.append({"reward": self._sign * compound, "compound": compound})
        return out
