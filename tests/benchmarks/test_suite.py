"""The benchmark suite: report writers on fixed inputs, an end-to-end run on the tiny model
(files, schema, resume, determinism) and the perplexity against a hand computation."""

import csv
import json
import math
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

# `python -m pytest` from the repository root puts it on sys.path; plain `pytest` does not.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from baselines.reference import (  # noqa: E402
    generation_perplexity,
    run_evaluation,
    run_vector_evaluation,
)
from benchmarks import report, suite  # noqa: E402


def _run(agent, seed, metric, ret, tokens, ppl, kind="reference", steps=(0,)):
    evals = [
        {"step": s, "mean_metric": metric, "mean_return": ret, "mean_gen_tokens": tokens}
        | {"perplexity": ppl}
        for s in steps
    ]
    return {"agent": agent, "env_id": "E-v0", "seed": seed, "kind": kind, "evaluations": evals}


FIXED = [
    _run("lm-sampled", 0, 0.2, 1.0, 10, 20.0),
    _run("lm-sampled", 1, 0.4, 3.0, 12, 30.0),
    _run("ppo", 0, 0.1, 0.5, 24, 100.0, kind="sb3", steps=(0, 64)),
    _run("ppo", 1, 0.3, 0.5, 24, 100.0, kind="sb3", steps=(0, 64)),
]


# -- report ------------------------------------------------------------------------------------
def test_results_table_exact():
    assert report.results_table(FIXED) == "\n".join(
        [
            "| env | agent | seeds | budget | task metric | return | gen. tokens | perplexity "
            "| time/seed | note |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            "| E-v0 | lm-sampled | 2 | — | 0.300 ± 0.141 | 2.000 ± 1.414 | 11.0 ± 1.4 "
            "| 25.0 ± 7.1 | — | zero-shot baseline |",
            "| E-v0 | ppo | 2 | — | 0.200 ± 0.141 | 0.500 ± 0.000 | 24.0 ± 0.0 | 100.0 ± 0.0 "
            "| — | does not beat lm-sampled (-0.100) |",
        ]
    )


def test_report_command_rebuilds_a_directorys_summary(tmp_path, capsys):
    for run in FIXED:
        run_dir = tmp_path / run["agent"] / "E-v0" / f"seed{run['seed']}"
        run_dir.mkdir(parents=True)
        config = {"model": "tiny", "split": "test"}
        (run_dir / "result.json").write_text(json.dumps(run | {"config": config}))
    table = report.main([str(tmp_path)])
    assert table == report.results_table(FIXED)
    assert table in (tmp_path / "results.md").read_text()
    assert "(model tiny, held-out split 'test')" in (tmp_path / "results.md").read_text()
    assert len(list(csv.DictReader((tmp_path / "results.csv").open()))) == 2
    assert (tmp_path / "curves_E-v0.png").stat().st_size > 5000
    with pytest.raises(FileNotFoundError, match="no result.json under"):
        report.main([str(tmp_path / "empty")])


def test_table_shows_the_budget_and_wall_time_per_seed():
    runs = [
        _run("ppo", s, 0.5, 0.5, 8, 9.0, kind="sb3")
        | {"wall_time_s": t, "config": {"budget": 4096}}
        for s, t in ((0, 500.0), (1, 700.0))
    ]
    (row,) = report.aggregate(runs)
    assert row["budget"] == 4096 and row["wall_time_s"] == pytest.approx(600.0)
    assert "| ppo | 2 | 4,096 | 0.500 ± 0.000 |" in report.results_table(runs)
    assert "| 10.0 min |" in report.results_table(runs)
    runs[1]["config"]["budget"] = 2048
    assert report.aggregate(runs)[0]["budget"] == "mixed"
    reference = _run("lm-sampled", 0, 0.2, 0.2, 8, 5.0) | {"wall_time_s": 42.0}
    assert "| lm-sampled | 1 | — |" in report.results_table([reference])
    assert "| 42 s |" in report.results_table([reference])


