"""The train section of :mod:`benchmarks.ppo_throughput`: one step of the PPO update,
timed in each way the Trainer can run it, beside plain Hugging Face on the same model.

Rows (``step``):

- ``plain HF``: ``model(input_ids, labels=input_ids).loss`` (full-vocabulary logits at
  every position), backward, fused AdamW: what a plain Hugging Face training step does
  (bf16 autocast over float32 weights on CUDA, as the HF Trainer's ``bf16=True``).
- ``textgym``: :class:`~baselines.ppo.update.UpdateStep`, the Trainer's minibatch step
  (response log-probs and values, clipped policy and value losses, backward, gradient
  clip, fused AdamW), eagerly and replayed from a CUDA graph on CUDA, and with
  ``--compile`` through ``torch.compile`` too.

Two FLOP counts, both per step:

- ``tflops`` / ``mfu`` / ``mfu_of_measured_matmul``: the FLOPs the step computes, PaLM's
  count (``6 N + 12 L d T`` per token, N the trunk's matmul parameters, L layers, width
  d, sequence length T) plus ``6 V d`` for the LM head at each position whose logits
  the step computes (the response positions for textgym, every position for plain HF);
  over ``--peak-tflops`` and over the matmul rate measured in the same run.
- ``tflops_6n`` / ``mfu_6n``: ``6 x`` all parameters (embeddings included) per token,
  over the measured matmul rate. This is the count of the plain-HF reference figures
  this project started from (GPT-2 shape, 64 x 112 on an H100: 152,298 tokens/s =
  114 TFLOP/s = 14% of a ~790 TFLOP/s measured bf16 matmul): a rate of tokens per second
  scaled by a fixed model size, so the rows compare as throughput whatever each computes.
"""

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import progress
from benchmarks.ppo_common import build_model, shape_of, sync, timed


def update_flops(s: dict[str, int], batch: int, seq: int, response: int) -> int:
    """FLOPs of one forward + backward, PaLM's count (6 per parameter per token, plus
    12 L d T per token for attention) with the LM head counted at ``response``
    positions only: the PPO update computes no prompt logits."""
    trunk = 6 * s["trunk_params"] * seq + 12 * s["layers"] * s["width"] * seq * seq
    return batch * (trunk + 6 * s["head_params"] * response)


def random_ids(vocab: int, batch: int, seq: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(3, vocab, (batch, seq), generator=g)


def hf_step_fn(model: Any, device: torch.device, batch: int, seq: int, lr: float = 1e-6) -> Any:
    """One plain Hugging Face training step on ``batch`` random sequences of ``seq``
    tokens: the causal-LM loss over every position, backward, fused AdamW on CUDA.
    Returns it as a function of no arguments."""
    cuda = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, fused=cuda)
    ids = random_ids(model.config.vocab_size, batch, seq).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        optimizer.step()

    return step


def train_step_fn(
    policy: Any,
    device: torch.device,
    batch: int,
    prompt: int,
    new: int,
    compile: bool = False,
    cuda_graph: bool = False,
) -> Any:
    """One step of the Trainer's PPO update (:class:`~baselines.ppo.update.UpdateStep`:
    response log-probs and values under bf16 autocast on CUDA, clipped policy and value
    losses, backward, gradient clip, fused AdamW) on one minibatch of ``batch`` random
    sequences of ``prompt`` + ``new`` tokens. Returns the step as a function of no
    arguments; with ``cuda_graph`` its first call runs eagerly and its second captures."""
    from baselines.ppo.config import PPOConfig
    from baselines.ppo.experience import Experience
    from baselines.ppo.update import UpdateStep, make_optimizer

    config = PPOConfig(batch_size=batch, minibatch_size=batch, learning_rate=1e-6)
    optimizer = make_optimizer(policy, config, cuda_graph)
    ids = random_ids(policy.lm.config.vocab_size, batch, prompt + new)
    g = torch.Generator().manual_seed(2)
    per_token = dict(
        logprobs=-torch.rand(batch, new, generator=g) * 5,
        values=torch.randn(batch, new, generator=g),
        advantages=torch.randn(batch, new, generator=g),
        returns=torch.randn(batch, new, generator=g),
    )
    data = Experience(
        input_ids=ids, attention_mask=torch.ones_like(ids), prompt_width=prompt,
        response_mask=torch.ones(batch, new, dtype=torch.long), **per_token,
    ).to(device)  # fmt: skip
    update = UpdateStep(policy, optimizer, config, cuda_graph, compile)
    rows = torch.arange(batch)  # CPU row indices, as the Trainer passes them
    return lambda: update(data, rows)


