"""PPO throughput: rollout generation and the training update, against plain Hugging Face
and TRL, measured in the same run on the same randomly initialised models.

Four sections, printed as Markdown tables and written to ``--out`` (default
``runs/ppo_throughput``) as ``results.json`` and ``results.md``:

1. **decode**: new tokens/s of textgym's :class:`~baselines.ppo.fastgen.StaticGenerator`
   (static KV cache, CUDA graph on GPU) and of ``model.generate(do_sample=True,
   min_new_tokens=N, max_new_tokens=N, top_k=0)`` on the same model, prompts of
   ``--prompt-len`` tokens and ``--new-tokens`` new tokens, at each ``--batches`` size. Every
   row has exactly N new tokens (no stop token, ``min_new_tokens`` for ``generate``), both
   sample from the full temperature-1 distribution. ``roofline`` is the time the hardware
   needs at least: for the prefill and each decode step, the larger of (weights + the KV
   cache in use) / measured memory bandwidth and FLOPs / measured matmul rate, summed.
   The fraction of roofline is that time over the measured time.
2. **train**: one step of the Trainer's PPO update (:class:`~baselines.ppo.update.UpdateStep`)
   on a minibatch of ``--train-batch`` sequences of prompt + new tokens, eagerly and
   replayed from a CUDA graph (the Trainer's default on CUDA), and compiled with
   ``--compile``; beside a plain Hugging Face training step on the same model. bf16
   autocast and fused AdamW on CUDA, float32 on CPU. Tokens/s, TFLOP/s and MFU under two
   FLOP counts (what the step computes, over ``--peak-tflops`` and over the measured
   matmul rate; and ``6 x`` all parameters per token over the measured matmul rate): see
   :mod:`benchmarks.ppo_throughput_train`.
3. **iteration**: :class:`~baselines.ppo.train.Trainer` iterations on TextSentiment-v0
   (the SmolLM2 shape with random weights, or ``--iteration-model``): episodes/s and the
   seconds of each phase (generate, env step and reward, reference log-probs, update).
4. **trl**: one end-to-end iteration (generate a batch, one update on it) with TRL's
   ``GRPOTrainer`` and with textgym's generator + update, on the SmolLM2-shaped model;
   skipped with a message when ``trl`` (and ``datasets``) are not installed.

Models: ``smollm2-135m`` (``LlamaConfig``: hidden 576, 30 layers, 9 heads, 3 KV heads,
intermediate 1536, vocab 49152, tied embeddings) and ``gpt2-124m`` (``GPT2Config()``), with
random weights: speed does not depend on the weight values. ``--quick`` swaps in 2-layer
versions and small sizes so that the whole run takes seconds on a CPU.

    python -m benchmarks.ppo_throughput                      # on an H100: ~8 min
    # (compiling the four generators is half of it; --compile adds ~4 min)
    python -m benchmarks.ppo_throughput --quick --device cpu # seconds
    python -m benchmarks.ppo_throughput --sections decode --batches 64 --peak-tflops 989
"""

import argparse
import inspect
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import library_versions, processor_name, progress, records_table
from benchmarks.ppo_common import (
    MODELS,
    QUICK_MODELS,
    build_model,
    matmul_rate,
    memory_bandwidth,
    shape_of,
    sync,
    timed,
)
from benchmarks.ppo_throughput_train import run_train, train_step_fn

SECTIONS = ("decode", "train", "iteration", "trl")


def roofline_seconds(
    s: dict[str, int], batch: int, prompt: int, new: int, elem: int, bw: float, peak: float
) -> float:
    """The least time a generation of ``new`` tokens can take: prefill, then one decode
    step per further token, each bound by bytes read or FLOPs, whichever is slower."""
    weights = s["params"] * elem
    kv_per_token = 2 * s["layers"] * s["kv_heads"] * s["head_dim"] * elem  # K and V
    attn = 4 * s["layers"] * s["width"]  # QK^T and AV, FLOPs per (query, key) pair
    flops = 2 * s["params"] * batch * prompt + attn * batch * prompt * (prompt + 1) // 2
    total = max((weights + batch * prompt * kv_per_token) / bw, flops / peak)
    for context in range(prompt + 1, prompt + new):
        flops = 2 * s["params"] * batch + attn * batch * context
        total += max((weights + batch * context * kv_per_token) / bw, flops / peak)
    return total


# -- section 1: decode -------------------------------------------------------------------------
def run_decode(args: argparse.Namespace, env: dict[str, Any]) -> list[dict[str, Any]]:
    from baselines.ppo.policy import PolicyWithValue

    rows = []
    for name in args.models:
        kind, config = env["models"][name]
        model = build_model(kind, config, env["device"], env["dtype"]).eval()
        policy = PolicyWithValue(model)
        for batch in args.batches:
            row = decode_row(name, policy, batch, args, env)
            rows.append(row)
            progress(
                f"[decode] {name} batch {batch}: static {row['static_tok_s']:,.0f} tok/s, "
                f"generate {row['hf_generate_tok_s']:,.0f} tok/s (x{row['speedup']:.1f}), "
                f"{100 * row['static_roofline_fraction']:.1f}% of roofline"
            )
    return rows


