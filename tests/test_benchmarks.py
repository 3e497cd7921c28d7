"""Smoke test of the throughput benchmark: it runs end to end and writes its schema.

It times nothing: the numbers only have to be positive.
"""

import json
import sys
from pathlib import Path

# `python -m pytest` from the repository root puts it on sys.path; plain `pytest` does not.
ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import env_throughput  # noqa: E402


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_env_throughput_quick(tmp_path):
    argv = ["--quick", "--models", "tiny", "--num-envs", "1", "2", "--steps", "50"]
    argv += ["--vector-obs-modes", "embedding", "--vector-steps", "3", "--reward-repeats", "2"]
    returned = env_throughput.main(argv + ["--out", str(tmp_path)])

    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text().count("| model |") == 3
    assert set(results) == {"meta", "single_env", "vector", "vector_runs", "rewards"}
    assert results["meta"] == json.loads(json.dumps(returned["meta"]))
    meta = results["meta"]
    for key in ("machine", "processor", "cpu_count", "python", "torch", "torch_threads"):
        assert key in meta
    assert meta["torch_threads"] == 1 and _positive(meta["wall_s"])

    assert len(results["single_env"]) == 2  # tokens and text
    for row in results["single_env"]:
        assert _positive(row["steps_per_s_unwrapped"]) and _positive(row["steps_per_s_gym_make"])
        assert row["episodes"] == 2  # 50 steps of 24-token episodes

    # One subprocess per configuration: the single env, then sync and vector per N.
    runs = results["vector_runs"]
    assert [(r["vectorization"], r["num_envs"]) for r in runs] == [
        ("single", 1),
        ("sync", 1),
        ("vector", 1),
        ("sync", 2),
        ("vector", 2),
    ]
    assert [r["env_class"] for r in runs[:3]] == [
        "TextSentimentEnv",
        "SyncVectorEnv",
        "TextSentimentVectorEnv",
    ]
    for run in runs:
        assert run["timed_steps"] == 3 and run["lm_objects"] == 1 and run["lm_weights_loaded"]
        for key in ("env_steps_per_s", "seconds", "peak_rss_mib", "vm_hwm_mib", "reset_s"):
            assert _positive(run[key]), (key, run)

    rows = results["vector"]
    assert [(r["model"], r["obs_mode"], r["num_envs"]) for r in rows] == [
        ("tiny", "embedding", 1),
        ("tiny", "embedding", 2),
    ]
    for row in rows:
        for key in ("sync_env_steps_per_s", "vector_env_steps_per_s", "single_env_steps_per_s"):
            assert _positive(row[key]), (key, row)
        for key in ("single_peak_rss_mib", "sync_peak_rss_mib", "vector_peak_rss_mib"):
            assert _positive(row[key]), (key, row)
        ratio = row["vector_env_steps_per_s"] / row["sync_env_steps_per_s"]
        assert abs(row["vector_over_sync"] - ratio) < 1e-9

    labels = [r["reward"] for r in results["rewards"]]
    assert labels == [label for label, *_ in env_throughput.REWARD_CASES]
    for row in results["rewards"]:
        assert row["repeats"] == 2 and 20 <= row["words_per_text"] <= 30
        assert _positive(row["us_per_episode_median"]) and _positive(row["us_per_call_median"])
    dialogue = [r for r in results["rewards"] if r["env"] == "TextDialogue-v0"]
    assert [r["calls_per_episode"] for r in dialogue] == [3, 3]


def test_fresh_texts_never_repeat():
    texts = env_throughput.FreshTexts("en")
    seen = [texts() for _ in range(3000)]
    assert len(set(seen)) == len(seen)
    assert all(len(t.split()) == 25 for t in seen)
