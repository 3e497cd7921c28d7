"""The SB3 agent scripts end to end on the tiny model: train, save, evaluate, --help.

The runs start together (one process each, one torch thread) so that the module takes
about as long as its three slowest runs on a 2-core machine.
"""

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from stable_baselines3 import DQN, PPO

from baselines import sb3_a2c, sb3_dqn, sb3_maskable_ppo, sb3_ppo
from baselines.cli import field_docstrings

ROOT = Path(__file__).resolve().parents[2]
# kl_coef > 0: every token's reward depends on the action, so returns tell policies apart
# (the tiny model's generations all score 0 on the task metric).
COMMON = "--model tiny --num-envs 4 --max-new-tokens 4 --eval-episodes 3 --torch-threads 1"
COMMON += " --verbose 0 --kl-coef 0.1 --total-timesteps 64"
AGENTS = {
    "ppo": (sb3_ppo, "--n-steps 16 --batch-size 32"),
    "a2c": (sb3_a2c, "--n-steps 4"),
    "dqn": (sb3_dqn, "--learning-starts 16 --batch-size 16 --train-freq 1"),
    "maskable_ppo": (sb3_maskable_ppo, "--n-steps 16 --batch-size 32 --topk-temperature 0.05"),
}
CONFIGS = {
    "ppo": sb3_ppo.PPOConfig,
    "a2c": sb3_a2c.A2CConfig,
    "dqn": sb3_dqn.DQNConfig,
    "maskable_ppo": sb3_maskable_ppo.MaskablePPOConfig,
}
# The determinism check repeats this run: DQN draws the most randomness (exploration, replay).
REPEATED = ("dqn",)
SCHEMA = {
    "env_id": str,
    "split": str,
    "episodes": int,
    "seed": int,
    "mean_return": float,
    "std_return": float,
    "mean_length": float,
    "mean_metric": float,
    "returns": list,
    "metrics": list,
    "lengths": list,
    # Shared with the reference agents (baselines.reference.run_evaluation):
    "std_metric": float,
    "mean_gen_tokens": float,
    "std_gen_tokens": float,
    "gen_tokens": list,
    "perplexity": float,
    "perplexities": list,
    "generations": list,
    "nll_sum": float,
    "scored_tokens": int,
}


def _command(name, out_dir):
    module, extra = AGENTS[name]
    args = f"{COMMON} {extra} --out-dir {out_dir}".split()
    return [sys.executable, "-m", module.__name__, *args]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each agent trained once (and the REPEATED one twice), in parallel: name -> out dir."""
    root = tmp_path_factory.mktemp("sb3")
    jobs = {name: root / name for name in AGENTS}
    jobs.update({f"{name}-again": root / f"{name}-again" for name in REPEATED})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    procs = {
        key: subprocess.Popen(
            _command(key.removesuffix("-again"), out),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key, out in jobs.items()
    }
    for key, proc in procs.items():
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{key} failed:\n{output}"
    return jobs


def _check_eval(result, episodes=3):
    assert set(result) == set(SCHEMA)
    for key, kind in SCHEMA.items():
        assert isinstance(result[key], kind), (key, result[key])
    assert result["env_id"] == "TextSentiment-v0" and result["split"] == "test"
    assert result["episodes"] == episodes
    assert len(result["returns"]) == len(result["metrics"]) == len(result["lengths"]) == episodes
    numbers = [result[k] for k in ("mean_return", "std_return", "mean_length", "mean_metric")]
    assert all(math.isfinite(x) for x in numbers + result["returns"] + result["metrics"])
    assert all(1 <= n <= 4 for n in result["lengths"])
    # Each of up to 4 tokens costs 0.1 * -log p_ref > 0; VADER is in [-1, 1].
    assert all(-1 - 0.1 * 4 * 20 < r < 1 for r in result["returns"])
    assert result["mean_return"] < 0


@pytest.mark.parametrize("name", list(AGENTS))
def test_agent_trains_saves_and_evaluates(runs, name):
    out = runs[name]
    assert (out / "model.zip").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "tiny" and config["total_timesteps"] == 64
    assert config["out_dir"] == str(out)
    _check_eval(json.loads((out / "eval.json").read_text()))


@pytest.mark.parametrize("name", list(AGENTS))
def test_help_lists_every_field_with_its_docstring(name, capsys):
    module = AGENTS[name][0]
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    config_cls = CONFIGS[name]
    docs = field_docstrings(config_cls)
    for field in dataclasses.fields(config_cls):
        assert f"--{field.name.replace('_', '-')}" in text
        assert docs.get(field.name), f"{field.name} has no docstring"
        assert " ".join(docs[field.name].split()) in text, field.name


def test_evaluate_entry_point_on_a_saved_model(runs, tmp_path):
    # A copy, so the module's other tests keep their eval.json.
    run = tmp_path / "maskable_ppo"
    run.mkdir()
    for name in ("model.zip", "config.json"):
        (run / name).write_bytes((runs["maskable_ppo"] / name).read_bytes())
    args = ["--evaluate", str(run), "--eval-episodes", "2", "--torch-threads", "1"]
    result = sb3_maskable_ppo.main(args)
    _check_eval(result, episodes=2)
    assert json.loads((run / "eval.json").read_text()) == result
    # The same model and env as the run's own evaluation: its first episodes agree.
    trained = json.loads((runs["maskable_ppo"] / "eval.json").read_text())
    assert result["returns"] == pytest.approx(trained["returns"][:2], abs=1e-6)


@pytest.mark.parametrize("name", REPEATED)
def test_same_seed_and_config_give_identical_runs(runs, name):
    first = json.loads((runs[name] / "eval.json").read_text())
    again = json.loads((runs[f"{name}-again"] / "eval.json").read_text())
    assert first == again
    # The trained weights too, not only the evaluation they lead to.
    algo_cls = {"ppo": PPO, "dqn": DQN}[name]
    a = algo_cls.load(runs[name] / "model.zip").policy.state_dict()
    b = algo_cls.load(runs[f"{name}-again"] / "model.zip").policy.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


class _Payload:
    """Unpickling this object writes a file: what a crafted model.zip could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path(self.path).write_text, ("pwned",))


def test_evaluate_never_unpickles_a_saved_model(runs, tmp_path):
    import base64
    import zipfile

    import cloudpickle

    run, marker = tmp_path / "crafted", tmp_path / "ran"
    run.mkdir()
    (run / "config.json").write_bytes((runs["ppo"] / "config.json").read_bytes())
    with zipfile.ZipFile(runs["ppo"] / "model.zip") as src:
        entries = {name: src.read(name) for name in src.namelist()}
    data = json.loads(entries["data"])
    payload = base64.b64encode(cloudpickle.dumps(_Payload(marker))).decode()
    for value in data.values():  # every pickled class parameter runs the payload
        if isinstance(value, dict) and ":serialized:" in value:
            value[":serialized:"] = payload
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(run / "model.zip", "w") as dst:
        for name, content in entries.items():
            dst.writestr(name, content)
    with pytest.raises(Exception):  # noqa: B017, PT011  the proof that the file is armed
        PPO.load(run / "model.zip")
    assert marker.read_text() == "pwned"
    marker.unlink()
    result = sb3_ppo.main(["--evaluate", str(run), "--eval-episodes", "2", "--torch-threads", "1"])
    _check_eval(result, episodes=2)
    assert not marker.exists()
