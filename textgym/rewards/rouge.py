"""Summarisation reward: ROUGE-L F1 (rouge-score) with an optional length penalty."""

from collections.abc import Sequence

from textgym.rewards.base import Reward, check_batch

# Checked against rouge-score's tokenizer on construction (see RougeL._fast_tokens).
_PROBES = ("The Cat-sat on the MAT, twice!  İstanbul 3.5km; naïve café\n(ok) __x__", "", "!?")


def match_masks(tokens: Sequence[str]) -> dict[str, int]:
    """For each distinct token, the bit set of its positions in ``tokens`` (bit i: token i)."""
    masks: dict[str, int] = {}
    for i, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | 1 << i
    return masks


def lcs_length(masks: dict[str, int], length: int, candidate: Sequence[str]) -> int:
    """Length of the longest common subsequence of a sequence (its :func:`match_masks` and
    ``length``) and ``candidate``.

    Bit-parallel (Allison and Dix, 1986; Hyyro, 2004): one pass over ``candidate`` with a few
    operations on ``length``-bit integers, where rouge-score fills a ``length x
    len(candidate)`` table in Python (most of a ROUGE-L call for a 25-word summary).

    >>> ref = "the cat sat on the mat".split()
    >>> lcs_length(match_masks(ref), len(ref), "the cat lay on a mat".split())
    4
    """
    # Bit i of `v` is 0 where the LCS of the reference's first i + 1 tokens and the
    # candidate so far grows; additions only carry upward, so bits past `length` are junk
    # that never reaches the low bits.
    v = all_ones = (1 << length) - 1
    get = masks.get
    for token in candidate:
        u = v & get(token, 0)
        v = (v + u) | (v - u)
    return length - (v & all_ones).bit_count()


class RougeL(Reward):
    """ROUGE-L F1 against the best-matching reference, minus a length penalty.

    ``penalty = length_penalty * |words(completion) - words(reference)| / words(reference)``,
    so ``length_penalty=0`` (the default) is plain ROUGE-L F1 in [0, 1]. Equal to
    rouge-score's ``RougeScorer(["rougeL"]).score(reference, completion)``, computed faster:
    the references' tokens are cached and the LCS is bit-parallel (:func:`lcs_length`).

    >>> RougeL()(["the cat sat on the mat"], [["the cat sat on the mat"]])
    [1.0]
    >>> round(RougeL(length_penalty=0.5)(["the cat"], [["the cat sat on the mat"]])[0], 4)
    0.1667
    """

    name = "rougeL"
    _CACHE_SIZE = 8192

    def __init__(self, length_penalty: float = 0.0, use_stemmer: bool = False) -> None:
        from rouge_score import scoring, tokenize, tokenizers

        if length_penalty < 0:
            raise ValueError(f"length_penalty must be >= 0, got {length_penalty}")
        self.length_penalty = float(length_penalty)
        self.use_stemmer = use_stemmer
        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer)
        self._non_alphanum = tokenize.NON_ALPHANUM_RE
        self._fmeasure = scoring.fmeasure
        self._fast = not use_stemmer and all(
            self._fast_tokens(p) == self._tokenizer.tokenize(p) for p in _PROBES
        )
        self._ref_cache: dict[str, tuple[dict[str, int], int]] = {}
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

    def _fast_tokens(self, text: str) -> list[str]:
        # rouge-score lowercases, turns every run of characters outside [a-z0-9] into a
        # space, splits on whitespace and keeps the tokens matching ^[a-z0-9]+$: after the
        # substitution those are exactly the non-empty pieces, str.split()'s result.
        return self._non_alphanum.sub(" ", text.lower()).split()

    def _tokens(self, text: str) -> list[str]:
        return self._fast_tokens(text) if self._fast else self._tokenizer.tokenize(text)

    def _reference(self, ref: str) -> tuple[dict[str, int], int]:
        # An environment scores many completions against the same references.
        info = self._ref_cache.get(ref)
        if info is None:
            if len(self._ref_cache) >= self._CACHE_SIZE:
                self._ref_cache.clear()
            tokens = self._tokens(ref)
            info = self._ref_cache[ref] = (match_masks(tokens), len(tokens))
        return info

    def _rouge_l(self, ref: str, hyp_tokens: list[str]) -> float:
        """rouge-score's ROUGE-L F-measure (``rouge_scorer._score_lcs``)."""
        masks, ref_len = self._reference(ref)
        if not ref_len or not hyp_tokens:
            return 0  # rouge-score's value, an int
        lcs = lcs_length(masks, ref_len, hyp_tokens)
        return self._fmeasure(lcs / len(hyp_tokens), lcs / ref_len)

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        check_batch(completions, references)
        out = []
        for hyp, refs in zip(completions, references, strict=True):
            if not refs:
                raise ValueError("ROUGE needs at least one reference per completion")
            hyp_tokens = self._tokens(hyp)
            best_f, best_ref = max(
                ((self._rouge_l(ref, hyp_tokens), ref) for ref in refs),
                key=lambda pair: pair[0],
            )
            ref_words = max(len(best_ref.split()), 1)
            hyp_words = len(hyp.split())
            penalty = self.length_penalty * (abs(hyp_words - ref_words) / ref_words)
            out.append(
                {
                    "reward": best_f - penalty,
                    "rougeL_f": best_f,
                    "length_ratio": hyp_words / ref_words,
                    "length_penalty": penalty,
                }
            )
        return out
