"""Tests for the reward functions in textgym.rewards, checked against the metric libraries."""

from __future__ import annotations

import random
from typing import Any

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from textgym.rewards import (
    DialogueReward,
    RougeL,
    SentenceBLEU,
    SentenceChrF,
    VaderSentiment,
    lexical_f1,
)
from textgym.rewards.bleu import tokenize_13a
from textgym.rewards.rouge import lcs_length, match_masks

HYP = "El gato duerme en el sofá de la sala."
REF = "El gato está durmiendo en el sofá."
UNRELATED = "Un perro ladra."


@pytest.fixture(scope="module")
def bleu() -> SentenceBLEU:
    return SentenceBLEU()


@pytest.fixture(scope="module")
def chrf() -> SentenceChrF:
    return SentenceChrF()


@pytest.fixture(scope="module")
def minilm() -> DialogueReward:
    """Loads all-MiniLM-L6-v2 once for the module (CPU)."""
    return DialogueReward(similarity="minilm", device="cpu")


@pytest.fixture(scope="module")
def lexical() -> DialogueReward:
    return DialogueReward(similarity="lexical")


# --------------------------------------------------------------------------------------------
# SentenceBLEU
# --------------------------------------------------------------------------------------------


def test_bleu_identical_is_exactly_one(bleu: SentenceBLEU) -> None:
    assert bleu([HYP, "la casa"], [[HYP], ["la casa"]]) == [1.0, 1.0]


def test_bleu_known_pair_matches_sacrebleu(bleu: SentenceBLEU) -> None:
    expected = BLEU(effective_order=True).sentence_score(HYP, [REF]).score / 100
    assert sacrebleu.sentence_bleu(HYP, [REF]).score / 100 == expected
    [item] = bleu.detailed([HYP], [[REF]])
    assert item["reward"] == expected
    assert item["bleu"] == expected * 100
    assert item["bp"] == 1.0  # the hypothesis is longer than the reference
    assert item["reward"] == pytest.approx(0.205567, abs=1e-6)
    assert bleu([HYP], [(REF,)]) == [expected]  # any sequence of references works


def test_bleu_no_overlap_is_zero(bleu: SentenceBLEU) -> None:
    assert bleu(["hola"], [["adiós amigo"]]) == [0.0]


def test_bleu_multiple_references_take_the_best(bleu: SentenceBLEU) -> None:
    single = bleu([HYP], [[REF]])[0]
    assert 0.0 < single < 1.0
    assert bleu([HYP], [[UNRELATED, REF]]) == [single]
    assert bleu([HYP], [[REF, UNRELATED]]) == [single]
    assert bleu([HYP], [[REF, HYP]]) == [1.0]
    multi = BLEU(effective_order=True).sentence_score(HYP, [UNRELATED, REF]).score / 100
    assert bleu([HYP], [[UNRELATED, REF]]) == [multi]


def test_bleu_signature() -> None:
    bleu = SentenceBLEU()
    sig = bleu.signature
    assert "nrefs:1" in sig
    assert "tok:13a" in sig
    assert f"version:{sacrebleu.__version__}" in sig
    assert "eff:yes" in sig
    lowered = SentenceBLEU(tokenize="intl", lowercase=True).signature
    assert "tok:intl" in lowered and "case:lc" in lowered
    bleu(["a b c"], [["a b c", "a b d"]])
    assert "nrefs:2" in bleu.signature


def test_dialogue_reward_takes_the_closest_reference() -> None:
    reward = DialogueReward(similarity="lexical")
    assert reward(["see you soon"], [["good morning", "see you soon"]]) == [1.0]


def test_bleu_lowercase_option() -> None:
    assert SentenceBLEU(lowercase=True)(["EL GATO DUERME"], [["el gato duerme"]]) == [1.0]
    assert SentenceBLEU()(["EL GATO DUERME"], [["el gato duerme"]]) == [0.0]


