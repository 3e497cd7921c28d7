"""The static-cache generator against the plain one (baselines.ppo.rollout.generate)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from baselines.ppo.attention import DECODE_ATTENTION, decode_attention
from baselines.ppo.fastgen import StaticGenerator, generate_static
from baselines.ppo.policy import PolicyWithValue
from baselines.ppo.rollout import generate

B, WIDE, BUDGET = 6, 9, 20


@pytest.fixture(scope="module")
def policy(tiny_lm):
    torch.manual_seed(0)
    policy = PolicyWithValue.from_lm(tiny_lm)
    # A non-zero value head, so that recorded values are checked against real numbers.
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    return policy


@pytest.fixture(scope="module")
def fast(policy):
    """One generator for the whole module: every test also checks reuse."""
    return StaticGenerator(policy, batch_size=B, max_prompt_len=WIDE, max_new_tokens=BUDGET)


def prompts(width: int, pad_id: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, width) left-padded prompts with 0 to 3 padding columns per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 1000, (B, width), generator=g)
    mask = torch.ones(B, width, dtype=torch.long)
    for row in range(B):
        mask[row, : min(row % 4, width - 1)] = 0
    return ids.masked_fill(mask == 0, pad_id), mask


def assert_same(fast_out, plain_out):
    tokens, mask, logprobs, values = fast_out
    assert tokens.shape == plain_out[0].shape
    assert torch.equal(tokens, plain_out[0])
    assert torch.equal(mask, plain_out[1]) and mask.dtype == plain_out[1].dtype
    torch.testing.assert_close(logprobs, plain_out[2], rtol=0, atol=1e-4)
    torch.testing.assert_close(values, plain_out[3], rtol=0, atol=1e-4)


def both(fast, policy, lm, ids, mask, budget, stop, seed=3):
    args = (ids, mask, budget, stop, lm.pad_id)
    out = fast(policy, *args, torch.Generator().manual_seed(seed))
    return out, generate(policy, *args, torch.Generator().manual_seed(seed))


def test_same_output_as_plain_generate_with_rows_of_different_lengths(fast, policy, tiny_lm):
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    stop = frozenset(range(0, tiny_lm.vocab_size, 6))  # about one token in six ends a row
    out, plain = both(fast, policy, tiny_lm, ids, mask, BUDGET, stop)
    assert_same(out, plain)
    lengths = out[1].sum(-1)
    assert len(set(lengths.tolist())) >= 3  # rows really stopped at different lengths
    m = out[1].bool()
    assert float(out[3][m].abs().min()) > 0 and bool((out[2][~m] == 0).all())
    assert bool((out[0][~m] == tiny_lm.pad_id).all())
    # Each row's last real token is a stop token, unless the row used the whole budget.
    last = out[0].gather(1, (lengths[:, None] - 1))[:, 0]
    assert all(int(t) in stop or int(n) == BUDGET for t, n in zip(last, lengths, strict=True))


def test_narrower_prompts_and_smaller_budget_reuse_the_same_generator(fast, policy, tiny_lm):
    stop = frozenset(range(0, tiny_lm.vocab_size, 5))
    for width, budget, seed in ((3, 7, 4), (WIDE, BUDGET, 5), (1, 12, 6)):
        ids, mask = prompts(width, tiny_lm.pad_id, seed)
        assert_same(*both(fast, policy, tiny_lm, ids, mask, budget, stop, seed))


def test_all_rows_stopping_early_trim_the_output_exactly(fast, policy, tiny_lm):
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    every = frozenset(range(tiny_lm.vocab_size))
    out, plain = both(fast, policy, tiny_lm, ids, mask, BUDGET, every)
    assert out[0].shape == (B, 1)
    assert_same(out, plain)
    # All rows end within a few tokens, between two all-done checks (every 8 tokens).
    half = frozenset(range(0, tiny_lm.vocab_size, 2))
    out, plain = both(fast, policy, tiny_lm, ids, mask, BUDGET, half, seed=7)
    assert 1 < out[0].shape[1] < 8
    assert_same(out, plain)


def test_no_stop_token_runs_the_whole_budget(fast, policy, tiny_lm):
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    out, plain = both(fast, policy, tiny_lm, ids, mask, BUDGET, frozenset())
    assert out[0].shape == (B, BUDGET) and bool((out[1] == 1).all())
    assert_same(out, plain)


def test_in_place_weight_updates_are_seen_by_the_next_call(tiny_lm):
    torch.manual_seed(1)
    policy = PolicyWithValue.from_lm(tiny_lm)
    fast = StaticGenerator(policy, batch_size=B, max_prompt_len=WIDE, max_new_tokens=6)
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    before = fast(policy, ids, mask, 6, frozenset(), tiny_lm.pad_id, torch.Generator())
    assert bool((before[3] == 0).all())  # the value head starts at zero
    with torch.no_grad():  # what an optimizer step does: same tensors, new values
        policy.value_head.bias.fill_(0.5)
        policy.lm.get_output_embeddings().weight.mul_(3.0)
    assert_same(*both(fast, policy, tiny_lm, ids, mask, 6, frozenset()))


def test_generate_static_is_a_drop_in_for_generate(policy, tiny_lm):
    ids, mask = prompts(4, tiny_lm.pad_id, seed=8)
    stop = frozenset(range(0, tiny_lm.vocab_size, 4))
    args = (policy, ids, mask, 10, stop, tiny_lm.pad_id)
    out = generate_static(*args, torch.Generator().manual_seed(2))
    assert_same(out, generate(*args, torch.Generator().manual_seed(2)))


def test_bfloat16_copy_follows_the_policy(policy, tiny_lm):
    fast = StaticGenerator(policy, B, WIDE, 8, dtype=torch.bfloat16)
    assert next(fast._lm.parameters()).dtype == torch.bfloat16
    assert next(policy.parameters()).dtype == torch.float32  # the policy is not touched
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    tokens, response_mask, logprobs, values = fast(
        policy, ids, mask, 8, frozenset(), tiny_lm.pad_id, torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        ref_logprobs, ref_values = policy.evaluate(
            torch.cat([ids, tokens], 1), torch.cat([mask, response_mask], 1), WIDE
        )
    # bf16 rounding only: close to the float32 policy's own numbers, not equal.
    assert float((logprobs - ref_logprobs).abs().max()) < 0.05
    assert float((values - ref_values).abs().max()) < 0.05


def test_calls_that_do_not_fit_the_generator_are_refused(fast, policy, tiny_lm):
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    stop, pad = frozenset(), tiny_lm.pad_id
    with pytest.raises(ValueError, match="batch_size=6"):
        fast(policy, ids[:4], mask[:4], 4, stop, pad)
    wide = torch.cat([ids, ids], 1), torch.cat([mask, mask], 1)
    with pytest.raises(ValueError, match="max_prompt_len=9"):
        fast(policy, *wide, 4, stop, pad)
    with pytest.raises(ValueError, match="outside 1..20"):
        fast(policy, ids, mask, BUDGET + 1, stop, pad)
    with pytest.raises(ValueError, match="another policy"):
        fast(PolicyWithValue.from_lm(tiny_lm), ids, mask, 4, stop, pad)
    with pytest.raises(ValueError, match="cuda_graph=True needs a policy on CUDA"):
        StaticGenerator(policy, B, WIDE, 4, cuda_graph=True)


class _HostSyncSpy(TorchDispatchMode):
    """Records the ops that make a CUDA graph capture fail: reading a value back to the
    host (``.item()``, ``bool(t)``), data-dependent shapes, copies between devices."""

    SYNCING = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.unique")

    def __init__(self):
        super().__init__()
        self.found = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func)
        if name.startswith(self.SYNCING):
            self.found.append(name)
        moves = name.startswith("aten._to_copy") and kwargs.get("device") is not None
        if moves and torch.device(kwargs["device"]) != args[0].device:
            self.found.append(f"{name} to {kwargs['device']}")
        return func(*args, **kwargs)


def test_decode_step_has_fixed_shapes_and_no_host_sync(fast, policy, tiny_lm):
    """What the CUDA graph captures, checked on CPU: no op in the step reads a value back
    to the host, and repeated steps touch the same buffers."""
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    fast(policy, ids, mask, 4, frozenset(), tiny_lm.pad_id, torch.Generator())
    buffers = [fast._token, fast._bias, fast._out_tokens, fast._cache.layers[0].keys]
    pointers = [b.data_ptr() for b in buffers]
    config = fast._lm.config
    attention, config._attn_implementation = config._attn_implementation, DECODE_ATTENTION
    try:
        with torch.no_grad(), _HostSyncSpy() as spy:
            fast._rewind()
            fast._prefill()
            fast._decode_step()
            fast._decode_step()
    finally:
        config._attn_implementation = attention
    assert spy.found == []
    assert [b.data_ptr() for b in buffers] == pointers
    assert fast._lm.config._attn_implementation == attention  # restored after every call


def test_decode_attention_equals_sdpa_with_repeated_kv_heads():
    """One query token against a cache with grouped KV heads and a padding mask: the
    grouped matmuls give SDPA's output on explicitly repeated heads."""
    g = torch.Generator().manual_seed(0)
    B, H, Hkv, L, D = 3, 6, 2, 7, 8
    q = torch.randn(B, H, 1, D, generator=g)
    k, v = torch.randn(B, Hkv, L, D, generator=g), torch.randn(B, Hkv, L, D, generator=g)
    mask = torch.zeros(B, 1, 1, L)
    mask[0, ..., :3] = torch.finfo(torch.float32).min  # row 0: three padding slots
    out, _ = decode_attention(None, q, k, v, mask, scaling=0.3)
    k_rep, v_rep = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k_rep, v_rep, mask, scale=0.3)
    assert out.shape == (B, 1, H, D)
    torch.testing.assert_close(out, ref.transpose(1, 2), rtol=1e-5, atol=1e-5)


