"""`python -m benchmarks.ppo_throughput --quick` on the CPU: every section runs, the JSON
has the documented keys, and the numbers are finite and consistent with each other."""

import json
import math

import pytest

from benchmarks import ppo_throughput

DECODE_KEYS = {
    "model", "batch", "prompt_len", "new_tokens", "static_tok_s", "hf_generate_tok_s",
    "speedup", "static_ms_per_token", "hf_generate_ms_per_token", "static_setup_s",
    "roofline_ms_per_token", "static_roofline_fraction", "hf_generate_roofline_fraction",
}  # fmt: skip
TRAIN_KEYS = {
    "model", "batch", "seq_len", "params", "precision", "optimizer", "step_ms",
    "tokens_per_s", "tflops", "mfu", "mfu_of_measured_matmul", "compiled", "cuda_graph",
    "setup_s",
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
    assert [r["model"] for r in train] == ["smollm2-135m", "gpt2-124m"]
    for row in train:
        assert row.keys() == TRAIN_KEYS
        assert row["seq_len"] == 10 and row["precision"] == "float32"
        assert row["tokens_per_s"] > 0 and 0 < row["mfu"] == row["tflops"] / meta["peak_tflops"]
        assert row["compiled"] is False and row["cuda_graph"] is False  # CUDA only
        assert row["mfu_of_measured_matmul"] == pytest.approx(row["mfu"])  # CPU: same peak

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
    assert ppo_throughput.update_flops(shape, batch=3, seq=10, response=4) == 3 * 86_400


def test_shape_of_splits_trunk_and_head_parameters():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(
        GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=50, n_positions=8)
    )
    s = ppo_throughput.shape_of(model)
    assert s["head_params"] == 50 * 16  # tied with the token embedding
    embeddings = (50 + 8) * 16  # token and position tables: no matmul
    assert s["trunk_params"] == s["params"] - embeddings


def test_profile_writes_the_table_and_the_device_busy_fraction(tmp_path):
    argv = ["--quick", "--device", "cpu", "--out", str(tmp_path), "--sections", "train",
            "--models", "gpt2-124m", "--train-batch", "2", "--repeats", "1", "--profile"]  # fmt: skip
    (row,) = ppo_throughput.main(argv)["train"]
    assert row["device_busy_fraction"] == 0.0  # no CUDA kernels on a CPU
    assert "aten::" in (tmp_path / "profile_gpt2-124m-eager.txt").read_text()