# sacrebleu's own 13a tokenizer and sentence_bleu are the reference implementation; these
# pieces exercise every branch of the fast path (digits next to . , -, entities, newlines).
_WORDS = """
el la gato perro casa sofá niño Über 東京 😀 a b
0 7 42 3,5 1,000 2.50 1.000,5 10-12 x-1 -3 3- .5 5. ,6 6, ... .. ,, .,
. , - ' " ! ? ( ) [ ] { } & ; : / \\ @ # $ % ^ * + = < > ~ ` | _ ¿ ¡ « » — …
&quot; &amp; &lt; &gt; <skipped>
"""
_PIECES = [*_WORDS.split(), "-\n", "\n", "\t", "\r", "\u00a0", "\u3000"]
_SENTENCE_WORDS = "el gato perro duerme come en la casa sofá y 3 1,000 2.5 x-1 , . ( ) ¿ ?"


def _random_text(rng: random.Random, max_words: int) -> str:
    text = ""
    for _ in range(rng.randint(0, max_words)):
        glue = rng.choice([" ", " ", " ", "", "  ", "\n"])
        text += glue + rng.choice(_PIECES)
    return text + rng.choice(["", "", ".", " .", " ", "\n"])


def test_tokenize_13a_matches_sacrebleu() -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    sacrebleu_13a, rng = Tokenizer13a(), random.Random(0)
    texts = [_random_text(rng, 12) for _ in range(5000)]
    texts += ["", " ", "\n", "a", "1.", ".1", "1,2,3.4", "a.b,c", "x--1", "&amp;lt;"]
    for text in texts:
        assert tokenize_13a(text) == sacrebleu_13a(text).split(), repr(text)


def _assert_matches_sacrebleu(bleu: SentenceBLEU, hyp: str, refs: list[str], **kw: Any) -> None:
    expected = sacrebleu.sentence_bleu(hyp, refs, **kw)
    [item] = bleu.detailed([hyp], [refs])
    assert abs(item["bleu"] - expected.score) <= 1e-12, (hyp, refs)
    assert item["bp"] == expected.bp, (hyp, refs)
    assert item["reward"] == min(expected.score / 100, 1.0)


def test_bleu_matches_sacrebleu_sentence_bleu(bleu: SentenceBLEU) -> None:
    assert bleu._fast_13a  # else this would only test sacrebleu against itself
    rng = random.Random(1)
    words = _SENTENCE_WORDS.split()
    cases = [
        ("", [REF]),
        ("El", [REF]),  # shorter than 4 tokens: effective order
        ("El gato", [REF]),
        ("gato El", [REF]),
        ("El gato está", [REF, UNRELATED]),
        (HYP, [REF, UNRELATED, HYP.upper()]),
        ("el el el el el el", ["el el gato el"]),  # clipped counts
        ("el el gato el el", ["el gato el", "el el el el"]),  # clipped by the max over refs
        ("Son 3,5 km; (aprox.) 1.000-2.000 €.", ["Son 3,5 km (aprox.) 1.000 - 2.000 €."]),
    ]
    for _ in range(1500):
        n = rng.randint(0, 14)
        hyp = " ".join(rng.choice(words) for _ in range(n))
        refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))]
        refs += [_random_text(rng, 10) for _ in range(rng.randint(0, 2))]
        cases += [(hyp, refs), (_random_text(rng, 14), [_random_text(rng, 14) or "a"])]
    scored = 0
    for hyp, refs in cases:
        _assert_matches_sacrebleu(bleu, hyp, refs)
        scored += bleu([hyp], [refs])[0] > 0
    assert scored > len(cases) // 4  # mostly nonzero scores, not a string of zeros


