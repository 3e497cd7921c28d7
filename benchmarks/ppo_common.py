"""What the PPO throughput benchmarks share: the two model shapes (random weights), their
parameter counts, timing on a device and the machine's own measured limits (memory
bandwidth, matmul rate). Used by :mod:`benchmarks.ppo_throughput` and
:mod:`benchmarks.ppo_throughput_train`; tables and progress lines are
:mod:`benchmarks.common`'s."""

import statistics
import time
from typing import Any

import torch

SMOLLM2 = dict(
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    vocab_size=49152,
    max_position_embeddings=2048,
    rope_theta=100000.0,
    tie_word_embeddings=True,
)
MODELS = {"smollm2-135m": ("llama", SMOLLM2), "gpt2-124m": ("gpt2", {})}
QUICK_MODELS = {
    "smollm2-135m": ("llama", dict(SMOLLM2, hidden_size=64, intermediate_size=128,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2)),
    "gpt2-124m": ("gpt2", dict(n_embd=64, n_layer=2, n_head=4, vocab_size=512, n_positions=128,
                              bos_token_id=1, eos_token_id=2)),
}  # fmt: skip


def build_model(kind: str, config: dict, device: torch.device, dtype: torch.dtype) -> Any:
    """A randomly initialised causal LM (seed 0) on ``device`` in ``dtype``."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config_cls, model_cls = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "gpt2": (GPT2Config, GPT2LMHeadModel),
    }[kind]
    cfg = config_cls(**config, pad_token_id=0)
    with torch.device(device):
        model = model_cls(cfg)
    return model.to(dtype)


def shape_of(model: Any) -> dict[str, int]:
    """Layers, width, KV heads and head size, the number of (unique) parameters, the LM
    head's (V x d) and the trunk's matmul parameters (no embedding tables)."""
    cfg = model.config
    heads = int(cfg.num_attention_heads)
    trunk = sum(
        p.numel()
        for m in model.base_model.modules()
        if not isinstance(m, torch.nn.Embedding)
        for p in m.parameters(recurse=False)
    )
    return dict(
        layers=int(cfg.num_hidden_layers),
        width=int(cfg.hidden_size),
        kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
        head_dim=int(cfg.hidden_size) // heads,
        params=sum(p.numel() for p in model.parameters()),
        head_params=model.get_output_embeddings().weight.numel(),
        trunk_params=trunk,
    )


# -- timing and the machine's own limits ------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Any, device: torch.device, repeats: int) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs (after the caller's
    warm-up)."""
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_bandwidth(device: torch.device, quick: bool) -> float:
    """Bytes/s of a large device-to-device copy (read + write counted)."""
    n = (32 if quick else 1024 if device.type == "cuda" else 256) * 2**20
    src = torch.empty(n, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)
    return 2 * n / timed(lambda: dst.copy_(src), device, 5)


def matmul_rate(device: torch.device, dtype: torch.dtype, quick: bool) -> float:
    """FLOP/s of a large square matmul in ``dtype``."""
    n = 256 if quick else 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    return 2 * n**3 / timed(lambda: a @ b, device, 5)
