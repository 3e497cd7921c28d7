"""Summarisation reward: ROUGE-L F1 (rouge-score) with an optional length penalty."""

from collections.abc import Sequence

from textgym.rewards import Reward, check_batch


class RougeL(Reward):
    """ROUGE-L F1 against the best-matching reference, minus a length penalty.

    ``penalty = length_penalty * |words(completion) - words(reference)| / words(reference)``,
    so ``length_penalty=0`` (the default) is plain ROUGE-L F1 in [0, 1].

    >>> RougeL()(["the cat sat on the mat"], [["the cat sat on the mat"]])
    [1.0]
    >>> round(RougeL(length_penalty=0.5)(["the cat"], [["the cat sat on the mat"]])[0], 4)
    0.1667
    """

    name = "rougeL"

    def __init__(self, length_penalty: float = 0.0, use_stemmer: bool = False) -> None:
        from rouge_score import rouge_scorer

        if length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
        self.length_penalty = float(length_penalty)
        self.use_stemmer = use_stemmer
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
        self._signature = self._make_signature()  # importlib.metadata is slow: once

    @property
    def signature(self) -> str:
        return self._signature

    def _make_signature(self) -> str:
        from importlib.metadata import version

        return (
            f"rouge-score:{version('rouge-score')}|rougeL|stem:{self.use_stemmer}"
            f"|length_penalty:{self.length_penalty}"
        )

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        check_batch(completions, references)
        out = []
        for hyp, refs in zip(completions, references, strict=True):
            if not refs:
                raise ValueError("ROUGE needs at least one reference per completion")
            best_f, best_ref = max(
                ((self._scorer.score(ref, hyp)["rougeL"].fmeasure, ref) for ref in refs),
                key=lambda pair: pair[0],
            )
            ref_words = max(len(best_ref.split()), 1)
            gap = abs(len(hyp.split()) - ref_words) / ref_words
            penalty = self.length_penalty * gap
            out.append(
                {
                    "reward": best_f - penalty,
                    "rougeL_f": best_f,
                    "length_ratio": len(hyp.split()) / ref_words,
                    "length_penalty": penalty,
                }
            )
        return out
