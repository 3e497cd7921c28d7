"""Translation rewards from sacrebleu: sentence BLEU and chrF, scaled to [0, 1]."""

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import chain

from textgym.rewards.base import Reward, check_batch

# -- sacrebleu's 13a tokenisation, fast -------------------------------------------------------
# sacrebleu's 13a tokenizer (tokenizers/tokenizer_13a.py and tokenizer_re.py) runs four
# `re.sub` calls with replacement templates, which Python 3.11 expands in Python once per
# match. Its first pattern matches every space, so one 25-word sentence costs ~26 expansions,
# most of the time of a sentence BLEU. `tokenize_13a` gives the same tokens with few matches:
# - It pads 13a's first character class (ASCII punctuation but ' , - .) without the space:
#   13a pads each space into three, and its later patterns treat a run of spaces as one
#   space (a space is never a digit, period, comma or dash), so only whitespace differs
#   before the final split, which drops it.
# - Without an ASCII digit in the line, 13a's period/comma rules ("unless preceded/followed
#   by a digit") split off every period and comma, so they join the first class and the
#   other patterns never run. With a digit, the other patterns run verbatim.
# SentenceBLEU checks it against the installed sacrebleu on construction (_PROBES) and
# uses sacrebleu's tokenizer if they ever disagree; tests/rewards compare them on random text.
_PUNCT = re.compile(r"[\{-\~\[-\`!-\&\(-\+\:-\@\/]")
_PUNCT_AND_POINTS = re.compile(r"[\{-\~\[-\`!-\&\(-\+\:-\@\/\.,]")
_DIGIT = re.compile(r"[0-9]")
_13A_NUMBER_RULES = (  # 13a's patterns 2-4, in its order
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period and comma unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period and comma unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
)
_PROBES = (
    "El gato duerme, en el sofá. ¿Verdad?",
    "Cost: $1,000.50 (approx.) vs. 3-4 items; 2.5-3.0 km / h... ok!",
    "a{b|c}d~e[f\\g]h^i_j`k!l\"m#n$o%p&q'r(s)t*u+v:w;x<y=z>A?B@C/D.E,F-G",
    "A &quot;quoted&quot; &amp; &lt;tag&gt; line-\nbroken\nthere <skipped> 1.,2,.3 -4- 5--",
    ".5 ,6 7. 8, 9.. .,a ,. 0-0 x-1 1-x 1.a a.1 a,1 1,a\t. , \u3000,\u00a0.",
)


def _pad(match: re.Match) -> str:
    return f" {match[0]} "


def tokenize_13a(line: str) -> list[str]:
    """The tokens of sacrebleu's 13a tokenizer for ``line`` (``" ".join`` gives its output).

    >>> tokenize_13a("Hola, mundo. Son 3,5 km (aprox.)")
    ['Hola', ',', 'mundo', '.', 'Son', '3,5', 'km', '(', 'aprox', '.', ')']
    """
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&")
        line = line.replace("&lt;", "<").replace("&gt;", ">")
    if _DIGIT.search(line) is None:
        return _PUNCT_AND_POINTS.sub(_pad, line).split()
    line = _PUNCT.sub(_pad, f" {line} ")
    for pattern, template in _13A_NUMBER_RULES:
        line = pattern.sub(template, line)
    return line.split()


def _ngrams(tokens: list[str], max_order: int) -> Iterator[tuple[str, ...]]:
    """Every n-gram of ``tokens`` for n = 1..max_order, as tuples (sacrebleu's keys)."""
    shifted = [tokens[i:] for i in range(max_order)]  # of decreasing lengths: not strict
    return chain.from_iterable(zip(*shifted[:n], strict=False) for n in range(1, max_order + 1))


def exp_smoothed_bleu(
    correct: list[int], total: list[int], hyp_len: int, ref_len: int
) -> tuple[float, float]:
    """BLEU (0-100) and brevity penalty from one sentence's statistics: sacrebleu's
    ``BLEU.compute_bleu`` with ``smooth_method="exp"`` and ``effective_order=True``, the same
    float operations in the same order (so the same result, bit for bit), without building
    its ``BLEUScore`` (whose formatted strings cost more than the arithmetic).

    >>> exp_smoothed_bleu([3, 1, 0, 0], [4, 3, 2, 1], 4, 5)
    (27.534765745159184, 0.7788007830714049)
    """
    bp = 1.0
    if hyp_len < ref_len:
        bp = math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0
    if not any(correct):
        return 0.0, bp
    # Orders up to the longest the hypothesis has (effective order); an order without a
    # match gets 1 / (2^k * total) for its k-th such order (NIST "exp" smoothing), so no
    # precision is 0 and sacrebleu's floored log is the plain log.
    precisions, smooth = [], 1.0
    for matches, count in zip(correct, total, strict=True):
        if count == 0:
            break
        if matches == 0:
            smooth *= 2
            precisions.append(100.0 / (smooth * count))
        else:
            precisions.append(100.0 * matches / count)
    # sum() of a list, as in sacrebleu, so that the additions match in every Python version
    # (3.12 made sum() of floats compensated).
    return bp * math.exp(sum([math.log(p) for p in precisions]) / len(precisions)), bp