def test_bleu_falls_back_to_sacrebleu_tokenizer(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the fast tokenizer ever disagrees with the installed sacrebleu on the probes,
    SentenceBLEU tokenises with sacrebleu's own tokenizer and still matches it."""
    import textgym.rewards.bleu as bleu_module

    monkeypatch.setattr(bleu_module, "tokenize_13a", lambda line: line.split())
    bleu = SentenceBLEU()
    assert not bleu._fast_13a
    _assert_matches_sacrebleu(bleu, "Hola, mundo (3,5 km).", ["Hola mundo, 3,5 km."])
    assert bleu(["Hola, mundo."], [["Hola, mundo."]]) == [1.0]


@pytest.mark.parametrize("tokenize", ["13a", "intl", "char", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_bleu_options_match_sacrebleu(tokenize: str, lowercase: bool) -> None:
    bleu = SentenceBLEU(tokenize=tokenize, lowercase=lowercase)
    rng = random.Random(2)
    for _ in range(200):
        hyp, refs = _random_text(rng, 10), [_random_text(rng, 10) or "a", HYP, REF.upper()]
        _assert_matches_sacrebleu(bleu, hyp, refs, tokenize=tokenize, lowercase=lowercase)
    metric = BLEU(effective_order=True, tokenize=tokenize, lowercase=lowercase)
    metric.sentence_score(HYP, [REF, REF, REF])
    assert bleu.signature == str(metric.get_signature())


# --------------------------------------------------------------------------------------------
# SentenceChrF
# --------------------------------------------------------------------------------------------


def test_chrf_identical_is_one(chrf: SentenceChrF) -> None:
    assert chrf([HYP], [[HYP]]) == [1.0]


def test_chrf_known_pair_matches_sacrebleu(chrf: SentenceChrF) -> None:
    expected = CHRF().sentence_score(HYP, [REF]).score
    [item] = chrf.detailed([HYP], [[REF]])
    assert item == {"reward": expected / 100, "chrf": expected}
    assert item["reward"] == pytest.approx(0.414427, abs=1e-6)
    assert "nc:6" in chrf.signature and "nw:0" in chrf.signature


def test_chrf_plus_plus_uses_word_order() -> None:
    reward = SentenceChrF(word_order=2)
    expected = CHRF(word_order=2).sentence_score(HYP, [REF]).score / 100
    assert reward([HYP], [[REF]]) == [expected]
    assert expected != CHRF().sentence_score(HYP, [REF]).score / 100
    assert "nw:2" in reward.signature


def test_chrf_matches_sacrebleu_sentence_chrf(chrf: SentenceChrF) -> None:
    rng = random.Random(3)
    for _ in range(200):
        hyp, refs = _random_text(rng, 10), [_random_text(rng, 10) or "a", REF]
        expected = sacrebleu.sentence_chrf(hyp, refs).score
        assert chrf.detailed([hyp], [refs]) == [
            {"reward": min(expected / 100, 1.0), "chrf": expected}
        ]


# --------------------------------------------------------------------------------------------
# Batch validation shared by the reference-based rewards
# --------------------------------------------------------------------------------------------

REFERENCE_REWARDS = [SentenceBLEU, SentenceChrF, RougeL]


@pytest.mark.parametrize("reward_cls", REFERENCE_REWARDS)
def test_mismatched_lengths_raise(reward_cls: type) -> None:
    with pytest.raises(ValueError, match="2 completions but 1 reference lists"):
        reward_cls()(["a b", "c d"], [["a b"]])


@pytest.mark.parametrize("reward_cls", REFERENCE_REWARDS)
def test_bare_string_reference_raises_type_error(reward_cls: type) -> None:
    with pytest.raises(TypeError, match="wrap it"):
        reward_cls()(["la casa"], ["la casa"])


@pytest.mark.parametrize("reward_cls", REFERENCE_REWARDS)
def test_bare_string_completions_raise_type_error(reward_cls: type) -> None:
    with pytest.raises(TypeError, match="not one string"):
        reward_cls()("ab", [["a"], ["b"]])


@pytest.mark.parametrize("reward_cls", REFERENCE_REWARDS)
def test_empty_reference_list_raises(reward_cls: type) -> None:
    with pytest.raises(ValueError, match="at least one reference"):
        reward_cls()(["la casa"], [[]])
    with pytest.raises(ValueError, match="at least one reference"):
        reward_cls()(["la casa"])  # references default to empty lists


# --------------------------------------------------------------------------------------------
# RougeL
# --------------------------------------------------------------------------------------------


def test_rouge_identical_is_one() -> None:
    assert RougeL()(["the cat sat on the mat"], [["the cat sat on the mat"]]) == [1.0]


def test_rouge_known_pair_matches_rouge_score() -> None:
    hyp = "the quick brown fox jumped over the lazy dog"
    ref = "a quick brown dog jumps over the fox"
    expected = rouge_scorer.RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure
    assert RougeL()([hyp], [[ref]]) == [expected]
    assert expected == pytest.approx(8 / 17)  # LCS "quick brown over the" = 4 of 9 and 8 words


def test_rouge_length_penalty_hand_computed() -> None:
    # LCS = 6 words, P = 6/7, R = 1, F = 12/13; gap = |7 - 6| / 6, penalty = 0.3 / 6 = 0.05.
    [item] = RougeL(length_penalty=0.3).detailed(
        ["the cat sat on the mat today"], [["the cat sat on the mat"]]
    )
    assert item["rougeL_f"] == pytest.approx(12 / 13, abs=1e-12)
    assert item["length_ratio"] == pytest.approx(7 / 6, abs=1e-12)
    assert item["length_penalty"] == pytest.approx(0.05, abs=1e-12)
    assert item["reward"] == pytest.approx(12 / 13 - 0.05, abs=1e-12)
    # Too short: F = 0.5 (P = 1, R = 1/3), penalty = 0.5 * 4/6.
    short = RougeL(length_penalty=0.5)(["the cat"], [["the cat sat on the mat"]])
    assert short == [pytest.approx(1 / 6, abs=1e-12)]
    # Without a penalty the reward is plain F1 even with a length mismatch.
    assert RougeL()(["the cat"], [["the cat sat on the mat"]]) == [pytest.approx(0.5)]


def test_rouge_negative_length_penalty_raises() -> None:
    with pytest.raises(ValueError, match="length_penalty must be >= 0, got -0.1"):
        RougeL(length_penalty=-0.1)


def test_rouge_best_of_several_references() -> None:
    hyp = "the cat sat on the mat"
    refs = ["a dog barked", "the cat sat on a mat", "the cat sat"]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    best = max(scorer.score(ref, hyp)["rougeL"].fmeasure for ref in refs)
    assert best == pytest.approx(5 / 6)
    assert RougeL()([hyp], [refs]) == [best]
    assert RougeL()([hyp], [list(reversed(refs))]) == [best]
    # The length penalty is measured against the best-matching reference (10 words, F = 0.75),
    # not the closer-in-length but unrelated one.
    [item] = RougeL(length_penalty=0.5).detailed(
        [hyp], [["a dog", "the cat sat on the mat today near the door"]]
    )
    assert item["rougeL_f"] == pytest.approx(0.75)
    assert item["length_penalty"] == pytest.approx(0.5 * 4 / 10)
    assert item["reward"] == pytest.approx(0.55)


def test_lcs_length_matches_rouge_score_table() -> None:
    from rouge_score.rouge_scorer import _lcs_table

    rng = random.Random(4)
    for _ in range(2000):
        vocab = "abcdefgh"[: rng.randint(1, 8)]
        ref = [rng.choice(vocab) for _ in range(rng.randint(0, 70))]  # past 64 bits too
        hyp = [rng.choice(vocab) for _ in range(rng.randint(0, 40))]
        assert lcs_length(match_masks(ref), len(ref), hyp) == _lcs_table(ref, hyp)[-1][-1]


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_matches_rouge_score_on_random_text(use_stemmer: bool) -> None:
    reward = RougeL(use_stemmer=use_stemmer, length_penalty=0.3)
    assert reward._fast != use_stemmer  # the fast tokenizer is in use where it applies
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    rng = random.Random(5)
    words = ["the", "The", "cat", "cats", "running", "runs", "mat", "3.5", "don't", "über", "!"]
    nonzero = 0
    for i in range(600):
        if i % 2:
            hyp = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
            refs = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))]
        else:
            hyp, refs = _random_text(rng, 20), [_random_text(rng, 20), _random_text(rng, 5)]
        [item] = reward.detailed([hyp], [refs])
        scores = [scorer.score(ref, hyp)["rougeL"].fmeasure for ref in refs]
        best = max(range(len(refs)), key=lambda k: scores[k])
        ref_words = max(len(refs[best].split()), 1)
        assert item["rougeL_f"] == scores[best], (hyp, refs)
        assert item["length_penalty"] == 0.3 * (abs(len(hyp.split()) - ref_words) / ref_words)
        nonzero += scores[best] > 0
    assert nonzero > 200


