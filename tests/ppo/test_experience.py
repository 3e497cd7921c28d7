"""The Experience record: stacking turns of different widths keeps the live rows only, in turn
order, with their episode; a minibatch carries what an update step reads."""

import torch

from baselines.ppo.experience import Experience, stack

PAD = 9


def turn(prompts: list[list[int]], responses: list[list[int]], live: list[bool]) -> Experience:
    """A B-row turn record: left-padded prompts, right-padded responses; per-token values
    that name their row and column (100 * row + column + 1) and per-turn rewards 10 * row."""
    B, P, R = len(prompts), max(map(len, prompts)), max(map(len, responses))
    ids = torch.full((B, P + R), PAD)
    mask = torch.zeros(B, P + R, dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        ids[i, P - len(p) : P], ids[i, P : P + len(r)] = torch.tensor(p), torch.tensor(r)
        mask[i, P - len(p) : P + len(r)] = 1
    response_mask = mask[:, P:]
    tagged = (100 * torch.arange(B)[:, None] + torch.arange(R) + 1).float() * response_mask
    return Experience(
        input_ids=ids, attention_mask=mask, prompt_width=P, response_mask=response_mask,
        logprobs=-tagged, values=tagged, advantages=2 * tagged, returns=3 * tagged,
        rewards=4 * tagged, env_rewards=10.0 * torch.arange(B),
        ended_with_eos=torch.tensor([True] * B), terminated=torch.tensor([True] * B),
        truncated=torch.tensor([False] * B), live=torch.tensor(live),
    )  # fmt: skip


def test_stack_keeps_the_live_rows_padded_to_common_widths():
    first = turn([[1, 2], [3]], [[4], [5, 6]], live=[True, True])
    second = turn([[1, 2, 4, 7], [3, 5, 6, 7]], [[8, 8, 8], [7]], live=[False, True])
    batch = stack([first, second], PAD)
    assert len(batch) == 3 and batch.prompt_width == 4
    assert batch.episode.tolist() == [0, 1, 1]  # the second turn's row 0 was not live
    assert batch.input_ids.tolist() == [  # P = 4 prompt columns, then R = 3
        [PAD, PAD, 1, 2, 4, PAD, PAD],
        [PAD, PAD, PAD, 3, 5, 6, PAD],
        [3, 5, 6, 7, 7, PAD, PAD],
    ]
    assert batch.attention_mask.tolist() == [
        [0, 0, 1, 1, 1, 0, 0],
        [0, 0, 0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1, 0, 0],
    ]
    assert batch.values.tolist() == [[1, 0, 0], [101, 102, 0], [101, 0, 0]]
    assert batch.rewards.tolist() == [[4, 0, 0], [404, 408, 0], [404, 0, 0]]
    assert batch.env_rewards.tolist() == [0, 10, 10]
    assert batch.live.all() and batch.ref_logprobs is None  # what no turn had stays None


def test_a_minibatch_has_the_update_fields_of_its_rows_only():
    batch = stack([turn([[1, 2], [3]], [[4], [5, 6]], live=[True, True])], PAD)
    mb = batch.minibatch(torch.tensor([0]))
    assert mb.input_ids.tolist() == [[1, 2, 4]] and mb.prompt_width == 2
    assert mb.advantages.tolist() == [[2.0]] and mb.returns.tolist() == [[3.0]]
    assert mb.rewards is None and mb.env_rewards is None and mb.episode is None
