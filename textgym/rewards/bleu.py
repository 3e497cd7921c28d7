"""Translation rewards from sacrebleu: sentence BLEU and chrF, scaled to [0, 1]."""

from collections.abc import Sequence
from typing import Any

from textgym.rewards import Reward, check_batch


class SentenceBLEU(Reward):
    """Sentence BLEU (sacrebleu, effective order, 13a tokenisation) divided by 100.

    Several references are scored jointly (sacrebleu's multi-reference BLEU: n-gram counts
    clipped by the maximum over references, brevity penalty from the closest length).

    >>> bleu = SentenceBLEU()
    >>> bleu(["el gato duerme en el sofá"], [["el gato duerme en el sofá"]])
    [1.0]
    >>> bleu(["hola"], [["adiós amigo"]])
    [0.0]
    """

    name = "bleu"
    _CACHE_SIZE = 8192

    def __init__(self, tokenize: str = "13a", lowercase: bool = False) -> None:
        from sacrebleu.metrics import BLEU

        # One BLEU object for all calls: constructing it per sentence costs more than scoring.
        self._metric = BLEU(effective_order=True, tokenize=tokenize, lowercase=lowercase)
        # The signature records the number of references, known only after one score.
        self._metric.sentence_score("a", ["a"])
        self._signature = str(self._metric.get_signature())
        self._nrefs = 1
        self._ref_cache: dict[tuple[str, ...], Any] = {}

    @property
    def signature(self) -> str:
        return self._signature

    def _score(self, hyp: str, refs: tuple[str, ...]) -> Any:
        """``sentence_score`` with the references' n-gram statistics cached: an environment
        scores many generations against the same references, and extracting them was half
        the cost. Uses sacrebleu 2.x's segment-statistics methods; falls back to the public
        call if they change (the tests compare both)."""
        metric = self._metric
        try:
            ref_info = self._ref_cache.get(refs)
            if ref_info is None:
                if len(self._ref_cache) >= self._CACHE_SIZE:
                    self._ref_cache.clear()
                ref_info = metric._cache_references([[r] for r in refs])[0]
                self._ref_cache[refs] = ref_info
            stats = metric._compute_segment_statistics(metric._preprocess_segment(hyp), ref_info)
            return metric._compute_score_from_stats(stats)
        except AttributeError:
            return metric.sentence_score(hyp, list(refs))

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        check_batch(completions, references)
        out = []
        for hyp, refs in zip(completions, references, strict=True):
            if not refs:
                raise ValueError("BLEU needs at least one reference per completion")
            score = self._score(hyp, tuple(refs))
            if len(refs) != self._nrefs:  # the signature records the reference count
                self._nrefs, self._signature = len(refs), str(self._metric.get_signature())
            # sacrebleu's exp(log-mean) can land a hair above 100 for a perfect match.
            reward = min(score.score / 100.0, 1.0)
            out.append({"reward": reward, "bleu": score.score, "bp": score.bp})
        return out


class SentenceChrF(Reward):
    """Sentence chrF (sacrebleu; ``word_order=2`` gives chrF++) divided by 100.

    >>> SentenceChrF()(["la casa"], [["la casa"]])
    [1.0]
    """

    name = "chrf"

    def __init__(self, word_order: int = 0) -> None:
        from sacrebleu.metrics import CHRF

        self._metric = CHRF(word_order=word_order)
        # The signature records the number of references, known only after one score.
        self._metric.sentence_score("a", ["a"])
        self._signature = str(self._metric.get_signature())
        self._nrefs = 1

    @property
    def signature(self) -> str:
        return self._signature

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        check_batch(completions, references)
        out = []
        for hyp, refs in zip(completions, references, strict=True):
            if not refs:
                raise ValueError("chrF needs at least one reference per completion")
            score = self._metric.sentence_score(hyp, list(refs)).score
            if len(refs) != self._nrefs:  # the signature records the reference count
                self._nrefs, self._signature = len(refs), str(self._metric.get_signature())
            out.append({"reward": min(score / 100.0, 1.0), "chrf": score})
        return out
