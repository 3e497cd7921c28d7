"""Baseline benchmark suite: agents x environments x seeds, evaluated on held-out examples.

    python -m benchmarks.suite --agents random lm-sampled ppo --envs TextSentiment-v0 \\
        --seeds 0 1 2 --budget 2048 --eval-every 512 --eval-episodes 8 --out runs/suite

Reference agents (``random``, ``lm-greedy``, ``lm-sampled``; ``baselines.reference``) are
evaluated once, without training. SB3 agents (``ppo``, ``a2c``, ``dqn``, ``maskable-ppo``;
``baselines.sb3_*`` with their configs' defaults) train for ``--budget`` environment steps
on the ``topk`` interface and are evaluated before training, every ``--eval-every`` steps
and at the end (an SB3 callback): their learning curve. Every evaluation is the
deterministic policy on the same ``--eval-episodes`` held-out (``split="test"``) examples,
walked in order, as for the reference agents.

On-policy rollouts are shortened to fit the budget: ``n_steps`` is at most
``budget // num_envs`` and ``batch_size`` at most one rollout (otherwise a 2048-step
budget would be one PPO update, or none).

Each run writes ``<out>/<agent>/<env>/seed<k>/result.json`` (config, versions, metrics of
every evaluation point, wall time) and ``curve.csv``. A run whose ``result.json`` holds the
same config is skipped (``--force`` re-runs it). At the end ``<out>/results.md``,
``<out>/results.csv`` and ``<out>/curves_<env>.png`` summarise every run under ``<out>``,
this command's and earlier ones' (so environments may be run with different budgets by
separate commands into one directory).
"""

import argparse
import csv
import dataclasses
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import textgym
from baselines.cli import apply_overrides
from baselines.reference import (
    LM_SAMPLING,
    REFERENCE_AGENTS,
    evaluate_reference,
)
from baselines.sb3_common import OBS_MODES as SB3_OBS_MODES
from benchmarks import report
from benchmarks.agents import AGENTS, ENV_ORDER, SB3_AGENTS
from benchmarks.common import library_versions, progress_bar

# SB3Config fields that say how to run, not what is run: left out of the resume check.
RUN_ONLY_FIELDS = ("out_dir", "verbose", "evaluate", "torch_threads", "eval_episodes")
CURVE_FIELDS = ("step", "mean_metric", "std_metric", "mean_return", "std_return")
CURVE_FIELDS += ("mean_gen_tokens", "perplexity")


