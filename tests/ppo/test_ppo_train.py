"""The PPO trainer end to end on the tiny model: learning, the critic-free variants,
multi-turn episodes, logs, evaluation, checkpoints and a killed-and-resumed run."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from gymnasium.vector import AutoresetMode

from baselines.ppo.config import PPOConfig
from baselines.ppo.logs import EVAL_KEYS, TRAIN_KEYS, read_csv
from baselines.ppo.train import CHECKPOINT, Trainer
from textgym.envs.sentiment import TextSentimentEnv
from textgym.vector import TextVectorEnv

ROOT = Path(__file__).resolve().parents[2]


class LowIdEnv(TextSentimentEnv):
    """A trivial reward: the fraction of the turn's tokens whose id is in the lower half of
    the vocabulary (about 0.5 for the tiny model's near-uniform samples; 1 is reachable,
    e.g. by ending the turn at once with the end-of-text token, id 0)."""

    def _score_turn(self, text: str) -> dict[str, float]:
        ids = self.turn.tokens
        low = sum(t < self.lm.vocab_size // 2 for t in ids)
        return {"reward": low / max(len(ids), 1)}


def tiny_config(tmp_path: Path, **kwargs) -> PPOConfig:
    defaults = dict(
        model="tiny",
        batch_size=8,
        minibatch_size=4,
        update_epochs=2,
        max_new_tokens=6,
        total_iterations=2,
        learning_rate=1e-3,
        eval_episodes=4,
        out_dir=str(tmp_path / "run"),
        tensorboard=False,
        progress=False,
    )
    return PPOConfig(**{**defaults, **kwargs})


def test_a_tiny_model_learns_a_trivial_reward(tmp_path):
    B = 16
    envs = TextVectorEnv(
        num_envs=B,
        env_cls=LowIdEnv,
        model="tiny",
        action_mode="utterance",
        max_new_tokens=8,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    config = tiny_config(
        tmp_path,
        batch_size=B,
        minibatch_size=8,
        update_epochs=4,
        learning_rate=1e-2,
        anneal_lr=False,
        kl_coef=0.0,
        adaptive_kl=False,
        total_iterations=28,
    )
    trainer = Trainer(config, envs=envs)
    returns = [trainer.iterate()["charts/episodic_return"] for _ in range(28)]
    first, last = sum(returns[:4]) / 4, sum(returns[-4:]) / 4
    assert first < 0.6
    assert last > 0.85, returns


def test_kl_is_zero_at_the_first_iteration(tmp_path):
    # The policy's log-probs come from KV-cached generation and the reference's from one
    # full forward: the same weights, so they differ only by float32 rounding (the exact
    # zero of the KL arithmetic itself is tested in test_ppo_policy.py).
    trainer = Trainer(tiny_config(tmp_path))
    stats = trainer.iterate()
    assert abs(stats["objective/kl"]) < 1e-5
    assert abs(stats["objective/non_score_reward"]) < 1e-6
    # The update moved the policy, so the second iteration's KL is no longer 0.
    assert abs(trainer.iterate()["objective/kl"]) > 1e-3


@pytest.mark.parametrize("algo", ["reinforce", "rloo", "grpo"])
def test_critic_free_variants_train(tmp_path, algo):
    trainer = Trainer(tiny_config(tmp_path, algo=algo, group_size=4))
    before = trainer.policy.lm.get_input_embeddings().weight.detach().clone()
    stats = trainer.iterate()
    after = trainer.policy.lm.get_input_embeddings().weight
    assert not torch.equal(before, after)
    assert set(stats) <= set(TRAIN_KEYS)
    assert stats["losses/value_loss"] != stats["losses/value_loss"]  # NaN: no critic


def test_gradient_checkpointing_gives_the_same_update(tmp_path):
    plain = Trainer(tiny_config(tmp_path / "a"))
    checkpointed = Trainer(tiny_config(tmp_path / "b", gradient_checkpointing=True))
    a, b = plain.iterate(), checkpointed.iterate()
    assert a["losses/policy_loss"] == pytest.approx(b["losses/policy_loss"], abs=1e-6)
    for (name, p), (_, q) in zip(
        plain.policy.named_parameters(), checkpointed.policy.named_parameters(), strict=True
    ):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0, msg=name)


def test_group_members_share_their_prompt(tmp_path):
    trainer = Trainer(tiny_config(tmp_path, algo="grpo", group_size=4))
    seeds = trainer.episode_seeds(3)
    assert seeds[:4] == [seeds[0]] * 4 and seeds[4:] == [seeds[4]] * 4 != seeds[:4]
    obs, infos = trainer.envs.reset(seed=seeds)
    prompts = [tuple(row) for row in obs["input_ids"]]
    assert prompts[0] == prompts[1] == prompts[2] == prompts[3]
    assert prompts[4] == prompts[7]


def test_ppo_seeds_are_distinct_and_change_with_the_iteration(tmp_path):
    trainer = Trainer(tiny_config(tmp_path))
    assert len(set(trainer.episode_seeds(0))) == 8
    assert not set(trainer.episode_seeds(0)) & set(trainer.episode_seeds(1))


def test_multi_turn_dialogue_bootstraps_from_the_next_turn(tmp_path):
    config = tiny_config(
        tmp_path, env_id="TextDialogue-v0", batch_size=4, num_turns=2, max_new_tokens=4
    )
    trainer = Trainer(config)
    obs, _ = trainer.envs.reset(seed=trainer.episode_seeds(0))
    turns = trainer.play(trainer.envs, obs, trainer.sample_rng)
    assert len(turns) == 2
    first = turns[0]
    assert not bool((first.terminated | first.truncated).any())
    torch.nn.init.normal_(trainer.policy.value_head.weight, std=0.5)  # real values
    batch, stats = trainer.build_batch(trainer.play(trainer.envs, obs, trainer.sample_rng))
    assert len(batch) == 8  # 4 episodes x 2 turns
    assert stats["charts/response_tokens"] <= 4


def test_length_grouped_update_trains_on_dialogue_turns(tmp_path):
    """Second turns carry the first turn's history: grouping by length keeps them apart."""
    config = tiny_config(tmp_path, env_id="TextDialogue-v0", batch_size=4, num_turns=2,
                         max_new_tokens=4, group_by_length=True, eval_episodes=0)  # fmt: skip
    trainer = Trainer(config)
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    stats = trainer.iterate()
    assert all(math.isfinite(stats[k]) for k in ("losses/policy_loss", "losses/grad_norm"))
    after = trainer.policy.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_missing_eos_penalty_lowers_the_turn_reward(tmp_path):
    plain = Trainer(tiny_config(tmp_path / "a", kl_coef=0.0, whiten_advantages=False))
    penalised = Trainer(
        tiny_config(tmp_path / "b", kl_coef=0.0, whiten_advantages=False, missing_eos_penalty=0.5)
    )
    obs, _ = plain.envs.reset(seed=0)
    turns = plain.play(plain.envs, obs, torch.Generator().manual_seed(0))
    rollout = turns[0]
    assert not bool(rollout.ended_with_eos.any())  # the tiny model never stops in 6 tokens
    a, _ = plain.build_batch(turns)
    b, _ = penalised.build_batch(turns)
    # With V = 0, gamma = 1 and lambda < 1 the first token's advantage still carries the
    # terminal reward, discounted by lambda^(T-1).
    lam = plain.config.lam
    shift = 0.5 * lam ** (rollout.response_mask.shape[1] - 1)
    torch.testing.assert_close(a.advantages[:, 0] - b.advantages[:, 0], torch.full((8,), shift))