class _References:
    """One reference set's n-gram counts (max over the references) and token lengths."""

    __slots__ = ("counts", "grams", "lens")

    def __init__(self, token_lists: list[list[str]], max_order: int) -> None:
        counts = Counter(_ngrams(token_lists[0], max_order))
        for tokens in token_lists[1:]:
            for gram, count in Counter(_ngrams(tokens, max_order)).items():
                if count > counts[gram]:
                    counts[gram] = count
        self.counts, self.grams = counts, frozenset(counts)
        self.lens = [len(tokens) for tokens in token_lists]


class SentenceBLEU(Reward):
    """Sentence BLEU (sacrebleu, effective order, 13a tokenisation) divided by 100.

    Several references are scored jointly (sacrebleu's multi-reference BLEU: n-gram counts
    clipped by the maximum over references, brevity penalty from the closest length).
    Equal to ``sacrebleu.sentence_bleu(hyp, refs).score / 100``, computed faster: the
    references' n-grams are cached, the hypothesis is tokenised by :func:`tokenize_13a`,
    and only the n-grams it shares with the references are counted.

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

        # Kept for its tokenizer, its options and its signature; scores never go through it.
        self._metric = BLEU(effective_order=True, tokenize=tokenize, lowercase=lowercase)
        self._max_order = self._metric.max_ngram_order
        self._tokenizer = self._metric.tokenizer
        self._fast_13a = tokenize == "13a" and all(
            tokenize_13a(p) == self._tokenizer(p.rstrip()).split() for p in _PROBES
        )
        self._signatures: dict[int, str] = {}
        self._nrefs = 1
        self._signature = self._signature_for(1)
        self._ref_cache: dict[tuple[str, ...], _References] = {}

    @property
    def signature(self) -> str:
        return self._signature

    def _signature_for(self, nrefs: int) -> str:
        """sacrebleu's signature, which records the number of references: sacrebleu sets
        that when it scores, so score a dummy sentence with ``nrefs`` references once."""
        if nrefs not in self._signatures:
            self._metric.sentence_score("a", ["a"] * nrefs)
            self._signatures[nrefs] = str(self._metric.get_signature())
        return self._signatures[nrefs]

    def _tokens(self, text: str) -> list[str]:
        """sacrebleu's ``BLEU._preprocess_segment(text).split()``."""
        if self._metric.lowercase:
            text = text.lower()
        if self._fast_13a:
            return tokenize_13a(text.rstrip())
        return self._tokenizer(text.rstrip()).split()

    def _references(self, refs: tuple[str, ...]) -> _References:
        # An environment scores many generations against the same references.
        info = self._ref_cache.get(refs)
        if info is None:
            if len(self._ref_cache) >= self._CACHE_SIZE:
                self._ref_cache.clear()
            info = _References([self._tokens(r) for r in refs], self._max_order)
            self._ref_cache[refs] = info
        return info

    def _score(self, hyp: str, refs: tuple[str, ...]) -> tuple[float, float]:
        """The score (0-100) and brevity penalty of sacrebleu's
        ``BLEU(effective_order=True).sentence_score(hyp, refs)``, from the same statistics
        (sacrebleu's ``_compute_segment_statistics``)."""
        if not isinstance(hyp, str):
            raise TypeError(f"each completion must be a string, got {type(hyp).__name__}")
        ref = self._references(refs)
        tokens, max_order = self._tokens(hyp), self._max_order
        hyp_len = len(tokens)
        # The closest reference length; the shorter one on a tie.
        ref_len = min(ref.lens, key=lambda n: (abs(hyp_len - n), n))
        total = [max(hyp_len - n, 0) for n in range(max_order)]
        correct = [0] * max_order
        # Only shared n-grams count; a shared one scores min(its count, the reference
        # count), which is 1 when the reference has it once (the usual case).
        hyp_counts = None
        for gram in ref.grams.intersection(_ngrams(tokens, max_order)):
            count = ref.counts[gram]
            if count > 1:
                if hyp_counts is None:
                    hyp_counts = Counter(_ngrams(tokens, max_order))
                count = min(count, hyp_counts[gram])
            correct[len(gram) - 1] += count
        return exp_smoothed_bleu(correct, total, hyp_len, ref_len)

    def detailed(
        self, completions: Sequence[str], references: Sequence[Sequence[str]]
    ) -> list[dict[str, float]]:
        check_batch(completions, references)
        out = []
        for hyp, refs in zip(completions, references, strict=True):
            # sacrebleu drops None references (a variable number of references per segment).
            refs = tuple(r for r in refs if r is not None)
            if not refs:
                raise ValueError("BLEU needs at least one reference per completion")
            score, bp = self._score(hyp, refs)
            if len(refs) != self._nrefs:  # the signature records the reference count
                self._nrefs, self._signature = len(refs), self._signature_for(len(refs))
            # sacrebleu's exp(log-mean) can land a hair above 100 for a perfect match.
            out.append({"reward": min(score / 100.0, 1.0), "bleu": score, "bp": bp})
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