def test_load_results_reads_every_run_in_order(tmp_path):
    runs = [
        _run("ppo", 1, 0.1, 0, 1, 1.0, kind="sb3") | {"env_id": "B-v0"},
        _run("ppo", 0, 0.1, 0, 1, 1.0, kind="sb3") | {"env_id": "B-v0"},
        _run("random", 0, 0.1, 0, 1, 1.0) | {"env_id": "B-v0"},
        _run("zzz", 0, 0.1, 0, 1, 1.0) | {"env_id": "A-v0"},
        _run("random", 0, 0.1, 0, 1, 1.0) | {"env_id": "A-v0"},
    ]
    for r in runs:
        path = tmp_path / r["agent"] / r["env_id"] / f"seed{r['seed']}" / "result.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(r))
    loaded = report.load_results(tmp_path, ["B-v0", "A-v0"], ["random", "ppo"])
    keys = [(r["env_id"], r["agent"], r["seed"]) for r in loaded]
    assert keys == [
        ("B-v0", "random", 0),
        ("B-v0", "ppo", 0),
        ("B-v0", "ppo", 1),
        ("A-v0", "random", 0),
        ("A-v0", "zzz", 0),  # an agent outside the order comes after the known ones
    ]


def test_aggregate_mean_and_sample_std():
    values = [0.1, 0.25, 0.7]
    runs = [_run("a2c", s, v, v, 5, 9.0) for s, v in enumerate(values)]
    (row,) = report.aggregate(runs)
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)  # n - 1
    assert row["seeds"] == 3
    assert row["mean_metric_mean"] == pytest.approx(mean)
    assert row["mean_metric_std"] == pytest.approx(std)
    # One seed: no spread to show.
    table = report.results_table(runs[:1])
    assert "| 0.100 | 0.100 | 5.0 | 9.0 |" in table and "±" not in table


def test_honest_note():
    base = _run("lm-sampled", 0, 0.50, 0, 10, 20.0)
    seeds = [base, _run("lm-sampled", 1, 0.50, 0, 10, 20.0)]

    def note(*agent_runs):
        rows = report.aggregate(seeds + list(agent_runs))
        return rows[-1]["note"]

    assert note(_run("ppo", 0, 0.40, 0, 10, 20.0)) == "does not beat lm-sampled (-0.100)"
    assert note(_run("ppo", 0, 0.50, 0, 10, 20.0)) == "does not beat lm-sampled (+0.000)"
    # Better on average but by less than the spread of its seeds.
    noisy = [_run("ppo", 0, 0.30, 0, 10, 20.0), _run("ppo", 1, 0.80, 0, 10, 20.0)]
    assert note(*noisy) == "within seed spread of lm-sampled (+0.050)"
    clear = [_run("ppo", 0, 0.60, 0, 10, 20.0), _run("ppo", 1, 0.62, 0, 10, 20.0)]
    assert note(*clear) == "beats lm-sampled (+0.110) by more than the seeds' spread"
    single = note(_run("ppo", 0, 0.60, 0, 10, 20.0))
    assert single == "beats lm-sampled (+0.100) but on one seed: no spread to judge"
    hacked = note(*[_run("ppo", s, 0.90, 0, 10, 500.0) for s in (0, 1)])
    assert hacked == (
        "beats lm-sampled (+0.400) by more than the seeds' spread; "
        "perplexity 25x lm-sampled's: check for reward hacking"
    )
    assert report.aggregate(seeds)[0]["note"] == "zero-shot baseline"
    assert report.aggregate([_run("ppo", 0, 0.9, 0, 1, 1.0)])[0]["note"].startswith("no lm-")


def test_write_csv(tmp_path):
    path = report.write_csv(FIXED + [_run("random", 0, math.nan, 0.0, 3, 7.0)], tmp_path / "r.csv")
    rows = list(csv.DictReader(path.open()))
    assert [(r["env_id"], r["agent"], r["seeds"]) for r in rows] == [
        ("E-v0", "lm-sampled", "2"),
        ("E-v0", "ppo", "2"),
        ("E-v0", "random", "1"),
    ]
    assert float(rows[0]["mean_metric_mean"]) == pytest.approx(0.3)
    assert float(rows[0]["mean_metric_std"]) == pytest.approx(math.sqrt(0.02))
    assert rows[1]["note"] == "does not beat lm-sampled (-0.100)"
    assert rows[2]["mean_metric_mean"] == "" and rows[2]["perplexity_std"] == ""
    assert rows[0]["budget"] == "" and rows[0]["wall_time_s"] == ""


def test_plot_curves_writes_png(tmp_path):
    paths = report.plot_curves(FIXED, tmp_path)
    assert paths == [tmp_path / "curves_E-v0.png"]
    data = paths[0].read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