def test_train_writes_stable_logs_eval_checkpoint_and_model(tmp_path):
    config = tiny_config(tmp_path, eval_every=1, total_iterations=2, tensorboard=True)
    summary = Trainer(config).train()
    out = Path(config.out_dir)
    assert list((out / "tb").glob("events.out.tfevents.*"))  # tensorboard is a dev extra
    with open(out / "metrics.csv") as f:
        assert next(csv.reader(f)) == list(TRAIN_KEYS)
    with open(out / "eval.csv") as f:
        assert next(csv.reader(f)) == list(EVAL_KEYS)
    rows = read_csv(out / "metrics.csv")
    assert [r["iteration"] for r in rows] == [1, 2]
    assert [r["iteration"] for r in read_csv(out / "eval.csv")] == [0, 1, 2]
    assert all(r["time/iteration"] > 0 and r["charts/tokens_per_sec"] > 0 for r in rows)
    assert (out / CHECKPOINT).exists() and (out / "model" / "config.json").exists()
    assert summary["final_eval"]["iteration"] == 2
    assert len(summary["final_eval"]["returns"]) == config.eval_episodes
    assert json.loads((out / "config.json").read_text())["algo"] == "ppo"
    # The same evaluation twice gives the same numbers (fixed seeds and sampling).
    trainer = Trainer(config)
    assert trainer.evaluate()["returns"] == trainer.evaluate()["returns"]