def test_rouge_signature() -> None:
    sig = RougeL(length_penalty=0.25, use_stemmer=True).signature
    assert sig.startswith("rouge-score:")
    assert "stem:True" in sig and "length_penalty:0.25" in sig


# --------------------------------------------------------------------------------------------
# VaderSentiment
# --------------------------------------------------------------------------------------------

SENTENCES = ["I love this, it is great!", "This is terrible.", "The box is on the table."]


def test_vader_positive_is_the_compound_score() -> None:
    analyzer = SentimentIntensityAnalyzer()
    expected = [analyzer.polarity_scores(text)["compound"] for text in SENTENCES]
    assert VaderSentiment("positive")(SENTENCES) == expected
    assert expected[0] == pytest.approx(0.8622) and expected[1] == pytest.approx(-0.4767)
    assert expected[2] == 0.0


def test_vader_negative_is_the_negated_compound() -> None:
    analyzer = SentimentIntensityAnalyzer()
    compounds = [analyzer.polarity_scores(text)["compound"] for text in SENTENCES]
    items = VaderSentiment("negative").detailed(SENTENCES)
    assert [item["reward"] for item in items] == [-c for c in compounds]
    assert [item["compound"] for item in items] == compounds
    assert items[0]["reward"] < -0.8


def test_vader_invalid_target_raises() -> None:
    with pytest.raises(ValueError, match="'neutral'"):
        VaderSentiment("neutral")