# -- perplexity --------------------------------------------------------------------------------
def test_perplexity_matches_hand_computation():
    import torch

    env = gym.make("TextSentiment-v0", model="tiny", split="test", max_new_tokens=5)
    tokens = [1000, 2000, 3000, 4000, 5000]
    steps = iter(tokens)
    result = run_evaluation(env, lambda obs, env: next(steps), episodes=1, seed=0)
    base = env.unwrapped
    context = base.context_ids
    prompt_len = len(context) - len(tokens)
    assert context[prompt_len:] == tokens and result["gen_tokens"] == [5]

    # By hand: one forward per generated token over the prefix before it.
    model = base.lm.model
    nll = 0.0
    with torch.inference_mode():
        for i, token in enumerate(tokens):
            prefix = torch.tensor([context[: prompt_len + i]])
            logits = model(input_ids=prefix).logits[0, -1].double()
            nll -= float(torch.log_softmax(logits, -1)[token])
    expected = math.exp(nll / len(tokens))
    assert result["perplexities"][0] == pytest.approx(expected, rel=1e-4)
    assert result["perplexity"] == pytest.approx(expected, rel=1e-4)
    positions = list(range(prompt_len, len(context)))
    direct = generation_perplexity(base.lm, context, positions)
    assert direct["tokens"] == 5 and direct["perplexity"] == pytest.approx(expected, rel=1e-4)
    env.close()


@pytest.mark.parametrize("env_id", ["TextSentiment-v0", "TextDialogue-v0"])
def test_vector_evaluation_equals_the_single_env_evaluation(env_id):
    # A deterministic policy of the observation (topk: the proposal ranked by the
    # context's hidden state), so both paths must play the same tokens; 5 episodes over 2
    # rows: batches of two, the last one half used.
    kwargs = dict(model="tiny", split="test", obs_mode="embedding", action_mode="topk", topk=4)
    kwargs["max_new_tokens"] = 5
    if env_id == "TextDialogue-v0":
        kwargs |= dict(similarity="lexical", num_turns=2, partner_max_new_tokens=4)

    def policy(obs):
        return int(np.argmax(obs[:4])) if np.abs(obs[:4]).max() > 0 else 0

    env = gym.make(env_id, **kwargs)
    single = run_evaluation(env, lambda obs, env: policy(obs), episodes=5, seed=3)
    venv = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    batched = run_vector_evaluation(
        venv, lambda obs, venv: np.array([policy(o) for o in obs]), episodes=5, seed=3
    )
    for key in ("returns", "metrics", "lengths", "gen_tokens", "perplexities"):
        assert batched[key] == pytest.approx(single[key], rel=1e-4, abs=1e-6), key
    assert batched["generations"] == single["generations"]
    assert batched["perplexity"] == pytest.approx(single["perplexity"], rel=1e-4)


# -- end to end --------------------------------------------------------------------------------
ARGV = ["--agents", "random", "lm-greedy", "ppo", "--envs", "TextSentiment-v0"]
ARGV += ["--seeds", "0", "1", "--budget", "128", "--eval-every", "64", "--eval-episodes", "2"]
ARGV += ["--model", "tiny", "--max-new-tokens", "6", "--num-envs", "4"]
RUN_KEYS = {"agent", "env_id", "seed", "kind", "config", "versions", "wall_time_s", "evaluations"}
EVAL_KEYS = {"step", "episodes", "returns", "lengths", "metrics", "gen_tokens", "perplexities"}
EVAL_KEYS |= {"generations", "mean_metric", "mean_return", "mean_gen_tokens", "perplexity"}


def _metrics(out: Path) -> dict:
    return {
        str(p.relative_to(out)): json.loads(p.read_text())["evaluations"]
        for p in sorted(out.rglob("result.json"))
    }


