"""The token-level PPO trainer (and its critic-free variants): iterations of rollout,
scoring and update, with logs, evaluation and resumable checkpoints.

One iteration:

1. **rollout**: reset the ``batch_size`` sub-environments with seeds derived from (seed,
   iteration), then play whole episodes, one agent turn per step of the vector env
   (:func:`baselines.ppo.rollout.collect`), until every episode has ended; a
   multi-turn episode (dialogue) gives one sequence per turn. Deriving the seeds from the
   iteration makes every iteration independent of the environments' state, so a
   checkpoint needs no environment state and a resumed run sees the same data;
2. **scoring**: the frozen reference's log-probs, per-token rewards (KL penalty, the
   turn's reward on its last token, minus ``missing_eos_penalty`` for a turn cut by the
   budget), and the advantages: GAE over each turn's tokens for ``ppo`` (a non-final
   turn bootstraps from the value of the next turn's first state, a truncated episode
   from its final state's value, a terminated one from 0); one advantage per episode
   for ``reinforce``/``rloo``/``grpo``, from the episode's summed rewards, given to each
   of its tokens;
3. **update**: ``update_epochs`` passes of shuffled minibatches, clipped policy loss
   (plus the clipped value loss for ``ppo``), gradient-norm clipping, AdamW; then the
   KL controller sees the iteration's mean KL.

For ``rloo`` and ``grpo`` the sub-environments come in groups of ``group_size`` that are
reset with the same seed, so each group holds k samples of one prompt.
"""

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import Tensor

import textgym  # noqa: F401  (registers the environment ids)
from baselines.ppo import core
from baselines.ppo.batch import TrainBatch, epoch_minibatches, stack
from baselines.ppo.config import PPOConfig
from baselines.ppo.logs import MetricsLog
from baselines.ppo.policy import PolicyWithValue
from baselines.ppo.rollout import Rollout, collect, score
from baselines.ppo.update import UpdateStep, load_optimizer_state, make_optimizer, set_lr

