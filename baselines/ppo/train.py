"""The token-level PPO trainer (and its critic-free variants): iterations of rollout,
batch and update, with logs, evaluation and resumable checkpoints.

One iteration (:meth:`Trainer.iterate`) enters each stage's module once:

1. **rollout** (:mod:`baselines.ppo.rollout`): reset the ``batch_size`` sub-environments
   with seeds derived from (seed, iteration), then play whole episodes, one agent turn per
   step of the vector env, until every episode has ended; a multi-turn episode (dialogue)
   gives one record per turn. Deriving the seeds from the iteration makes every iteration
   independent of the environments' state, so a checkpoint needs no environment state and a
   resumed run sees the same data. For ``rloo`` and ``grpo`` the sub-environments come in
   groups of ``group_size`` that are reset with the same seed, so each group holds k samples
   of one prompt;
2. **batch** (:mod:`baselines.ppo.scoring`): the frozen reference's log-probs, per-token
   rewards (KL penalty, the turn's reward on its last token) and the algorithm's advantages
   (:mod:`baselines.ppo.advantages`: GAE with the value head for ``ppo``, one advantage per
   episode for ``reinforce``/``rloo``/``grpo``), stacked into one
   :class:`~baselines.ppo.experience.Experience`;
3. **update** (:mod:`baselines.ppo.update`): ``update_epochs`` passes of shuffled
   minibatches, clipped policy loss (plus the clipped value loss with a critic),
   gradient-norm clipping, AdamW; then the KL controller sees the iteration's mean KL.

The algorithm (:func:`~baselines.ppo.advantages.make_algorithm`) and the sampler
(:func:`~baselines.ppo.rollout.make_sampler`: the plain KV-cache loop, or on CUDA the
static-cache CUDA-graph generator) are chosen once, when the trainer is built.
"""

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

import textgym  # noqa: F401  (registers the environment ids)
from baselines.ppo import checkpoint, core
from baselines.ppo.advantages import make_algorithm
from baselines.ppo.checkpoint import CHECKPOINT
from baselines.ppo.config import PPOConfig
from baselines.ppo.experience import Experience
from baselines.ppo.logs import MetricsLog
from baselines.ppo.policy import PolicyWithValue
from baselines.ppo.rollout import Observation, Sampler, make_sampler, play
from baselines.ppo.scoring import Scorer, batch_stats
from baselines.ppo.update import (
    UpdateStep,
    load_optimizer_state,
    make_optimizer,
    set_lr,
    train_epochs,
)
from textgym.vector import TextVectorEnv

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["CHECKPOINT", "Trainer", "make_envs", "resolve_device"]

SEED_STRIDE = 1_000_003
EVAL_SEED = 7_777_777


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_envs(config: PPOConfig, num_envs: int, split: str = "train") -> TextVectorEnv:
    """The textgym vector env a run collects from: ``utterance`` actions, ``tokens``
    observations, SAME_STEP autoreset, one LM shared by all sub-environments."""
    kwargs: dict[str, Any] = dict(
        model=config.model,
        action_mode="utterance",
        autoreset_mode=AutoresetMode.SAME_STEP,
        split=split,
        device=str(resolve_device(config.device)),
        dtype=config.dtype,
    )
    if config.max_new_tokens is not None:
        kwargs["max_new_tokens"] = config.max_new_tokens
    if config.num_turns is not None:
        kwargs["num_turns"] = config.num_turns
    envs = gym.make_vec(
        config.env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )
    if not isinstance(envs, TextVectorEnv):
        raise TypeError(f"{config.env_id} is not a textgym environment (got {type(envs)})")
    return envs