def test_suite_end_to_end_resume_and_determinism(tmp_path, capsys):
    out = tmp_path / "a"
    results = suite.main(ARGV + ["--out", str(out)])
    assert len(results) == 6
    for agent in ("random", "lm-greedy", "ppo"):
        for seed in (0, 1):
            run_dir = out / agent / "TextSentiment-v0" / f"seed{seed}"
            result = json.loads((run_dir / "result.json").read_text())
            assert set(result) == RUN_KEYS
            assert result["config"]["agent"] == agent and result["config"]["seed"] == seed
            for lib in ("textgym", "torch", "transformers", "gymnasium", "stable_baselines3"):
                assert result["versions"][lib]
            evals = result["evaluations"]
            assert all(set(e) >= EVAL_KEYS for e in evals)
            assert all(len(e["returns"]) == 2 and e["gen_tokens"] == [6, 6] for e in evals)
            assert all(e["perplexity"] > 1 for e in evals)
            if agent == "ppo":
                assert [e["step"] for e in evals] == [0, 64, 128]
                assert result["config"]["n_steps"] == 32  # 128 steps over 4 envs
            else:
                assert [e["step"] for e in evals] == [0]
            curve = list(csv.DictReader((run_dir / "curve.csv").open()))
            assert [int(r["step"]) for r in curve] == [e["step"] for e in evals]
    table = (out / "results.md").read_text()
    assert table.count("| TextSentiment-v0 |") == 3
    assert len(list(csv.DictReader((out / "results.csv").open()))) == 3
    assert (out / "curves_TextSentiment-v0.png").stat().st_size > 5000
    printed = capsys.readouterr().out
    assert "| env | agent |" in printed and "curves_TextSentiment-v0.png" in printed

    # Resume: the same command skips every run and rewrites no result.json.
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    suite.main(ARGV + ["--out", str(out)])
    assert {p: p.stat().st_mtime_ns for p in out.rglob("result.json")} == mtimes
    assert capsys.readouterr().out.count("skip ") == 6

    # A later command into the same directory: the summary covers both commands' runs.
    later = ["--agents", "random", "--envs", "TextSentiment-v0", "--seeds", "2"]
    later += ["--eval-episodes", "2", "--model", "tiny", "--max-new-tokens", "6"]
    suite.main(later + ["--out", str(out)])
    table = (out / "results.md").read_text()
    assert "| TextSentiment-v0 | random | 3 | — |" in table and "| ppo | 2 | 128 |" in table
    assert "(6 runs from earlier invocations included)" in capsys.readouterr().out

    # Same seeds and config in a fresh directory: identical metrics (CPU).
    again = tmp_path / "b"
    suite.main(ARGV + ["--out", str(again), "--agents", "lm-greedy", "ppo", "--seeds", "1"])
    fresh = _metrics(again)
    assert len(fresh) == 2
    assert fresh == {k: v for k, v in _metrics(out).items() if k in fresh}


def test_changed_config_reruns(tmp_path, capsys):
    out = tmp_path / "c"
    argv = ["--agents", "random", "--envs", "TextSentiment-v0", "--seeds", "0"]
    argv += ["--eval-episodes", "1", "--model", "tiny", "--max-new-tokens", "3", "--out", str(out)]
    suite.main(argv)
    suite.main(argv[:-3] + ["4", "--out", str(out)])  # max_new_tokens 3 -> 4
    assert "re-run random / TextSentiment-v0 / seed 0" in capsys.readouterr().out
    result = json.loads((out / "random/TextSentiment-v0/seed0/result.json").read_text())
    assert result["evaluations"][0]["gen_tokens"] == [4]


def test_set_overrides_sb3_fields_and_records_them(tmp_path):
    argv = ["--agents", "ppo", "--envs", "TextSentiment-v0", "--seeds", "0", "--budget", "32"]
    argv += ["--eval-every", "32", "--eval-episodes", "1", "--model", "tiny", "--num-envs", "2"]
    argv += ["--max-new-tokens", "3", "--out", str(tmp_path)]
    suite.main(argv + ["--set", "learning_rate=0.05", "gamma=0.9", "scorer_hidden=4"])
    config = json.loads((tmp_path / "ppo/TextSentiment-v0/seed0/result.json").read_text())["config"]
    assert (config["learning_rate"], config["gamma"], config["scorer_hidden"]) == (0.05, 0.9, 4)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("learning_rat=1", "no field 'learning_rat': use one of"),
        ("gamma=high", "gamma='high': expected a float"),
        ("gamma", "is not name=value"),
    ],
)
def test_bad_set_fails_before_any_run(tmp_path, capsys, override, message):
    argv = ["--agents", "random", "ppo", "--envs", "TextSentiment-v0", "--model", "tiny"]
    with pytest.raises(SystemExit):
        suite.main(argv + ["--out", str(tmp_path), "--set", override])
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("result.json"))
