"""The PPO report on fixed inputs."""

import csv
import dataclasses
import json

from baselines.ppo.config import PPOConfig
from baselines.ppo.logs import EVAL_KEYS, TRAIN_KEYS
from benchmarks import ppo_report


def _write(path, keys, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _fake_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = PPOConfig(batch_size=4, minibatch_size=2, out_dir=str(run))
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
        {"iteration": 2, "eval/mean_return": 0.4, "eval/std_return": 0.1},
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