class Trainer:
    """Trains ``PolicyWithValue.from_lm(envs.lm)`` on ``envs`` (built from ``config``
    unless given) with ``config.algo``. :meth:`train` runs the whole loop."""

    def __init__(
        self,
        config: PPOConfig,
        envs: TextVectorEnv | None = None,
        eval_envs: TextVectorEnv | None = None,
    ) -> None:
        self.config = c = config
        if c.torch_threads:
            torch.set_num_threads(c.torch_threads)
        self.device = resolve_device(c.device)
        self.envs = envs if envs is not None else make_envs(c, c.batch_size)
        if self.envs.num_envs != c.batch_size:
            raise ValueError(
                f"the vector env has {self.envs.num_envs} sub-environments but batch_size="
                f"{c.batch_size}: one sub-environment per sequence is needed"
            )
        self.lm = self.envs.lm
        self.reference: PreTrainedModel = self.lm.model.eval().requires_grad_(False)
        self.algorithm = make_algorithm(c)
        torch.manual_seed(c.seed)
        self.policy = PolicyWithValue.from_lm(self.lm).float().to(self.device)
        if c.gradient_checkpointing:
            lm = self.policy.lm  # transformers 5 renamed it; 4.x has only the old name
            enable = getattr(lm, "activation_checkpointing_enable", None)
            (enable or lm.gradient_checkpointing_enable)()
        # Activation checkpointing saves and restores the RNG state in the forward, which a
        # CUDA-graph capture does not allow: the auto setting leaves graphs off with it.
        auto = self.device.type == "cuda" and not c.gradient_checkpointing
        graphs = auto if c.cuda_graph_update is None else c.cuda_graph_update
        if graphs and c.gradient_checkpointing:
            raise ValueError(
                "cuda_graph_update=True cannot be combined with gradient_checkpointing=True "
                "(checkpointing reads the RNG state, which a CUDA-graph capture forbids): "
                "set one of them to False"
            )
        self.optimizer = make_optimizer(self.policy, c, graphs)
        self.update_step = UpdateStep(
            self.policy,
            self.optimizer,
            c,
            graphs,
            c.compile_update,
            critic=self.algorithm.uses_critic,
        )
        self.kl = (
            core.AdaptiveKLController(c.kl_coef, c.target_kl, c.kl_horizon)
            if c.adaptive_kl
            else core.FixedKLController(c.kl_coef)
        )
        self.scorer = Scorer(
            self.reference, self.policy, self.algorithm, self.lm.pad_id, c.missing_eos_penalty
        )
        self._samplers: dict[int, Sampler] = {}  # one per batch shape: train and eval envs
        self._add_sampler(self.envs)
        self._eval_envs = eval_envs
        if eval_envs is not None:
            self._add_sampler(eval_envs)
        self.sample_rng = torch.Generator(self.device).manual_seed(c.seed)
        self.shuffle_rng = torch.Generator().manual_seed(c.seed)
        self.iteration = 0
        self.episodes = 0
        assert c.out_dir is not None  # PPOConfig.__post_init__ fills in the default
        self.out_dir = Path(c.out_dir)

    def _add_sampler(self, envs: TextVectorEnv) -> None:
        if envs.num_envs not in self._samplers:
            self._samplers[envs.num_envs] = make_sampler(
                self.policy, envs, self.config.compile_generate
            )

    # -- rollout -----------------------------------------------------------------------------
    def episode_seeds(self, iteration: int) -> list[int]:
        """The reset seed of each sub-environment at ``iteration``: distinct, except that
        the members of a group (rloo, grpo) share one, so they see the same prompt."""
        c, k = self.config, self.algorithm.group_size
        base = c.seed * SEED_STRIDE + iteration * c.batch_size
        return [base + i // k for i in range(c.batch_size)]

    def sampler(self, envs: TextVectorEnv) -> Sampler:
        """The sampler for ``envs``' batch shape: built once per shape (the train and eval
        envs' at construction, any other on its first use) by ``make_sampler``."""
        self._add_sampler(envs)
        return self._samplers[envs.num_envs]

    def play(
        self,
        envs: TextVectorEnv,
        obs: Observation,
        generator: torch.Generator,
        timings: dict[str, float] | None = None,
    ) -> list[Experience]:
        """Play the episodes that ``obs`` starts until every one has ended: one record per
        turn (:func:`baselines.ppo.rollout.play`)."""
        return play(envs, self.policy, obs, generator, self.sampler(envs), timings)

    # -- batch -------------------------------------------------------------------------------
    def build_batch(self, turns: list[Experience]) -> tuple[Experience, dict[str, float]]:
        """The scored batch of ``turns`` (:class:`baselines.ppo.scoring.Scorer`) at the
        current KL coefficient, and its statistics."""
        batch = self.scorer(turns, self.kl.value)
        return batch, batch_stats(batch, self.kl.value, self.algorithm.uses_critic)

    # -- update ------------------------------------------------------------------------------
    def update(self, batch: Experience) -> dict[str, float]:
        """``update_epochs`` passes of shuffled minibatches over ``batch``."""
        return train_epochs(self.update_step, batch, self.shuffle_rng)

    def iterate(self) -> dict[str, float]:
        """One iteration (rollout, batch, update); returns its ``metrics.csv`` row."""
        c = self.config
        start = time.perf_counter()
        lr = c.learning_rate
        if c.anneal_lr:
            lr = c.learning_rate * (1.0 - self.iteration / c.total_iterations)
        set_lr(self.optimizer, lr)
        timings: dict[str, float] = {}
        obs, _ = self.envs.reset(seed=self.episode_seeds(self.iteration))
        turns = self.play(self.envs, obs, self.sample_rng, timings)
        scored_at = time.perf_counter()
        batch, stats = self.build_batch(turns)
        updated_at = time.perf_counter()
        stats.update(self.update(batch))
        done_at = time.perf_counter()
        self.kl.update(stats["objective/kl"], c.batch_size)
        self.iteration += 1
        self.episodes += c.batch_size
        seconds = done_at - start
        stats.update(
            {
                "iteration": self.iteration,
                "episodes": self.episodes,
                "charts/learning_rate": lr,
                "charts/tokens_per_sec": float(batch.response_mask.sum()) / seconds,
                "charts/episodes_per_sec": c.batch_size / seconds,
                "time/generate": timings.get("generate", 0.0),
                "time/env_step": timings.get("env_step", 0.0),
                "time/reference": updated_at - scored_at,
                "time/update": done_at - updated_at,
                "time/iteration": seconds,
            }
        )
        return stats

    # -- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, episodes: int | None = None) -> dict[str, float | list[float]]:
        """The policy, sampling at temperature 1, on held-out (``split="test"``) episodes:
        episode i plays example ``i % n_examples`` with a fixed seed, and the sampling
        generator restarts from the same seed, so evaluations differ only by the policy.
        Returns the ``eval.csv`` row and the episodes' ``returns``."""
        c = self.config
        episodes = c.eval_episodes if episodes is None else episodes
        if self._eval_envs is None:
            self._eval_envs = make_envs(c, min(episodes, c.batch_size), split="test")
            self._add_sampler(self._eval_envs)
        envs = self._eval_envs
        n, n_examples = envs.num_envs, len(envs.envs[0].examples)
        generator = torch.Generator(self.device).manual_seed(c.seed + EVAL_SEED)
        returns: list[float] = []
        tokens, eos, turns_played = 0.0, 0.0, 0.0
        for first in range(0, episodes, n):
            ids = list(range(first, first + n))
            obs, _ = envs.reset(
                seed=[EVAL_SEED + e for e in ids],
                options={"example_index": [e % n_examples for e in ids]},
            )
            total = torch.zeros(n)
            for turn in self.play(envs, obs, generator):
                assert turn.live is not None and turn.env_rewards is not None  # set by play
                assert turn.ended_with_eos is not None
                active = turn.live & (torch.arange(n) < episodes - first)
                total += turn.env_rewards.cpu() * active
                tokens += float((turn.response_mask.sum(-1).cpu() * active).sum())
                eos += float((turn.ended_with_eos.cpu() & active).sum())
                turns_played += float(active.sum())
            returns += total[: episodes - first].tolist()
        return {
            "iteration": self.iteration,
            "eval/mean_return": float(np.mean(returns)),
            "eval/std_return": float(np.std(returns)),
            "eval/response_tokens": tokens / turns_played,
            "eval/eos_fraction": eos / turns_played,
            "returns": returns,
        }

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (:mod:`baselines.ppo.checkpoint`)."""
        return {
            "config": dataclasses.asdict(self.config),
            "iteration": self.iteration,
            "episodes": self.episodes,
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "kl_coef": self.kl.value,
            "sample_rng": self.sample_rng.get_state(),
            "shuffle_rng": self.shuffle_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def save_checkpoint(self) -> Path:
        """Write ``<out_dir>/checkpoint.pt`` (atomically)."""
        return checkpoint.save(self.state_dict(), self.out_dir / CHECKPOINT)

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from the checkpoint at ``path``, which a run with this config wrote."""
        state = checkpoint.load(path, self.config)
        self.policy.load_state_dict(state["policy"])
        load_optimizer_state(self.optimizer, state["optimizer"], self.update_step.cuda_graph)
        self.update_step.reset()
        self.kl.value = float(state["kl_coef"])
        self.sample_rng.set_state(state["sample_rng"])
        self.shuffle_rng.set_state(state["shuffle_rng"])
        torch.set_rng_state(state["torch_rng"])
        self.iteration, self.episodes = int(state["iteration"]), int(state["episodes"])

    def save_model(self) -> Path:
        """The trained policy as a model directory (``from_pretrained``-loadable, so
        ``gym.make(env_id, model=<dir>)`` uses it) plus ``value_head.pt``."""
        target = self.out_dir / "model"
        self.policy.lm.save_pretrained(target)
        self.lm.tokenizer.save_pretrained(target)
        torch.save(self.policy.value_head.state_dict(), target / "value_head.pt")
        return target

    # -- the loop ----------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Run (or resume) the configured number of iterations; returns the summary that
        is also written to ``<out_dir>/summary.json``."""
        from tqdm.auto import tqdm

        c = self.config
        path = self.out_dir / CHECKPOINT
        resume_after = None
        if path.exists():
            if not c.resume:
                raise FileExistsError(
                    f"{self.out_dir} already holds a run ({path}): pass --resume to "
                    "continue it, or choose another --out-dir"
                )
            self.load_checkpoint(path)
            resume_after = self.iteration
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.json").write_text(
            json.dumps(dataclasses.asdict(c), indent=2) + "\n"
        )
        log = MetricsLog(self.out_dir, c.tensorboard, resume_after)
        wall = time.perf_counter()
        evaluations = []

        def run_eval() -> None:
            result = self.evaluate()
            evaluations.append(result)
            log.log("eval", {k: v for k, v in result.items() if k != "returns"})

        if c.eval_every and c.eval_episodes and self.iteration == 0:
            run_eval()
        bar = tqdm(
            total=c.total_iterations,
            initial=self.iteration,
            desc=f"{c.algo} {c.env_id}",
            disable=not c.progress,
        )
        stats: dict[str, float] = {}
        while self.iteration < c.total_iterations:
            stats = self.iterate()
            log.log("metrics", stats)
            bar.update(1)
            bar.set_postfix(
                ret=f"{stats['charts/episodic_return']:.3f}", kl=f"{stats['objective/kl']:.2f}"
            )
            last = self.iteration == c.total_iterations
            if (
                c.eval_every
                and c.eval_episodes
                and self.iteration % c.eval_every == 0
                or last
                and c.eval_episodes
            ):
                run_eval()
            if self.iteration % c.checkpoint_every == 0 or last:
                self.save_checkpoint()
        bar.close()
        log.close()
        model_dir = self.save_model()
        summary = {
            "env_id": c.env_id,
            "algo": c.algo,
            "seed": c.seed,
            "iterations": self.iteration,
            "episodes": self.episodes,
            "wall_seconds_this_session": time.perf_counter() - wall,
            "last_train": stats,
            "final_eval": evaluations[-1] if evaluations else None,
            "model_dir": str(model_dir),
        }
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary
