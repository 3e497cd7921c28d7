"""`make demo`: every environment, a few episodes of the LM's own sampled policy.

Prints one rendered episode per environment and a table of mean return and episode
length, and writes the table to ``runs/demo/results.json``.

    python -m benchmarks.demo --model smollm2-135m --episodes 3
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym

import textgym
from baselines.lm_policy import LMPolicy, LMPolicyConfig, run_episode


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="alias, hub id or local path")
    parser.add_argument("--episodes", type=int, default=3, help="episodes per environment")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    parser.add_argument("--envs", nargs="*", default=list(textgym.ENV_IDS), help="env ids")
    parser.add_argument("--out", default="runs/demo", help="output directory")
    args = parser.parse_args(argv)

    rows = []
    for env_id in args.envs:
        start = time.perf_counter()
        env = gym.make(env_id, model=args.model)
        policy = LMPolicy(env, LMPolicyConfig(seed=args.seed))
        episodes = [
            run_episode(env, policy, seed=args.seed if i == 0 else None)
            for i in range(args.episodes)
        ]
        seconds = time.perf_counter() - start
        print(f"\n=== {env_id}: episode 1 of {args.episodes} ===")
        print(episodes[0]["rendered"])
        returns = [e["return"] for e in episodes]
        lengths = [e["length"] for e in episodes]
        rows.append(
            {
                "env": env_id,
                "episodes": len(episodes),
                "mean_return": statistics.fmean(returns),
                "std_return": statistics.pstdev(returns),
                "mean_length": statistics.fmean(lengths),
                "seconds": seconds,
                "metric": env.unwrapped.reward_fn.signature,
            }
        )
        env.close()

    print(f"\nLM sampled policy (model={args.model}, temperature 0.7, top-p 0.9)\n")
    print(f"| {'environment':<22} | episodes | mean return     | mean length | seconds |")
    print(f"|{'-' * 24}|----------|-----------------|-------------|---------|")
    for r in rows:
        ret = f"{r['mean_return']:+.3f} ± {r['std_return']:.3f}"
        print(
            f"| {r['env']:<22} | {r['episodes']:>8} | {ret:<15} | {r['mean_length']:>11.1f} "
            f"| {r['seconds']:>7.1f} |"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"model": args.model, "rows": rows}, indent=2))
    print(f"\nwrote {out / 'results.json'}")
    return rows


if __name__ == "__main__":
    main()