def test_an_existing_run_needs_resume_and_the_same_config(tmp_path):
    config = tiny_config(tmp_path, total_iterations=1, eval_episodes=0)
    Trainer(config).train()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(config).train()
    changed = tiny_config(tmp_path, total_iterations=1, eval_episodes=0, learning_rate=2e-3)
    changed.resume = True
    with pytest.raises(ValueError, match="learning_rate: 0.001 -> 0.002"):
        Trainer(changed).train()
    longer = tiny_config(tmp_path, total_iterations=2, eval_episodes=0, resume=True)
    with pytest.raises(ValueError, match="total_iterations: 1 -> 2"):  # annealed lr
        Trainer(longer).train()


def test_a_constant_learning_rate_run_can_be_extended(tmp_path):
    config = tiny_config(tmp_path, total_iterations=1, eval_episodes=0, anneal_lr=False)
    Trainer(config).train()
    # As if written before PPOConfig had this field: resuming takes its default.
    path = Path(config.out_dir) / CHECKPOINT
    state = torch.load(path, weights_only=False)
    del state["config"]["gradient_checkpointing"]
    torch.save(state, path)
    longer = tiny_config(
        tmp_path, total_iterations=2, eval_episodes=0, anneal_lr=False, resume=True
    )
    assert Trainer(longer).train()["iterations"] == 2
    assert [r["iteration"] for r in read_csv(Path(config.out_dir) / "metrics.csv")] == [1, 2]


def _cli(out_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "baselines.ppo",
        "--env",
        "TextSentiment-v0",
        "--model",
        "tiny",
        "--batch-size",
        "4",
        "--minibatch-size",
        "2",
        "--max-new-tokens",
        "8",
        "--total-iterations",
        "6",
        "--checkpoint-every",
        "1",
        "--eval-episodes",
        "0",
        "--torch-threads",
        "1",
        "--learning-rate",
        "1e-3",
        "--no-tensorboard",
        "--no-progress",
        "--out-dir",
        str(out_dir),
        *extra,
    ]


def test_a_killed_run_resumes_to_the_same_state_as_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_cli(whole), check=True, cwd=ROOT, env=env, capture_output=True)

    proc = subprocess.Popen(
        _cli(killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (killed / "metrics.csv").exists() and len(read_csv(killed / "metrics.csv")) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it was killed"
    stopped_at = torch.load(killed / CHECKPOINT, weights_only=False)["iteration"]
    assert 1 <= stopped_at < 6

    subprocess.run(_cli(killed, "--resume"), check=True, cwd=ROOT, env=env, capture_output=True)
    a = torch.load(whole / CHECKPOINT, weights_only=False)
    b = torch.load(killed / CHECKPOINT, weights_only=False)
    assert a["iteration"] == b["iteration"] == 6
    for name, tensor in a["policy"].items():
        assert torch.equal(tensor, b["policy"][name]), name
    assert a["kl_coef"] == b["kl_coef"]
    assert torch.equal(a["sample_rng"], b["sample_rng"])
    rows_a, rows_b = read_csv(whole / "metrics.csv"), read_csv(killed / "metrics.csv")
    assert [r["iteration"] for r in rows_b] == list(range(1, 7))
    for key in ("charts/episodic_return", "objective/kl", "losses/policy_loss"):
        assert [r[key] for r in rows_a] == [r[key] for r in rows_b], key


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_gpu_with_the_static_cache_generator(tmp_path):
    from baselines.ppo.fastgen import StaticGenerator

    trainer = Trainer(tiny_config(tmp_path, device="cuda"))
    stats = trainer.iterate()
    assert isinstance(trainer.sampler(trainer.envs), StaticGenerator)
    assert abs(stats["objective/kl"]) < 1e-2  # bf16 sampling copy against the fp32 reference
    assert trainer.iterate()["charts/tokens_per_sec"] > 0