def decode_row(
    name: str, policy: Any, batch: int, args: argparse.Namespace, env: dict[str, Any]
) -> dict[str, Any]:
    from baselines.ppo.fastgen import StaticGenerator

    device, model = env["device"], policy.lm
    P, N = args.prompt_len, args.new_tokens
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (batch, P), generator=g).to(device)
    mask = torch.ones_like(ids)
    gen = torch.Generator(device).manual_seed(0)
    start = time.perf_counter()
    fast = StaticGenerator(policy, batch, P, N)

    def static() -> Any:
        return fast(policy, ids, mask, N, frozenset(), 0, gen)

    assert static()[0].shape == (batch, N)  # the first call allocates and captures
    sync(device)
    setup = time.perf_counter() - start
    t_static = timed(static, device, args.repeats)

    @torch.no_grad()
    def hf() -> Any:
        return model.generate(
            input_ids=ids, attention_mask=mask, do_sample=True, top_k=0, top_p=1.0,
            max_new_tokens=N, min_new_tokens=N, pad_token_id=0,
        )  # fmt: skip

    assert hf().shape == (batch, P + N)  # warm-up; and every row has N new tokens
    t_hf = timed(hf, device, args.repeats)
    roof = roofline_seconds(
        shape_of(model), batch, P, N, env["elem"], env["bandwidth"], env["peak"]
    )
    return dict(
        model=name,
        batch=batch,
        prompt_len=P,
        new_tokens=N,
        static_tok_s=batch * N / t_static,
        hf_generate_tok_s=batch * N / t_hf,
        speedup=t_hf / t_static,
        static_ms_per_token=1e3 * t_static / N,
        hf_generate_ms_per_token=1e3 * t_hf / N,
        static_setup_s=setup,
        roofline_ms_per_token=1e3 * roof / N,
        static_roofline_fraction=roof / t_static,
        hf_generate_roofline_fraction=roof / t_hf,
    )


# -- section 3: one full PPO iteration through textgym -----------------------------------------
def run_iteration(args: argparse.Namespace, env: dict[str, Any]) -> list[dict[str, Any]]:
    """Episodes/s of :class:`~baselines.ppo.train.Trainer` iterations on TextSentiment-v0
    (rollout through the vector env with its VADER reward, reference log-probs, the PPO
    update) and the time of each phase; the median over ``--repeats`` iterations after one
    warm-up. The model is the SmolLM2 shape with random weights, saved to a temporary
    directory with SmolLM2's tokenizer (``--iteration-model`` names another)."""
    import tempfile

    from baselines.ppo.config import PPOConfig
    from baselines.ppo.train import Trainer
    from textgym.lm import load_lm

    device = env["device"]
    with tempfile.TemporaryDirectory() as tmp:
        model_name = args.iteration_model
        if model_name is None:
            kind, config = env["models"]["smollm2-135m"]
            model_name = str(Path(tmp) / "model")
            build_model(kind, config, torch.device("cpu"), torch.float32).save_pretrained(
                model_name
            )
            load_lm("tiny").tokenizer.save_pretrained(model_name)
        config = PPOConfig(
            env_id="TextSentiment-v0", model=model_name, device=str(device),
            batch_size=args.train_batch, minibatch_size=min(16, args.train_batch),
            max_new_tokens=args.new_tokens, total_iterations=1 + args.repeats,
            eval_episodes=0, tensorboard=False, progress=False, checkpoint_every=10**6,
            out_dir=str(Path(tmp) / "run"), torch_threads=args.threads,
        )  # fmt: skip
        trainer = Trainer(config)
        trainer.iterate()  # warm-up: captures the generator's graph, optimizer state
        stats = [trainer.iterate() for _ in range(args.repeats)]
    keys = ("time/iteration", "time/generate", "time/env_step", "time/reference", "time/update")
    median = {k.removeprefix("time/") + "_s": statistics.median(s[k] for s in stats) for k in keys}
    row = dict(
        model=Path(model_name).name if args.iteration_model else "smollm2-135m (random)",
        env="TextSentiment-v0", batch=config.batch_size, new_tokens=args.new_tokens,
        minibatch=config.minibatch_size, update_epochs=config.update_epochs,
        episodes_per_s=config.batch_size / median["iteration_s"],
        tokens_per_s=statistics.median(s["charts/tokens_per_sec"] for s in stats),
        **median,
    )  # fmt: skip
    progress(
        f"[iteration] {row['episodes_per_s']:.1f} episodes/s; "
        + ", ".join(f"{k} {v:.3f}" for k, v in median.items())
    )
    return [row]


