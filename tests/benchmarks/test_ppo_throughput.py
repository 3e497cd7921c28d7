"""`python -m benchmarks.ppo_throughput --quick` on the CPU: every section runs, the JSON
has the documented keys, and the numbers are finite and consistent with each other."""

import json
import math

import pytest
import torch

from benchmarks import ppo_common, ppo_throughput, ppo_throughput_train

DECODE_KEYS = {
    "model", "batch", "prompt_len", "new_tokens", "static_tok_s", "hf_generate_tok_s",
    "speedup", "static_ms_per_token", "hf_generate_ms_per_token", "static_setup_s",
    "roofline_ms_per_token", "static_roofline_fraction", "hf_generate_roofline_fraction",
}  # fmt: skip
TRAIN_KEYS = {
    "model", "step", "batch", "seq_len", "params", "precision", "optimizer", "step_ms",
    "tokens_per_s", "tflops", "mfu", "mfu_of_measured_matmul", "tflops_6n", "mfu_6n",
    "compiled", "cuda_graph", "setup_s",
}  # fmt: skip
ITERATION_KEYS = {
    "model", "env", "batch", "new_tokens", "minibatch", "update_epochs", "episodes_per_s",
    "tokens_per_s", "iteration_s", "generate_s", "env_step_s", "reference_s", "update_s",
}  # fmt: skip


def test_quick_run_on_cpu_writes_every_section(tmp_path, capsys):
    argv = ["--quick", "--device", "cpu", "--out", str(tmp_path), "--batches", "2", "3",
            "--prompt-len", "6", "--new-tokens", "4", "--train-batch", "2", "--repeats", "1"]  # fmt: skip
    results = ppo_throughput.main(argv)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert {"meta", "decode", "train", "iteration", "trl"} <= saved.keys()
    meta = saved["meta"]
    assert meta["device"] == "cpu" and meta["quick"] is True
    assert meta["bandwidth_gb_s"] > 0 and meta["peak_tflops"] == meta["matmul_tflops"] > 0

    decode = saved["decode"]
    assert [(r["model"], r["batch"]) for r in decode] == [
        (m, b) for m in ("smollm2-135m", "gpt2-124m") for b in (2, 3)
    ]
    for row in decode:
        assert row.keys() == DECODE_KEYS
        assert all(math.isfinite(v) and v > 0 for v in row.values() if isinstance(v, float))
        assert row["static_tok_s"] / row["hf_generate_tok_s"] == pytest.approx(row["speedup"])
        per_token = 1e3 * row["batch"] / row["static_tok_s"]  # ms per new token of a row
        assert per_token == pytest.approx(row["static_ms_per_token"])

    train = saved["train"]
    assert [(r["model"], r["step"]) for r in train] == [
        (m, s) for m in ("smollm2-135m", "gpt2-124m") for s in ("plain HF", "textgym")
    ]
    for row in train:
        assert row.keys() == TRAIN_KEYS
        assert row["seq_len"] == 10 and row["precision"] == "float32"
        assert row["tokens_per_s"] > 0 and 0 < row["mfu"] == row["tflops"] / meta["peak_tflops"]
        assert row["compiled"] is False and row["cuda_graph"] is False  # CUDA only
        assert row["mfu_of_measured_matmul"] == pytest.approx(row["mfu"])  # CPU: same peak
        nominal = 6 * row["params"] * row["tokens_per_s"]  # FLOP/s, embeddings included
        assert row["tflops_6n"] == pytest.approx(nominal / 1e12)
        assert row["mfu_6n"] == pytest.approx(nominal / 1e12 / meta["matmul_tflops"])

    (iteration,) = saved["iteration"]
    assert iteration.keys() == ITERATION_KEYS
    assert iteration["env"] == "TextSentiment-v0" and iteration["batch"] == 2
    phases = [iteration[k] for k in ("generate_s", "env_step_s", "reference_s", "update_s")]
    assert all(p > 0 for p in phases) and sum(phases) <= iteration["iteration_s"]
    assert iteration["episodes_per_s"] == pytest.approx(2 / iteration["iteration_s"])

    # trl is not a dependency: without it the section says why instead of failing.
    trl = saved["trl"]
    assert trl["status"] in ("ok", "skipped", "failed") and isinstance(trl["rows"], list)
    if trl["status"] != "ok":
        assert trl["reason"] and not trl["rows"]

    table = (tmp_path / "results.md").read_text()
    assert "## Decode (new tokens/s)" in table and "| gpt2-124m | 3 |" in table
    assert table in capsys.readouterr().out


def test_update_flops_count_the_head_at_response_positions_only():
    shape = dict(trunk_params=1000, head_params=300, layers=2, width=8)
    # trunk: 6 * 1000 * 10 + 12 * 2 * 8 * 10 * 10 = 79,200 per row; head: 6 * 300 * 4 = 7,200
    assert ppo_throughput_train.update_flops(shape, batch=3, seq=10, response=4) == 3 * 86_400


def test_shape_of_splits_trunk_and_head_parameters():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(
        GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=50, n_positions=8)
    )
    s = ppo_common.shape_of(model)
    assert s["head_params"] == 50 * 16  # tied with the token embedding
    embeddings = (50 + 8) * 16  # token and position tables: no matmul
    assert s["trunk_params"] == s["params"] - embeddings


def test_profile_writes_the_table_and_the_device_busy_fraction(tmp_path):
    argv = ["--quick", "--device", "cpu", "--out", str(tmp_path), "--sections", "train",
            "--models", "gpt2-124m", "--train-batch", "2", "--repeats", "1", "--profile"]  # fmt: skip
    hf, row = ppo_throughput.main(argv)["train"]
    assert row["device_busy_fraction"] == hf["device_busy_fraction"] == 0.0  # no CUDA kernels
    assert "aten::" in (tmp_path / "profile_gpt2-124m-eager.txt").read_text()
    assert "aten::" in (tmp_path / "profile_gpt2-124m-hf.txt").read_text()


def test_plain_hf_step_trains_the_model_on_every_position():
    """The plain-HF baseline is a real training step: the loss over every position goes
    down on a repeated batch, and every parameter moves."""
    model = ppo_common.build_model(*ppo_common.QUICK_MODELS["gpt2-124m"], "cpu", torch.float32)
    model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = 0.0
    model = type(model)(model.config).train()  # no dropout: a deterministic loss
    step = ppo_throughput_train.hf_step_fn(model, torch.device("cpu"), batch=2, seq=8, lr=1e-3)
    ids = ppo_throughput_train.random_ids(model.config.vocab_size, 2, 8)
    before = [p.detach().clone() for p in model.parameters()]

    def loss() -> float:
        with torch.no_grad():
            return float(model(input_ids=ids, labels=ids).loss)

    start = loss()
    for _ in range(3):
        step()
    assert loss() < start
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