def run_train(args: argparse.Namespace, env: dict[str, Any]) -> list[dict[str, Any]]:
    from baselines.ppo.policy import PolicyWithValue

    device = env["device"]
    cuda = device.type == "cuda"
    # (step, compiled, cuda_graph)
    modes = [("plain HF", False, False), ("textgym", False, False)]
    if cuda:
        modes.append(("textgym", False, True))
    if args.compile:
        modes += [("textgym", True, False)] + ([("textgym", True, True)] if cuda else [])
    B, T = args.train_batch, args.prompt_len + args.new_tokens
    rows = []
    for name in args.models:
        kind, config = env["models"][name]
        for impl, compiled, graph in modes:
            # float32 master weights; on CUDA the matmuls run in bf16 under autocast.
            model = build_model(kind, config, device, torch.float32).train()
            s = shape_of(model)
            if impl == "plain HF":
                step, response = hf_step_fn(model, device, B, T), T  # logits everywhere
            else:
                policy = PolicyWithValue(model).train()
                step = train_step_fn(
                    policy, device, B, args.prompt_len, args.new_tokens, compiled, graph
                )
                response = args.new_tokens
                del policy  # the step holds it
            flops = update_flops(s, B, T, response)
            start = time.perf_counter()
            step()  # warm-up: optimizer state, autotuning, compilation
            step()  # with a CUDA graph: the capture
            sync(device)
            setup = time.perf_counter() - start
            step()
            seconds = timed(step, device, args.repeats)
            tflops = flops / seconds / 1e12
            tokens_per_s = B * T / seconds
            row = dict(
                model=name,
                step=impl,
                batch=B,
                seq_len=T,
                params=s["params"],
                precision="bf16 autocast" if cuda else "float32",
                optimizer="AdamW (fused)" if cuda else "AdamW",
                compiled=compiled,
                cuda_graph=graph,
                setup_s=setup,
                step_ms=1e3 * seconds,
                tokens_per_s=tokens_per_s,
                tflops=tflops,
                mfu=tflops / (env["peak"] / 1e12),
                mfu_of_measured_matmul=flops / seconds / env["matmul"],
                tflops_6n=6 * s["params"] * tokens_per_s / 1e12,
                mfu_6n=6 * s["params"] * tokens_per_s / env["matmul"],
            )
            if args.profile:
                mode = "hf" if impl == "plain HF" else "compiled" if compiled else "eager"
                tag = f"{name}-{mode}{'-graph' if graph else ''}"
                row["device_busy_fraction"] = profile_step(step, device, Path(args.out), tag)
            rows.append(row)
            progress(
                f"[train] {name} {impl}{' compiled' if compiled else ''}"
                f"{' graph' if graph else ''}: {tokens_per_s:,.0f} tok/s, {tflops:.2f} TFLOP/s, "
                f"MFU {100 * row['mfu']:.1f}% (6N over measured matmul {100 * row['mfu_6n']:.1f}%)"
            )
            del model, step
    return rows


def profile_step(step: Any, device: torch.device, out: Path, tag: str) -> float:
    """Profile one ``step()``: write its top operators and kernels by device time to
    ``out/profile_<tag>.txt`` and return the fraction of the step's wall time that the
    device was busy (low: the step is bound by kernel launches, not by the kernels)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    sync(device)
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        step()
        sync(device)
    wall = time.perf_counter() - start
    events = prof.key_averages()
    out.mkdir(parents=True, exist_ok=True)
    table = events.table(sort_by="self_device_time_total", row_limit=40, max_name_column_width=70)
    (out / f"profile_{tag}.txt").write_text(table + "\n")
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    return sum(e.self_device_time_total for e in kernels) / 1e6 / wall