def test_compiled_generator_matches_plain_generate(policy, tiny_lm):
    """torch.compile'd prefill and decode step (what CUDA runs before capturing them)."""
    fast = StaticGenerator(policy, B, WIDE, 8, compile=True, cuda_graph=False)
    ids, mask = prompts(WIDE, tiny_lm.pad_id)
    stop = frozenset(range(0, tiny_lm.vocab_size, 6))
    out, plain = both(fast, policy, tiny_lm, ids, mask, 8, stop)
    assert_same(out, plain)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_equals_eager_on_gpu(tiny_lm):
    torch.manual_seed(0)
    policy = PolicyWithValue.from_lm(tiny_lm).to("cuda")
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    ids, mask = (t.cuda() for t in prompts(WIDE, tiny_lm.pad_id))
    stop = frozenset(range(0, tiny_lm.vocab_size, 6))
    graph = StaticGenerator(policy, B, WIDE, BUDGET, cuda_graph=True)
    eager = StaticGenerator(policy, B, WIDE, BUDGET, cuda_graph=False)
    outs = []
    for seed in (0, 0, 1):
        gen = torch.Generator("cuda").manual_seed(seed)
        g_out = graph(policy, ids, mask, BUDGET, stop, tiny_lm.pad_id, gen)
        gen = torch.Generator("cuda").manual_seed(seed)
        e_out = eager(policy, ids, mask, BUDGET, stop, tiny_lm.pad_id, gen)
        assert graph._graph is not None and eager._graph is None
        assert_same(g_out, e_out)
        gen = torch.Generator("cuda").manual_seed(seed)
        plain = generate(policy, ids, mask, BUDGET, stop, tiny_lm.pad_id, gen)
        assert torch.equal(g_out[0], plain[0])
        outs.append(g_out[0])
    assert torch.equal(outs[0], outs[1])  # the seed, not the graph, decides the samples
    assert not torch.equal(outs[0], outs[2])
    # A CPU generator seeds a device generator: still reproducible.
    cpu = [
        graph(policy, ids, mask, BUDGET, stop, tiny_lm.pad_id, torch.Generator().manual_seed(5))
        for _ in range(2)
    ]
    assert torch.equal(cpu[0][0], cpu[1][0])
