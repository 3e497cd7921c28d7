"""The LM backend: loading, sharing, incremental logits, batched seeded sampling, chat."""

import pytest
import torch

from textgym import models
from textgym.lm import ChatFormat, load_lm, sample


def test_load_lm_is_shared_per_model_device_dtype(tiny_lm):
    assert load_lm("tiny") is tiny_lm
    assert load_lm("tiny", dtype="bfloat16") is not tiny_lm


def test_tiny_model_shape(tiny_lm):
    assert tiny_lm.vocab_size == 49152 and len(tiny_lm.tokenizer) == 49152
    n = sum(p.numel() for p in tiny_lm.model.parameters())
    assert 1_000_000 < n < 10_000_000
    assert {0, 2} <= tiny_lm.eos_ids


def test_tiny_weights_are_identical_across_loads(tiny_lm):
    other = models.load_model(tiny_lm.source, tiny_lm.config, torch.float32, "cpu")
    for a, b in zip(tiny_lm.model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)


def test_stream_matches_a_full_forward(tiny_lm):
    ids = tiny_lm.encode("The quick brown fox jumps over the lazy dog")
    stream = tiny_lm.stream(ids[:3])
    for token in ids[3:]:
        stream.extend([token])
    full = tiny_lm.model(torch.tensor([ids])).logits[0, -1]
    assert torch.allclose(stream.logits, full, atol=1e-4)
    assert stream.ids == ids


def test_batched_generate_equals_one_by_one(tiny_lm):
    a = tiny_lm.encode("Hello there, how are you today?")
    b = tiny_lm.encode("Hi")
    batch = tiny_lm.generate([a, b], 8, temperature=0)
    assert batch == [
        tiny_lm.generate([a], 8, temperature=0)[0],
        tiny_lm.generate([b], 8, temperature=0)[0],
    ]


def test_generate_is_seeded(tiny_lm):
    ids = tiny_lm.encode("Once upon a time")
    run = lambda seed: tiny_lm.generate(  # noqa: E731
        [ids], 10, temperature=1.0, generator=torch.Generator().manual_seed(seed)
    )
    assert run(1) == run(1) and run(1) != run(2)


def test_generate_stops_at_stop_token(tiny_lm):
    ids = tiny_lm.encode("Once upon a time")
    first = tiny_lm.generate([ids], 5, temperature=0)[0]
    stop = first[-1]
    out = tiny_lm.generate([ids], 5, temperature=0, stop_ids=frozenset({stop}))[0]
    assert out == first[: first.index(stop) + 1]


def test_sample_top_p_and_top_k():
    logits = torch.tensor([[5.0, 4.0, -10.0, -10.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(sample(logits, 1.0, 1.0, 2, g)) for _ in range(200)}
    assert draws == {0, 1}
    draws = {int(sample(logits, 1.0, 0.5, 0, g)) for _ in range(50)}
    assert draws == {0}
    assert int(sample(logits, 0.0, 1.0, 0, g)) == 0


def test_chat_separators_for_smollm2(tiny_lm):
    after_agent, after_user = tiny_lm.chat.turn_separators()
    assert after_agent == "<|im_end|>\n<|im_start|>user\n"
    assert after_user == "<|im_end|>\n<|im_start|>assistant\n"


def test_chat_fallback_without_template(tiny_lm):
    class NoTemplate:
        chat_template = None
        apply_chat_template = tiny_lm.tokenizer.apply_chat_template

    chat = ChatFormat(NoTemplate())
    text = chat.render([{"role": "user", "content": "Hi"}])
    assert text == "User: Hi\nAssistant:"
    assert chat.turn_separators() == ("\nUser: ", "\nAssistant:")


def test_unknown_names_fail_fast():
    with pytest.raises(ValueError, match="unknown model 'gpt-5'"):
        models.resolve("gpt-5")
    with pytest.raises(ValueError, match="non-empty string"):
        models.resolve("")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_lm("tiny", dtype="float8")


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path))
    assert models.cache_dir() == tmp_path
