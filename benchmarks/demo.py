"""`make demo`: watch every environment, then run the quick baseline benchmark.

1. One episode of each environment played by the LM's own sampled policy, rendered.
2. The quick benchmark (``benchmarks.suite``): the random and zero-shot LM agents and
   Stable-Baselines3 PPO with a small budget on all four environments, one seed, evaluated
   on held-out examples; prints the results table and where the learning curves are.

About 6.5 minutes on a quiet 2-core CPU with the default model once set up (measured 6m24s;
the dialogue agent's training is the longest part).

    python -m benchmarks.demo                      # the default model, as `make demo` runs it
    python -m benchmarks.demo --model tiny --budget 64 --eval-episodes 1   # a smoke run
"""

import argparse
import time

import gymnasium as gym

import textgym
from baselines.lm_policy import LMPolicy, LMPolicyConfig, run_episode
from benchmarks import suite


def show_episodes(model: str, envs: list[str], seed: int) -> None:
    for env_id in envs:
        start = time.perf_counter()
        env = gym.make(env_id, model=model)
        episode = run_episode(env, LMPolicy(env, LMPolicyConfig(seed=seed)), seed=seed)
        print(f"\n=== {env_id}: the LM's sampled policy (temperature 0.7, top-p 0.9) ===")
        print(episode["rendered"])
        print(
            f"return {episode['return']:+.3f}, {episode['length']} steps, "
            f"{time.perf_counter() - start:.1f} s"
        )
        env.close()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, hub id or local path")
    parser.add_argument("--envs", nargs="*", default=list(textgym.ENV_IDS), help="env ids")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episodes and runs")
    parser.add_argument("--budget", type=int, default=1024, help="PPO training env steps")
    parser.add_argument("--eval-episodes", type=int, default=4, help="held-out episodes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default="runs/demo", help="output directory")
    args = parser.parse_args(argv)

    show_episodes(args.model, args.envs, args.seed)
    print("\n=== quick benchmark: random, zero-shot LM and PPO (topk + proposals) ===\n")
    return suite.main(
        [
            "--agents", "random", "lm-sampled", "ppo",
            "--envs", *args.envs,
            "--seeds", str(args.seed),
            "--budget", str(args.budget),
            "--eval-every", str(args.budget),
            "--eval-episodes", str(args.eval_episodes),
            "--model", args.model,
            "--threads", str(args.threads),
            "--out", args.out,
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