# -- section 4: end to end against TRL ---------------------------------------------------------
def run_trl(args: argparse.Namespace, env: dict[str, Any]) -> dict[str, Any]:
    """textgym's iteration (generate + one update) against TRL's GRPOTrainer step."""
    try:
        import datasets
        import trl
    except ImportError as err:
        reason = f"{err.name or 'trl'} is not installed: pip install trl datasets"
        progress(f"[trl] skipped: {reason}")
        return dict(status="skipped", reason=reason, rows=[])
    from transformers import TrainerCallback

    from baselines.ppo.fastgen import StaticGenerator
    from baselines.ppo.policy import PolicyWithValue
    from textgym.lm import load_lm

    device, name = env["device"], "smollm2-135m"
    kind, config = env["models"][name]
    B, P, N = args.train_batch, args.prompt_len, args.new_tokens
    generations = next((k for k in (8, 4, 2) if B % k == 0), None)
    if generations is None:
        raise ValueError(f"--train-batch {B} must be even: GRPO samples groups of 2 or more")
    # SmolLM2's tokenizer (the model shape's own vocabulary); TRL works on text prompts.
    tokenizer = load_lm("tiny").tokenizer
    ids = tokenizer(" ".join(["word"] * P), add_special_tokens=False)["input_ids"][:P]
    text = tokenizer.decode(ids)

    # textgym: StaticGenerator + one update on the generated batch.
    policy = PolicyWithValue(build_model(kind, config, device, torch.float32)).train()
    fast = StaticGenerator(policy, B, len(ids), N, dtype=env["dtype"])
    prompt = torch.tensor([ids] * B, device=device)
    step = train_step_fn(policy, device, B, len(ids), N, cuda_graph=device.type == "cuda")
    gen = torch.Generator(device).manual_seed(0)

    def iteration() -> None:
        fast(policy, prompt, torch.ones_like(prompt), N, frozenset(), 0, gen)
        step()

    iteration()
    iteration()  # on CUDA the update's graph is captured in its second step
    t_textgym = timed(iteration, device, args.repeats)

    # TRL: B completions per step (B / k prompts x k generations), one update on them.
    model = build_model(kind, config, device, torch.float32)
    data = datasets.Dataset.from_dict({"prompt": [text] * (B * 4)})
    wanted = dict(
        output_dir=str(Path(args.out) / "trl"), per_device_train_batch_size=B,
        num_generations=generations, max_completion_length=N, max_prompt_length=P,
        gradient_accumulation_steps=1, num_iterations=1, beta=0.0, temperature=1.0,
        learning_rate=1e-6, max_steps=1 + args.repeats, logging_steps=1,
        save_strategy="no", report_to="none", bf16=device.type == "cuda",
        use_cpu=device.type == "cpu", seed=0,
    )  # fmt: skip
    fields = inspect.signature(trl.GRPOConfig).parameters
    cfg = trl.GRPOConfig(**{k: v for k, v in wanted.items() if k in fields})
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_: Any, **__: Any) -> None:
            sync(device)
            stamps.append(time.perf_counter())

    def zero_reward(completions: list, **_: Any) -> list[float]:
        return [0.0] * len(completions)

    trainer = trl.GRPOTrainer(
        model=model, reward_funcs=zero_reward, args=cfg, train_dataset=data,
        processing_class=tokenizer, callbacks=[Clock()],
    )  # fmt: skip
    trainer.train()
    t_trl = statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    tokens = B * (P + N)
    row = dict(
        model=name, batch=B, prompt_len=P, new_tokens=N, trl_version=trl.__version__,
        textgym_iteration_s=t_textgym, trl_iteration_s=t_trl,
        textgym_tokens_per_s=tokens / t_textgym, trl_tokens_per_s=tokens / t_trl,
        speedup=t_trl / t_textgym,
    )  # fmt: skip
    progress(f"[trl] textgym {t_textgym:.3f} s/iteration, TRL {t_trl:.3f} (x{row['speedup']:.1f})")
    return dict(status="ok", reason="", rows=[row])