def test_vader_signature() -> None:
    sig = VaderSentiment("negative").signature
    assert sig.startswith("vaderSentiment:") and sig.endswith("|compound|target:negative")


# --------------------------------------------------------------------------------------------
# lexical_f1
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("the cat sat", "the cat ran", 2 / 3),
        ("the cat sat", "the cat sat", 1.0),
        ("The cat, the CAT!", "the cat", 2 / 3),  # case and punctuation ignored, counts kept
        ("the the cat", "the cat", 0.8),  # P = 2/3, R = 1
        ("a b c d", "c d e f g h", 0.4),  # P = 1/2, R = 1/3
        ("cat", "the cat sat", 0.5),  # P = 1, R = 1/3
        ("dog", "cat", 0.0),
        ("", "", 0.0),
        ("", "cat", 0.0),
        ("Señor años", "señor AÑOS", 1.0),
    ],
)
def test_lexical_f1_exact_values(a: str, b: str, expected: float) -> None:
    assert lexical_f1(a, b) == pytest.approx(expected, abs=1e-12)
    assert lexical_f1(b, a) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------------------
# DialogueReward
# --------------------------------------------------------------------------------------------

TURN = "You could roast the vegetables with some garlic."
USER = "What should I cook with these vegetables?"
REPLY = "Roast the vegetables with garlic and olive oil."


@pytest.mark.parametrize("kind", ["lexical", "minilm"])
def test_dialogue_empty_turn(kind: str, request: pytest.FixtureRequest) -> None:
    reward: DialogueReward = request.getfixturevalue(kind)
    items = reward.detailed(["", "   \n"], [[REPLY], []], user_turns=[USER, USER])
    for item in items:
        assert item["reward"] == -1.0
        assert item["empty"] == 1.0
        assert item["similarity"] == 0.0
        assert item["repeated"] == 0.0
    custom = DialogueReward(similarity="lexical", empty_penalty=2.5)
    assert custom([""], [[REPLY]]) == [-2.5]


@pytest.mark.parametrize("kind", ["lexical", "minilm"])
def test_dialogue_repeat_costs_exactly_half(kind: str, request: pytest.FixtureRequest) -> None:
    reward: DialogueReward = request.getfixturevalue(kind)
    earlier = "you could ROAST the vegetables with some garlic"  # lexical F1 with TURN = 1
    items = reward.detailed(
        [TURN, TURN, TURN],
        [[REPLY], [REPLY], [REPLY]],
        histories=[[], ["Hello there!", earlier], ["Hello there!"]],
    )
    plain, repeated, unrelated_history = items
    assert plain["repeated"] == 0.0 and unrelated_history["repeated"] == 0.0
    assert repeated["repeated"] == 1.0
    assert repeated["similarity"] == plain["similarity"] > 0.3
    assert repeated["reward"] == plain["reward"] - 0.5
    assert unrelated_history["reward"] == plain["reward"]
    # Alone in its own batch, without history, the turn scores the same as `plain`.
    alone = reward.detailed([TURN], [[REPLY]])[0]["reward"]
    assert alone == pytest.approx(plain["reward"], abs=1e-6)


