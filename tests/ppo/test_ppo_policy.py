"""PolicyWithValue on the tiny model: shapes, log-probs, and a reference that stays frozen."""

import pytest
import torch

from baselines.ppo.policy import (
    PolicyWithValue,
    head_logits,
    logprobs_of,
    reference_logprobs,
)


@pytest.fixture(scope="module")
def policy(tiny_lm):
    torch.manual_seed(0)
    return PolicyWithValue.from_lm(tiny_lm)


def batch():
    # Row 0: left-padded prompt (2 pads) + 3-token response; row 1: full prompt + 2 tokens.
    input_ids = torch.tensor([[2, 2, 17, 400, 31, 9, 2], [5, 6, 7, 8, 1000, 2, 2]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]])
    return input_ids, mask


def test_logprobs_of_equals_log_softmax_gathered():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 11) * 4
    tokens = torch.randint(0, 11, (2, 3))
    expected = logits.log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)
    torch.testing.assert_close(logprobs_of(logits, tokens), expected)


def test_forward_shapes_and_evaluate(policy, tiny_lm):
    input_ids, mask = batch()
    logits, values = policy(input_ids, mask)
    assert logits.shape == (2, 7, tiny_lm.vocab_size)
    assert values.shape == (2, 7) and values.dtype == torch.float32
    logprobs, response_values = policy.evaluate(input_ids, mask, prompt_width=4)
    assert logprobs.shape == response_values.shape == (2, 3)
    expected = logits[:, 3:-1].float().log_softmax(-1).gather(-1, input_ids[:, 4:, None])
    torch.testing.assert_close(logprobs, expected.squeeze(-1))
    torch.testing.assert_close(response_values, values[:, 3:-1])


def test_kl_is_zero_at_iteration_zero(policy, tiny_lm):
    input_ids, mask = batch()
    with torch.no_grad():
        logprobs, _ = policy.evaluate(input_ids, mask, prompt_width=4)
    ref = reference_logprobs(tiny_lm.model, input_ids, mask, prompt_width=4)
    torch.testing.assert_close(logprobs, ref, rtol=0, atol=1e-6)


def test_optimizer_step_leaves_the_reference_untouched(tiny_lm):
    policy = PolicyWithValue.from_lm(tiny_lm)
    before = {k: v.clone() for k, v in tiny_lm.model.state_dict().items()}
    input_ids, mask = batch()
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    logprobs, values = policy.evaluate(input_ids, mask, prompt_width=4)
    (-logprobs.mean() + (values - 1.0).pow(2).mean()).backward()
    optimizer.step()
    assert not torch.equal(policy.value_head.bias, torch.zeros(1))
    moved = policy.lm.state_dict()
    assert any(not torch.equal(moved[k], v) for k, v in before.items())
    for key, value in tiny_lm.model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not any(p.requires_grad for p in tiny_lm.model.parameters())


@pytest.mark.parametrize("vocab, bias", [(50, False), (50, True), (128, False)])
def test_head_logits_equal_the_head_whatever_the_vocabulary_width(vocab, bias):
    """The vocabulary is padded to a multiple of 64 for the matmul and sliced back."""
    torch.manual_seed(2)
    head = torch.nn.Linear(8, vocab, bias=bias)
    hidden = torch.randn(3, 5, 8, requires_grad=True)
    out = head_logits(head, hidden)
    assert out.shape == (3, 5, vocab)
    torch.testing.assert_close(out, head(hidden))
    out.sum().backward()  # gradients reach the head's own (unpadded) weight
    assert head.weight.grad.shape == (vocab, 8)


def test_evaluate_runs_the_head_on_response_positions_only(policy, tiny_lm):
    """The split path (trunk, then the head at the response positions) gives the full
    forward's log-probs and values, and is the one taken for a Llama."""
    input_ids, mask = batch()
    assert policy.split_head(input_ids, mask)
    calls = []
    head = policy.lm.get_output_embeddings()
    hook = head.register_forward_hook(lambda *a: calls.append(1))
    try:
        logprobs, values = policy.evaluate(input_ids, mask, prompt_width=4)
    finally:
        hook.remove()
    assert calls == []  # the head module itself is not called on all positions
    logits, all_values = policy(input_ids, mask)
    expected = logprobs_of(logits[:, 3:-1], input_ids[:, 4:])
    torch.testing.assert_close(logprobs, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(values, all_values[:, 3:-1])


def test_dropout_is_off_so_that_ratios_start_at_one():
    """An LM with dropout (GPT-2's 0.1): two training-mode evaluations agree exactly."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(3)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=100, n_positions=16)
    assert config.resid_pdrop > 0
    policy = PolicyWithValue(GPT2LMHeadModel(config)).train()
    ids = torch.randint(0, 100, (2, 9))
    mask = torch.ones_like(ids)
    first, _ = policy.evaluate(ids, mask, prompt_width=4)
    second, _ = policy.evaluate(ids, mask, prompt_width=4)
    assert torch.equal(first, second)
    assert policy.split_head(ids, mask)  # GPT-2: logits are lm_head(last hidden state)
