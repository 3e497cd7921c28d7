"""The PPO report on fixed inputs."""

import csv
import dataclasses
import json

import pytest

from baselines.ppo.config import PPOConfig
from baselines.ppo.logs import EVAL_KEYS, TRAIN_KEYS
from benchmarks import ppo_report


def _write(path, keys, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _fake_run(tmp_path, seed=0, final=0.4):
    run = tmp_path / f"run{seed}"
    run.mkdir()
    config = PPOConfig(batch_size=4, minibatch_size=2, out_dir=str(run), seed=seed)
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    train = []
    for i in (1, 2):
        row = {k: 0.0 for k in TRAIN_KEYS}
        row.update(
            {
                "iteration": i,
                "episodes": 4 * i,
                "charts/episodic_return": 0.1 * i,
                "charts/response_tokens": 10.0,
                "objective/kl": 0.5 * i,
                "time/iteration": 30.0,
            }
        )
        train.append(row)
    _write(run / "metrics.csv", TRAIN_KEYS, train)
    evals = [
        {"iteration": 0, "eval/mean_return": 0.1, "eval/std_return": 0.2},
        {"iteration": 1, "eval/mean_return": 0.5, "eval/std_return": 0.3},
        {"iteration": 2, "eval/mean_return": final, "eval/std_return": 0.1},
    ]
    _write(run / "eval.csv", EVAL_KEYS, evals)
    return run


def test_summary_row_and_table(tmp_path):
    row = ppo_report.summary_row(ppo_report.load_run(_fake_run(tmp_path)))
    assert row["iterations"] == 2 and row["episodes"] == 8
    assert row["generated_tokens"] == 80
    assert row["zero_shot"]["eval/mean_return"] == 0.1
    assert row["final"]["eval/mean_return"] == 0.4
    assert row["best"]["iteration"] == 1
    assert row["kl"] == 1.0 and row["target_kl"] == 6.0
    table = ppo_report.results_table([row])
    assert (
        "| TextSentiment-v0 | ppo | 0 | 2 (8) | 0.100 ± 0.200 | 0.400 ± 0.100 "
        "| 0.500 ± 0.300 (1) | 1.00 / 6 | 60 s |" in table
    )


def test_main_writes_table_and_plot(tmp_path):
    run = _fake_run(tmp_path)
    ppo_report.main([str(run), "--out", str(tmp_path / "report")])
    assert (tmp_path / "report" / "curves.png").stat().st_size > 1000
    assert "0.400 ± 0.100" in (tmp_path / "report" / "results.md").read_text()


def test_seeds_table_summarises_runs_across_seeds(tmp_path):
    runs = [_fake_run(tmp_path, seed, final) for seed, final in ((0, 0.4), (1, 0.6), (2, 0.8))]
    rows = [ppo_report.summary_row(ppo_report.load_run(r)) for r in runs]
    (agg,) = ppo_report.seed_rows(rows)
    assert agg["seeds"] == [0, 1, 2] and agg["zero_shot_mean"] == 0.1
    assert agg["zero_shot_std"] == 0.0 and agg["final_min"] == 0.4
    assert abs(agg["final_mean"] - 0.6) < 1e-12 and abs(agg["final_std"] - 0.2) < 1e-12
    assert agg["kl_max"] == 1.0
    assert "| TextSentiment-v0 | ppo | 0, 1, 2 | 0.100 ± 0.000 | 0.600 ± 0.200 | 0.400 |" in (
        ppo_report.seeds_table([agg])
    )
    assert ppo_report.seed_rows(rows[:1]) == []  # one seed: no table
    ppo_report.main([*map(str, runs), "--out", str(tmp_path / "report")])
    assert "Across seeds" in (tmp_path / "report" / "results.md").read_text()


def test_a_directory_that_is_not_a_run_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config.json or metrics.csv.*--out-dir"):
        ppo_report.load_run(tmp_path)