SEED_STRIDE = 1_000_003
EVAL_SEED = 7_777_777
MAX_TURNS = 64
CHECKPOINT = "checkpoint.pt"
# Config fields that may change when a run is resumed: none of them changes the data or
# the updates.
RESUMABLE_CHANGES = frozenset(
    {
        "resume",
        "progress",
        "tensorboard",
        "checkpoint_every",
        "torch_threads",
        "eval_every",
        "gradient_checkpointing",
        "cuda_graph_update",
        "compile_update",
        "compile_generate",
    }
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_envs(config: PPOConfig, num_envs: int, split: str = "train") -> Any:
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
    return gym.make_vec(
        config.env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
    )


Turns = list[tuple[Rollout, Tensor]]
"""An episode batch: per turn, the rollout and the (B,) mask of rows whose episode was
still running when the turn began (the other rows' turns belong to new episodes that an
autoreset started, and are not used)."""


class Trainer:
    """Trains ``PolicyWithValue.from_lm(envs.lm)`` on ``envs`` (built from ``config``
    unless given) with ``config.algo``. :meth:`train` runs the whole loop."""

    def __init__(self, config: PPOConfig, envs: Any = None, eval_envs: Any = None) -> None:
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
        self._eval_envs = eval_envs
        self.lm = self.envs.lm
        self.reference = self.lm.model.eval().requires_grad_(False)
        torch.manual_seed(c.seed)
        self.policy = PolicyWithValue.from_lm(self.lm).float().to(self.device)
        if c.gradient_checkpointing:
            lm = self.policy.lm  # transformers 5 renamed it; 4.x has only the old name
            enable = getattr(lm, "activation_checkpointing_enable", None)
            (enable or lm.gradient_checkpointing_enable)()
        cuda = self.device.type == "cuda"
        # Activation checkpointing saves and restores the RNG state in the forward, which a
        # CUDA-graph capture does not allow: the auto setting leaves graphs off with it.
        auto = cuda and not c.gradient_checkpointing
        graphs = auto if c.cuda_graph_update is None else c.cuda_graph_update
        if graphs and c.gradient_checkpointing:
            raise ValueError(
                "cuda_graph_update=True cannot be combined with gradient_checkpointing=True "
                "(checkpointing reads the RNG state, which a CUDA-graph capture forbids): "
                "set one of them to False"
            )
        self.optimizer = make_optimizer(self.policy, c, graphs)
        self.update_step = UpdateStep(self.policy, self.optimizer, c, graphs, c.compile_update)
        self.kl = (
            core.AdaptiveKLController(c.kl_coef, c.target_kl, c.kl_horizon)
            if c.adaptive_kl
            else core.FixedKLController(c.kl_coef)
        )
        self.sample_rng = torch.Generator(self.device).manual_seed(c.seed)
        self.shuffle_rng = torch.Generator().manual_seed(c.seed)
        self.iteration = 0
        self.episodes = 0
        self.out_dir = Path(c.out_dir)
        self._fast_generators: dict[int, Any] = {}

    # -- rollout -----------------------------------------------------------------------------
    def episode_seeds(self, iteration: int) -> list[int]:
        """The reset seed of each sub-environment at ``iteration``: distinct, except that
        the members of a group (rloo, grpo) share one, so they see the same prompt."""
        c = self.config
        k = c.group_size if c.algo in ("rloo", "grpo") else 1
        base = c.seed * SEED_STRIDE + iteration * c.batch_size
        return [base + i // k for i in range(c.batch_size)]

    def play(
        self,
        envs: Any,
        obs: dict,
        generator: torch.Generator,
        timings: dict[str, float] | None = None,
    ) -> Turns:
        """Play the episodes that ``obs`` starts until every one has ended."""
        turns: Turns = []
        active = torch.ones(envs.num_envs, dtype=torch.bool)
        for _ in range(MAX_TURNS):
            rollout, obs = collect(
                envs, self.policy, obs, generator, timings=timings, generate_fn=self._fast(envs)
            )
            turns.append((rollout, active.clone()))
            active &= ~(rollout.terminated | rollout.truncated).cpu()
            if not bool(active.any()):
                return turns
        raise RuntimeError(f"episodes did not end within {MAX_TURNS} turns")

    def _fast(self, envs: Any) -> Any:
        """On CUDA, the static-cache CUDA-graph generator for ``envs``' batch shape (built
        and captured once, replayed every iteration; it samples from a bf16 copy of the
        policy, refreshed every call, as the update runs under bf16 autocast); on CPU
        None, the plain KV-cache loop of :func:`baselines.ppo.rollout.generate`."""
        if self.device.type != "cuda":
            return None
        if envs.num_envs not in self._fast_generators:
            from baselines.ppo.fastgen import StaticGenerator

            env = envs.envs[0]
            self._fast_generators[envs.num_envs] = StaticGenerator(
                self.policy,
                batch_size=envs.num_envs,
                max_prompt_len=env.max_obs_tokens,
                max_new_tokens=env.max_new_tokens,
                dtype=torch.bfloat16,
                compile=self.config.compile_generate,
            )
        return self._fast_generators[envs.num_envs]

    @torch.no_grad()
    def state_values(self, observations: list[dict]) -> Tensor:
        """(n,) V of ``tokens`` observations (a truncated episode's final state)."""
        ids = torch.as_tensor(np.stack([o["input_ids"] for o in observations]))
        mask = torch.as_tensor(np.stack([o["attention_mask"] for o in observations]))
        _, values = self.policy(ids.to(self.device), mask.to(self.device))
        return values[:, -1]

    # -- scoring -----------------------------------------------------------------------------
    def build_batch(self, turns: Turns) -> tuple[TrainBatch, dict[str, float]]:
        """Rewards, advantages and returns of every live turn, stacked; and the rollout's
        statistics."""
        c = self.config
        B, device = c.batch_size, self.device
        kl_coef = self.kl.value
        episode_return = torch.zeros(B, device=device)  # the environment's rewards
        episode_score = torch.zeros(B, device=device)  # what the critic-free methods rank
        episode_kl = torch.zeros(B, device=device)
        scored = []
        for t, (r, active) in enumerate(turns):
            live = active.to(device).float()
            turn_reward = r.env_rewards
            if c.missing_eos_penalty is not None:
                turn_reward = turn_reward - c.missing_eos_penalty * (~r.ended_with_eos).float()
            rewards, ref = score(r, self.reference, kl_coef, turn_reward)
            episode_return += r.env_rewards * live
            episode_score += rewards.sum(-1) * live
            episode_kl += ((r.logprobs - ref) * r.response_mask).sum(-1) * live
            if t + 1 < len(turns):
                next_value = turns[t + 1][0].values[:, 0].clone()
            else:
                next_value = torch.zeros(B, device=device)
            cut = (r.truncated.cpu() & active).nonzero().flatten().tolist()
            if cut and c.algo == "ppo":
                final = [r.infos["final_obs"][i] for i in cut]
                next_value[cut] = self.state_values(final)
            scored.append((r, active, rewards, next_value))

        if c.algo != "ppo":
            episode_adv = self._episode_advantages(episode_score)
        parts = []
        for r, active, rewards, next_value in scored:
            if c.algo == "ppo":
                adv, ret = core.gae(
                    rewards,
                    r.values,
                    r.terminated | r.truncated,
                    next_value,
                    c.gamma,
                    c.lam,
                    mask=r.response_mask,
                    truncated=r.truncated,
                )
            else:
                adv = core.sequence_to_tokens(episode_adv, r.response_mask)
                ret = torch.zeros_like(adv)
            rows = active.nonzero().flatten().to(device)
            parts.append(
                dict(
                    input_ids=r.input_ids[rows],
                    attention_mask=r.attention_mask[rows],
                    prompt_width=r.prompt_width,
                    response_mask=r.response_mask[rows],
                    logprobs=r.logprobs[rows],
                    values=r.values[rows],
                    advantages=adv[rows],
                    returns=ret[rows],
                )
            )
        batch = stack(parts, self.lm.pad_id)
        if c.whiten_advantages and c.algo in ("ppo", "reinforce"):
            batch.advantages = core.whiten(batch.advantages, batch.response_mask)

        live = [(r, a.to(device)) for r, a, _, _ in scored]
        n_turns = sum(float(a.sum()) for _, a in live)
        tokens = sum(float((r.response_mask.sum(-1) * a).sum()) for r, a in live)
        m = batch.response_mask.bool()
        stats = {
            "charts/episodic_return": float(episode_return.mean()),
            "charts/episodic_return_std": float(episode_return.std()) if B > 1 else 0.0,
            "charts/response_tokens": tokens / n_turns,
            "charts/eos_fraction": sum(float((r.ended_with_eos & a).sum()) for r, a in live)
            / n_turns,
            "objective/kl": float(episode_kl.mean()),
            "objective/kl_coef": kl_coef,
            "objective/entropy": float(-batch.logprobs[m].mean()),
            "objective/non_score_reward": float(-kl_coef * episode_kl.mean()),
            "losses/explained_variance": _explained_variance(batch)
            if c.algo == "ppo"
            else math.nan,
            "_tokens": tokens,
        }
        return batch, stats

    def _episode_advantages(self, scores: Tensor) -> Tensor:
        c = self.config
        if c.algo == "reinforce":
            return core.reinforce_advantages(scores)
        if c.algo == "rloo":
            return core.rloo_advantages(scores, c.group_size)
        return core.grpo_advantages(scores, c.group_size)

    # -- update ------------------------------------------------------------------------------
    def update(self, batch: TrainBatch) -> dict[str, float]:
        """``update_epochs`` passes of shuffled minibatches over ``batch``."""
        c = self.config
        # Summed on the device and read once at the end: a host read per step would make
        # the CPU wait for every step's kernels before launching the next step's.
        totals: dict[str, Tensor] = {}
        steps = 0
        self.policy.train()
        for _ in range(c.update_epochs):
            minibatches = epoch_minibatches(
                batch, c.minibatch_size, self.shuffle_rng, c.group_by_length
            )
            for rows in minibatches:
                for key, value in self.update_step(batch, rows).items():
                    value = value.detach().to(self.device, torch.float64)
                    totals[key] = totals[key] + value if key in totals else value
                steps += 1
        means = dict(
            zip(totals, (torch.stack(list(totals.values())) / steps).tolist(), strict=True)
        )
        if c.algo != "ppo":
            means["losses/value_loss"] = means["losses/vf_clipfrac"] = math.nan
        return means

    def iterate(self) -> dict[str, float]:
        """One iteration (rollout, scoring, update); returns its ``metrics.csv`` row."""
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
        tokens = stats.pop("_tokens")
        stats.update(
            {
                "iteration": self.iteration,
                "episodes": self.episodes,
                "charts/learning_rate": lr,
                "charts/tokens_per_sec": tokens / seconds,
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
    def evaluate(self, episodes: int | None = None) -> dict[str, Any]:
        """The policy, sampling at temperature 1, on held-out (``split="test"``) episodes:
        episode i plays example ``i % n_examples`` with a fixed seed, and the sampling
        generator restarts from the same seed, so evaluations differ only by the policy."""
        c = self.config
        episodes = c.eval_episodes if episodes is None else episodes
        if self._eval_envs is None:
            self._eval_envs = make_envs(c, min(episodes, c.batch_size), split="test")
        envs = self._eval_envs
        n, n_examples = envs.num_envs, len(envs.envs[0].examples)
        generator = torch.Generator(self.device).manual_seed(c.seed + EVAL_SEED)
        returns, tokens, eos, turns_played = [], 0.0, 0.0, 0.0
        for first in range(0, episodes, n):
            ids = list(range(first, first + n))
            obs, _ = envs.reset(
                seed=[EVAL_SEED + e for e in ids],
                options={"example_index": [e % n_examples for e in ids]},
            )
            total = torch.zeros(n)
            for r, active in self.play(envs, obs, generator):
                active = active & (torch.arange(n) < episodes - first)
                total += r.env_rewards.cpu() * active
                tokens += float((r.response_mask.sum(-1).cpu() * active).sum())
                eos += float((r.ended_with_eos.cpu() & active).sum())
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
        """Write ``<out_dir>/checkpoint.pt`` atomically (a temporary file, then a rename), so
        a run killed while writing keeps its previous checkpoint."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CHECKPOINT
        tmp = path.with_name(CHECKPOINT + ".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        state = torch.load(path, map_location="cpu", weights_only=False)
        saved, current = state["config"], dataclasses.asdict(self.config)
        free = set(RESUMABLE_CHANGES)
        if not self.config.anneal_lr:
            free.add("total_iterations")  # a constant learning rate: a run may be extended
        # A field the checkpoint lacks (added to PPOConfig later) had its default then.
        defaults = dataclasses.asdict(PPOConfig(out_dir=self.config.out_dir))
        saved = {**defaults, **saved}
        changed = sorted(k for k in current if k not in free and saved[k] != current[k])
        if changed:
            diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
            raise ValueError(
                f"the checkpoint {path} was written by a run with another config ({diffs}); "
                "resume with the same settings, or start a new run in another out_dir"
            )
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
        checkpoint = self.out_dir / CHECKPOINT
        resume_after = None
        if checkpoint.exists():
            if not c.resume:
                raise FileExistsError(
                    f"{self.out_dir} already holds a run ({checkpoint}): pass --resume to "
                    "continue it, or choose another --out-dir"
                )
            self.load_checkpoint(checkpoint)
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


def _explained_variance(batch: TrainBatch) -> float:
    m = batch.response_mask.bool()
    returns, values = batch.returns[m], batch.values[m]
    var = float(returns.var()) if returns.numel() > 1 else 0.0
    return math.nan if var == 0 else 1.0 - float((returns - values).var()) / var