# -- report ----------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        f"# PPO throughput on {meta['device_name']} ({meta['dtype']})",
        "",
        f"Measured: memory bandwidth {meta['bandwidth_gb_s']:,.0f} GB/s, "
        f"{meta['matmul_dtype']} matmul {meta['matmul_tflops']:.3g} TFLOP/s; "
        f"peak used for MFU and roofline: {meta['peak_tflops']:.3g} TFLOP/s.",
    ]
    if meta["quick"]:
        out += ["", "Quick run: 2-layer stand-ins of the models at small sizes (a smoke test)."]
    if results.get("decode"):
        cols = ["model", "batch", "static_tok_s", "hf_generate_tok_s", "speedup",
                "static_ms_per_token", "roofline_ms_per_token", "static_roofline_fraction",
                "hf_generate_roofline_fraction", "static_setup_s"]  # fmt: skip
        out += ["", "## Decode (new tokens/s)", "", records_table(results["decode"], cols)]
    if results.get("train"):
        cols = ["model", "step", "batch", "seq_len", "precision", "compiled", "cuda_graph",
                "step_ms", "tokens_per_s", "tflops", "mfu", "mfu_of_measured_matmul",
                "tflops_6n", "mfu_6n", "setup_s"]  # fmt: skip
        out += [
            "",
            "## PPO update step (forward, backward, gradient clip, AdamW)",
            "",
            records_table(results["train"], cols),
        ]
    if results.get("iteration"):
        cols = ["model", "env", "batch", "new_tokens", "episodes_per_s", "iteration_s",
                "generate_s", "env_step_s", "reference_s", "update_s"]  # fmt: skip
        out += ["", "## One PPO iteration through textgym (median; seconds per phase)", "",
                records_table(results["iteration"], cols)]  # fmt: skip
    if "trl" in results:
        trl = results["trl"]
        out += ["", "## End to end against TRL GRPOTrainer", ""]
        if trl["rows"]:
            cols = ["model", "batch", "textgym_iteration_s", "trl_iteration_s", "speedup"]
            out.append(records_table(trl["rows"], cols))
        else:
            out.append(f"{trl['status']}: {trl['reason']}")
    return "\n".join(out) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", help="torch device; auto picks CUDA")
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=None,
        help="decode batch sizes (default 64 256; quick: 4)",
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--quick", action="store_true", help="2-layer models and small sizes: seconds on a CPU"
    )
    parser.add_argument("--prompt-len", type=int, default=None, help="default 64; quick: 16")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 48; quick: 8")
    parser.add_argument("--train-batch", type=int, default=None, help="default 64; quick: 4")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (median); 3")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak for MFU and the roofline (989: H100 SXM dense bf16); "
        "default: the measured matmul rate",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads on CPU (0: torch's default)"
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="train section: also time the update with the forward and loss torch.compile'd "
        "(with and without the CUDA graph)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="train section: profile one step of each row (profile_<model>-<eager|compiled>[-graph].txt in "
        "--out) and add its device_busy_fraction",
    )
    parser.add_argument(
        "--iteration-model",
        default=None,
        help="iteration section: a textgym model name (default: the SmolLM2 shape, random)",
    )
    parser.add_argument("--out", default="runs/ppo_throughput")
    args = parser.parse_args(argv)
    small = args.quick
    for field, full, quick in (("batches", [64, 256], [4]), ("prompt_len", 64, 16),
                               ("new_tokens", 48, 8), ("train_batch", 64, 4),
                               ("repeats", 3, 2)):  # fmt: skip
        if getattr(args, field) is None:
            setattr(args, field, quick if small else full)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if device.type == "cpu" and args.threads > 0:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    bandwidth = memory_bandwidth(device, args.quick)
    matmul = matmul_rate(device, dtype, args.quick)
    peak = args.peak_tflops * 1e12 if args.peak_tflops else matmul
    env = dict(
        device=device, dtype=dtype, elem=torch.finfo(dtype).bits // 8, bandwidth=bandwidth,
        peak=peak, matmul=matmul, models=QUICK_MODELS if args.quick else MODELS,
    )  # fmt: skip
    results: dict[str, Any] = dict(
        meta=dict(
            device=str(device),
            device_name=torch.cuda.get_device_name(device) if cuda else processor_name(),
            dtype=str(dtype).removeprefix("torch."),
            **library_versions(("torch", "transformers")),
            quick=args.quick,
            threads=torch.get_num_threads(),
            bandwidth_gb_s=bandwidth / 1e9,
            matmul_dtype=str(dtype).removeprefix("torch."),
            matmul_tflops=matmul / 1e12,
            peak_tflops=peak / 1e12,
            args={k: v for k, v in vars(args).items()},
            started=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
    )
    if "decode" in args.sections:
        results["decode"] = run_decode(args, env)
    if "train" in args.sections:
        results["train"] = run_train(args, env)
    if "iteration" in args.sections:
        results["iteration"] = run_iteration(args, env)
    if "trl" in args.sections:
        try:
            results["trl"] = run_trl(args, env)
        except Exception as err:  # TRL's API moves fast: report, keep the other sections
            progress(f"[trl] failed: {type(err).__name__}: {err}")
            results["trl"] = dict(status="failed", reason=f"{type(err).__name__}: {err}", rows=[])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (out / "results.md").write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