def test_dialogue_repeat_threshold(lexical: DialogueReward) -> None:
    # F1("the cat sat", "the cat ran") = 2/3: below the default 0.8, above 0.6.
    history = [["the cat ran"]]
    assert lexical.detailed(["the cat sat"], [["x"]], histories=history)[0]["repeated"] == 0.0
    loose = DialogueReward(similarity="lexical", repeat_threshold=0.6, repeat_penalty=0.25)
    [item] = loose.detailed(["the cat sat"], [["the cat sat"]], histories=history)
    assert item["repeated"] == 1.0
    assert item["reward"] == 0.75


def test_dialogue_lexical_reference_versus_user_turn(lexical: DialogueReward) -> None:
    assert lexical_f1(TURN, REPLY) != lexical_f1(TURN, USER)
    with_ref, without_ref = lexical.detailed([TURN, TURN], [[REPLY], []], user_turns=[USER, USER])
    assert with_ref["similarity"] == with_ref["reward"] == lexical_f1(TURN, REPLY)
    assert with_ref["has_reference"] == 1.0
    assert without_ref["similarity"] == without_ref["reward"] == lexical_f1(TURN, USER)
    assert without_ref["has_reference"] == 0.0
    # Perfect match to the reference, no overlap with the user turn, and the reverse.
    assert lexical(["nice to meet you"], [["nice to meet you"]]) == [1.0]
    assert lexical.detailed(["nice to meet you"], [["nice to meet you"]], ["what time"]) == [
        {"reward": 1.0, "similarity": 1.0, "empty": 0.0, "repeated": 0.0, "has_reference": 1.0}
    ]
    nice = "nice to meet you"
    assert lexical.detailed([nice], [["goodbye"]], [nice])[0]["reward"] == 0.0
    assert lexical.detailed([nice], [[]], [nice])[0]["reward"] == 1.0
    # No reference and no user turn: nothing to be similar to.
    assert lexical(["nice to meet you"], [[]]) == [0.0]


def test_dialogue_minilm_reference_versus_user_turn(minilm: DialogueReward) -> None:
    turn = "I am twenty five years old."
    reference = "I'm 25."
    user = "What's the capital of France?"
    encoder = minilm._encoder
    assert encoder is not None
    to_ref, to_user = encoder.similarity([turn, turn], [reference, user])
    assert to_ref - to_user > 0.3
    with_ref, without_ref = minilm.detailed([turn, turn], [[reference], []], [user, user])
    assert with_ref["similarity"] == pytest.approx(to_ref, abs=1e-5)
    assert without_ref["similarity"] == pytest.approx(to_user, abs=1e-5)
    assert with_ref["reward"] == with_ref["similarity"]


def test_dialogue_minilm_paraphrase_beats_unrelated(minilm: DialogueReward) -> None:
    paraphrase, unrelated = minilm(
        ["What is your age?", "The train to Paris leaves at noon."],
        [["How old are you?"], ["Can you recommend a good book for a long flight?"]],
    )
    assert paraphrase > 0.5
    assert unrelated < 0.3
    assert minilm(["How old are you?"], [["How old are you?"]]) == [pytest.approx(1.0, abs=1e-5)]


def test_minilm_encoder_embeddings(minilm: DialogueReward) -> None:
    encoder = minilm._encoder
    assert encoder is not None and encoder.dim == 384
    emb = encoder.encode(["short", "a somewhat longer sentence to force padding"])
    assert tuple(emb.shape) == (2, 384)
    assert emb.norm(dim=-1).tolist() == [pytest.approx(1.0, abs=1e-5)] * 2


def test_dialogue_invalid_similarity_raises() -> None:
    with pytest.raises(ValueError, match="'cosine'"):
        DialogueReward(similarity="cosine")


def test_dialogue_signature(lexical: DialogueReward, minilm: DialogueReward) -> None:
    assert lexical.signature == "lexical-f1|empty:1.0|repeat:0.5@0.8"
    assert minilm.signature.startswith("all-MiniLM-L6-v2:mean-pool:cosine|")