# -- configs -----------------------------------------------------------------------------------
def sb3_config(agent: str, env_id: str, seed: int, args: argparse.Namespace) -> Any:
    """The agent's SB3 config (its module's defaults) for this run, rollouts fit to budget."""
    module, cls_name, _, _ = SB3_AGENTS[agent]
    cls = getattr(importlib.import_module(module), cls_name)
    config = cls(
        env_id=env_id,
        model=args.model,
        num_envs=args.num_envs,
        total_timesteps=args.budget,
        seed=seed,
        topk=args.topk,
        obs_mode=args.obs_mode,
        reward_shaping=args.reward_shaping,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        verbose=0,
        out_dir="unused",
    )
    apply_overrides(config, args.set)
    if hasattr(config, "n_steps"):
        config.n_steps = max(1, min(config.n_steps, args.budget // args.num_envs))
    if hasattr(config, "n_steps") and hasattr(config, "batch_size"):
        config.batch_size = max(1, min(config.batch_size, config.n_steps * args.num_envs))
    return config


def run_config(agent: str, env_id: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Everything that decides a run's result (what resume compares)."""
    common = dict(
        agent=agent,
        env_id=env_id,
        seed=seed,
        model=args.model,
        max_new_tokens=args.max_new_tokens,
        eval_episodes=args.eval_episodes,
        split=args.split,
        device=args.device,
    )
    if agent in REFERENCE_AGENTS:
        sampling = LM_SAMPLING.get(agent)
        return {**common, "kind": "reference", "temperature_top_p": sampling}
    config = dataclasses.asdict(sb3_config(agent, env_id, seed, args))
    for name in RUN_ONLY_FIELDS:
        config.pop(name, None)
    return {**common, "kind": "sb3", "budget": args.budget, "eval_every": args.eval_every, **config}


def versions() -> dict[str, str | None]:
    """What a run's ``result.json`` records of its software (None: not installed)."""
    libraries = ("torch", "transformers", "gymnasium", "stable_baselines3", "sb3_contrib")
    python = sys.version.split()[0]
    return {"textgym": textgym.__version__, "python": python, **library_versions(libraries)}


# -- runs --------------------------------------------------------------------------------------
def run_reference(config: dict[str, Any], bar: Any) -> list[dict[str, Any]]:
    env_kwargs = {"max_new_tokens": config["max_new_tokens"]} if config["max_new_tokens"] else {}
    result = evaluate_reference(
        config["agent"],
        config["env_id"],
        config["model"],
        config["eval_episodes"],
        config["seed"],
        split=config["split"],
        env_kwargs={**env_kwargs, "device": config["device"]},
        on_episode=bar.update,
    )
    return [{"step": 0, **_strip(result)}]


def run_sb3(agent: str, config: Any, args: argparse.Namespace, bar: Any) -> list[dict[str, Any]]:
    """Train with an evaluation callback; returns the evaluations (steps 0, eval_every, ...,
    and the final step)."""
    from stable_baselines3.common.callbacks import BaseCallback

    from baselines.sb3_common import build_model, evaluate_model, make_eval_env

    _, _, algo_module, algo_name = SB3_AGENTS[agent]
    algo_cls = getattr(importlib.import_module(algo_module), algo_name)
    eval_env = make_eval_env(config, args.split, args.eval_episodes)
    evaluations: list[dict[str, Any]] = []

    def evaluate(model: Any, step: int) -> None:
        result = evaluate_model(model, eval_env, args.eval_episodes, config.seed)
        evaluations.append({"step": step, **_strip(result)})
        bar.set_postfix_str(f"metric {result['mean_metric']:+.3f} @ {step}")

    class EvalCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = args.eval_every
            self.seen = 0

        def _on_step(self) -> bool:
            bar.update(self.num_timesteps - self.seen)
            self.seen = self.num_timesteps
            if self.num_timesteps >= self.next_eval:
                evaluate(self.model, self.num_timesteps)
                while self.next_eval <= self.num_timesteps:
                    self.next_eval += args.eval_every
            return True

    config.verbose = 0
    model = build_model(algo_cls, config)
    env = model.get_env()
    evaluate(model, 0)
    model.learn(total_timesteps=config.total_timesteps, callback=EvalCallback())
    if evaluations[-1]["step"] != model.num_timesteps:
        evaluate(model, model.num_timesteps)
    env.close()
    eval_env.close()
    return evaluations


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("agent", "env_id", "split", "seed")}


def run_one(agent: str, env_id: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run: skipped when its result.json matches the config, else run and written."""
    config = run_config(agent, env_id, seed, args)
    run_dir = Path(args.out) / agent / env_id.replace("/", "_") / f"seed{seed}"
    path = run_dir / "result.json"
    label = f"{agent} / {env_id} / seed {seed}"
    if path.exists() and not args.force:
        saved = json.loads(path.read_text())
        if saved.get("config") == json.loads(json.dumps(config)):
            print(f"skip {label}: {path} matches the config", flush=True)
            return saved
        print(f"re-run {label}: {path} has a different config", flush=True)
    start = time.perf_counter()
    if agent in REFERENCE_AGENTS:
        bar = progress_bar(args.eval_episodes, label, "episode")
        evaluations = run_reference(config, bar)
    else:
        bar = progress_bar(args.budget, label, "step")
        evaluations = run_sb3(agent, sb3_config(agent, env_id, seed, args), args, bar)
    bar.close()
    result = {
        "agent": agent,
        "env_id": env_id,
        "seed": seed,
        "kind": config["kind"],
        "config": config,
        "versions": versions(),
        "wall_time_s": time.perf_counter() - start,
        "evaluations": evaluations,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "curve.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CURVE_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(evaluations)
    # result.json last, and whole: an interrupted run leaves none and is run again.
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    return result


# -- driver ------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--agents", nargs="+", choices=AGENTS, default=["random", "lm-sampled"])
    parser.add_argument("--envs", nargs="+", default=list(textgym.ENV_IDS), help="env ids")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds")
    parser.add_argument("--budget", type=int, default=2048, help="SB3 training env steps")
    parser.add_argument("--eval-every", type=int, default=512, help="SB3 steps between evals")
    parser.add_argument("--eval-episodes", type=int, default=8, help="held-out episodes")
    parser.add_argument("--model", default="smollm2-135m", help="the environments' LM")
    parser.add_argument("--out", default="runs/suite", help="output directory")
    parser.add_argument("--split", default="test", help="evaluation split")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="None: task default")
    parser.add_argument("--num-envs", type=int, default=16, help="SB3 sub-environments")
    parser.add_argument("--topk", type=int, default=8, help="SB3 agents' action space size")
    parser.add_argument("--obs-mode", default="proposals", choices=list(SB3_OBS_MODES))
    parser.add_argument(
        "--reward-shaping", default="dense", choices=["dense", "terminal"], help="SB3 training"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--force", action="store_true", help="re-run runs already done")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="NAME=VALUE",
        help="override fields of the SB3 agents' configs, e.g. learning_rate=3e-2 "
        "token_preference=false (see python -m baselines.sb3_ppo --help)",
    )
    args = parser.parse_args(argv)
    for name in ("budget", "eval_every", "eval_episodes", "num_envs", "topk"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    unknown = [e for e in args.envs if e not in textgym.ENV_IDS]
    if unknown:
        parser.error(f"unknown env ids {unknown}: use some of {', '.join(textgym.ENV_IDS)}")
    for agent in (a for a in args.agents if a in SB3_AGENTS):  # check --set before any run
        try:
            sb3_config(agent, args.envs[0], args.seeds[0], args)
        except ValueError as error:
            parser.error(f"--set for {agent}: {error}")
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    results = [
        run_one(agent, env_id, seed, args)
        for env_id in args.envs
        for agent in args.agents
        for seed in args.seeds
    ]
    out = Path(args.out)
    # The summary covers every run in the output directory, this invocation's and those of
    # earlier ones (e.g. other environments with other budgets).
    table, everything, plots = report.write_summary(out, ENV_ORDER, AGENTS)
    print("\n" + table + "\n")
    earlier = len(everything) - len(results)
    print(f"wrote {out / 'results.md'} and {out / 'results.csv'}", end="")
    print(f" ({earlier} runs from earlier invocations included)" if earlier > 0 else "")
    print("learning curves: " + ", ".join(str(p) for p in plots))
    return results


if __name__ == "__main__":
    main()
