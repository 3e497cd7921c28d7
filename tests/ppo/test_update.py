"""The update's minibatch step: shape buckets that change no loss, the optimizer plumbing a
captured step needs, and (on CUDA) graph replays that equal eager steps."""

import copy

import pytest
import torch

from baselines.ppo.config import PPOConfig
from baselines.ppo.experience import Experience, length_grouped
from baselines.ppo.policy import PolicyWithValue
from baselines.ppo.update import (
    UpdateStep,
    load_optimizer_state,
    make_optimizer,
    minibatch_loss,
    set_lr,
)

P, R, N = 7, 5, 6


def make_batch(vocab: int, seed: int = 0) -> Experience:
    """N rows: left-padded prompts of 2..7 tokens, right-padded responses of 1..5."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (N, P + R), generator=g)
    prompt_len = torch.tensor([2, 3, 4, 5, 3, 2])
    response_len = torch.tensor([1, 3, 2, 3, 1, 2])  # at most 3 of R = 5 columns used
    cols = torch.arange(P + R)
    mask = (cols >= P - prompt_len[:, None]) & (cols < P + response_len[:, None])
    response_mask = mask[:, P:].long()
    per_token = {
        name: torch.randn(N, R, generator=g) * response_mask
        for name in ("logprobs", "values", "advantages", "returns")
    }
    per_token["logprobs"] = -per_token["logprobs"].abs()
    return Experience(
        input_ids=ids * mask,
        attention_mask=mask.long(),
        prompt_width=P,
        response_mask=response_mask,
        **per_token,
    )


@pytest.fixture
def policy(tiny_lm):
    torch.manual_seed(0)
    policy = PolicyWithValue.from_lm(tiny_lm)
    torch.nn.init.normal_(policy.value_head.weight, std=0.1)  # values that matter to the loss
    return policy


def loss_and_grads(policy, mb, config):
    policy.zero_grad(set_to_none=True)
    loss, stats = minibatch_loss(policy, mb, config)
    loss.backward()
    grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
    return loss.detach(), stats, grads


def test_bucketed_minibatch_pads_to_fixed_shapes(tiny_lm):
    batch = make_batch(tiny_lm.vocab_size)
    rows = torch.tensor([0, 1, 4])  # prompts of 2, 3, 3 tokens, responses of 1, 3, 1
    tight = batch.minibatch(rows)
    assert tight.input_ids.shape == (3, 3 + 3) and tight.prompt_width == 3
    padded = batch.minibatch(rows, multiple=4, num_rows=5)
    # Prompt 3 -> 4 columns, response 3 -> 4, rows 3 -> 5.
    assert padded.input_ids.shape == (5, 4 + 4) and padded.prompt_width == 4
    assert padded.response_mask.shape == (5, 4)
    assert padded.response_mask[3:].sum() == 0  # padding rows train nothing
    wide = batch.minibatch(rows, multiple=8)  # wider than the batch's 7 prompt columns
    assert wide.input_ids.shape == (3, 8 + 8) and wide.prompt_width == 8
    assert wide.attention_mask[:, :1].sum() == 0 and wide.attention_mask[:, -3:].sum() == 0
    real = wide.attention_mask.bool()
    assert torch.equal(wide.input_ids[real], tight.input_ids[tight.attention_mask.bool()])


def test_length_grouped_minibatches_cover_every_row_once_and_cut_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 200, (70,), generator=g)
    order = torch.randperm(70, generator=g)

    def padded_tokens(minibatches):  # what the update computes: rows x longest row
        return sum(len(mb) * int(lengths[mb].max()) for mb in minibatches)

    grouped = length_grouped(order, lengths, 8, torch.Generator().manual_seed(1), group=4)
    assert sorted(torch.cat(grouped).tolist()) == list(range(70))
    assert sorted(len(mb) for mb in grouped) == [6] + [8] * 8  # 70 = 8 x 8 + 6
    plain = list(order.split(8))
    assert padded_tokens(grouped) < 0.8 * padded_tokens(plain)
    again = length_grouped(order, lengths, 8, torch.Generator().manual_seed(1), group=4)
    assert all(torch.equal(a, b) for a, b in zip(grouped, again, strict=True))


def test_padding_changes_neither_the_loss_nor_the_gradients(policy, tiny_lm):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4)
    batch = make_batch(tiny_lm.vocab_size)
    rows = torch.tensor([2, 0, 5])
    tight = loss_and_grads(policy, batch.minibatch(rows), config)
    padded = loss_and_grads(policy, batch.minibatch(rows, multiple=8, num_rows=4), config)
    torch.testing.assert_close(tight[0], padded[0], rtol=1e-5, atol=1e-6)
    for key, value in tight[1].items():
        torch.testing.assert_close(value, padded[1][key], rtol=1e-5, atol=1e-6)
    assert len(tight[2]) == len(padded[2])
    for a, b in zip(tight[2], padded[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert tight[0] != 0 and any(g.abs().sum() > 0 for g in tight[2])


def test_eager_step_returns_the_loss_statistics_and_moves_the_weights(policy, tiny_lm):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4, max_grad_norm=0.5)
    optimizer = make_optimizer(policy, config, cuda_graph=False)
    step = UpdateStep(policy, optimizer, config)
    before = [p.detach().clone() for p in policy.parameters()]
    stats = step(make_batch(tiny_lm.vocab_size), torch.tensor([0, 1, 2, 3]))
    assert set(stats) == {
        "losses/policy_loss", "losses/value_loss", "losses/clipfrac",
        "losses/vf_clipfrac", "losses/approx_kl", "losses/grad_norm",
    }  # fmt: skip
    assert stats["losses/grad_norm"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))


def test_cuda_graph_needs_cuda_and_a_capturable_optimizer(policy):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4)
    optimizer = make_optimizer(policy, config, cuda_graph=False)
    with pytest.raises(ValueError, match="needs a policy on CUDA, not on cpu"):
        UpdateStep(policy, optimizer, config, cuda_graph=True)


def test_optimizer_state_round_trip_keeps_the_learning_rate_kind(policy):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4, learning_rate=3e-4)
    optimizer = make_optimizer(policy, config, cuda_graph=False)
    set_lr(optimizer, 1e-4)
    assert optimizer.param_groups[0]["lr"] == 1e-4
    state = copy.deepcopy(optimizer.state_dict())
    other = make_optimizer(policy, config, cuda_graph=False)
    load_optimizer_state(other, state, cuda_graph=False)
    assert other.param_groups[0]["lr"] == 1e-4 and not other.param_groups[0]["capturable"]


def test_loading_a_state_gives_the_captured_step_what_it_needs(policy):
    """A checkpoint from an eager run loaded for a graph run: tensor learning rate,
    capturable; and back."""
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4, learning_rate=3e-4)
    eager = make_optimizer(policy, config, cuda_graph=False)
    policy(torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))[0].sum().backward()
    eager.step()
    graphed = make_optimizer(policy, config, cuda_graph=True)
    load_optimizer_state(graphed, eager.state_dict(), cuda_graph=True)
    group = graphed.param_groups[0]
    assert isinstance(group["lr"], torch.Tensor) and float(group["lr"]) == pytest.approx(3e-4)
    assert group["capturable"]
    set_lr(graphed, 1e-4)
    assert float(graphed.param_groups[0]["lr"]) == pytest.approx(1e-4)
    load_optimizer_state(eager, graphed.state_dict(), cuda_graph=False)
    assert eager.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert not eager.param_groups[0]["capturable"]
    first = next(p for p in policy.parameters() if p in eager.state)
    assert float(eager.state[first]["step"]) == 1


def test_gradient_checkpointing_excludes_cuda_graphs():
    from baselines.ppo.train import Trainer

    config = PPOConfig(model="tiny", batch_size=4, minibatch_size=4, device="cpu",
                       gradient_checkpointing=True, cuda_graph_update=True)  # fmt: skip
    with pytest.raises(ValueError, match="cannot be combined with gradient_checkpointing"):
        Trainer(config)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("compile", [False, True])
def test_graph_replays_equal_eager_steps_on_gpu(tiny_lm, compile):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4, learning_rate=1e-3)
    torch.manual_seed(0)
    graphed_policy = PolicyWithValue.from_lm(tiny_lm).cuda()
    eager_policy = copy.deepcopy(graphed_policy)
    start = copy.deepcopy(graphed_policy)
    graphed_opt = make_optimizer(graphed_policy, config, cuda_graph=True)
    eager_opt = make_optimizer(eager_policy, config, cuda_graph=False)
    graphed = UpdateStep(graphed_policy, graphed_opt, config, True, compile, bucket=4)
    eager = UpdateStep(eager_policy, eager_opt, config, False, compile, bucket=4)
    batch = make_batch(tiny_lm.vocab_size).to("cuda")
    # Two shapes, each seen three times (eager step, capture, replay), plus a partial
    # minibatch; the learning rate changes between steps as with anneal_lr.
    schedule = [[0, 1, 2, 3], [4, 5], [1, 2, 3, 0], [5, 4], [3, 0, 1, 2], [4, 5], [0, 2, 1, 3]]
    for i, rows in enumerate(schedule):
        for opt in (graphed_opt, eager_opt):
            set_lr(opt, 1e-3 * (1 - i / 10))
        rows = torch.tensor(rows)  # CPU rows, as the Trainer passes them
        a, b = graphed(batch, rows), eager(batch, rows)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=2e-2, atol=2e-3, msg=key)
    assert len(graphed._graphs) == 2
    for p, q in zip(graphed_policy.parameters(), eager_policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-2, atol=1e-3)
    moved = zip(graphed_policy.parameters(), start.parameters(), strict=True)
    assert any(not torch.equal(p, q) for p, q in moved)


def test_compiled_step_equals_the_eager_step_on_cpu(tiny_lm):
    config = PPOConfig(model="tiny", batch_size=8, minibatch_size=4, learning_rate=1e-3)
    torch.manual_seed(0)
    compiled_policy = PolicyWithValue.from_lm(tiny_lm)
    eager_policy = copy.deepcopy(compiled_policy)
    steps = [
        UpdateStep(p, make_optimizer(p, config, cuda_graph=False), config, compile=c, bucket=4)
        for p, c in ((compiled_policy, True), (eager_policy, False))
    ]
    batch = make_batch(tiny_lm.vocab_size)
    for rows in ([0, 1, 2, 3], [3, 2, 1, 0]):  # one bucket: one compile (~40 s on 2 cores)
        a, b = (step(batch, torch.tensor(rows)) for step in steps)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    for p, q in zip(compiled_policy.parameters(), eager_policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
