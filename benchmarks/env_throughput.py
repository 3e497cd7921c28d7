"""Environment step throughput: one environment, random token actions.

Prints a table and writes ``runs/env_throughput/results.json``. Unwrapped environments
measure textgym itself; ``gym.make`` adds Gymnasium's wrappers (order enforcing, passive
checker, time limit), which is what most users run.

    python -m benchmarks.env_throughput --models tiny smollm2-135m --steps 20000
"""

import argparse
import json
import platform
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import textgym


def measure(env: gym.Env, steps: int, seed: int = 0) -> tuple[float, int]:
    """Steps per second over ``steps`` random token actions, resets included."""
    rng = np.random.default_rng(seed)
    # Tokens below 1000 are ordinary text for SmolLM2's vocabulary and none ends a turn,
    # so episodes run to their token budget as they would under a real policy.
    actions = rng.integers(3, 1000, size=steps)
    env.reset(seed=seed)
    episodes = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
            episodes += 1
    return steps / (time.perf_counter() - start), episodes


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["tiny", "smollm2-135m"])
    parser.add_argument("--envs", nargs="*", default=list(textgym.ENV_IDS[:3]))
    parser.add_argument("--obs-modes", nargs="*", default=["tokens", "text"])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--out", default="runs/env_throughput")
    args = parser.parse_args(argv)

    rows = []
    for model in args.models:
        for env_id in args.envs:
            for obs_mode in args.obs_modes:
                env = gym.make(env_id, model=model, obs_mode=obs_mode)
                wrapped, _ = measure(env, args.steps)
                raw, episodes = measure(env.unwrapped, args.steps)
                rows.append(
                    dict(
                        model=model,
                        env=env_id,
                        obs_mode=obs_mode,
                        steps=args.steps,
                        episodes=episodes,
                        steps_per_s_unwrapped=raw,
                        steps_per_s_gym_make=wrapped,
                    )
                )
                print(
                    f"{model:<13} {env_id:<22} {obs_mode:<7} "
                    f"{raw:>10,.0f} steps/s unwrapped {wrapped:>10,.0f} with gym.make"
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": platform.platform(),
        "processor": platform.processor(),
        "python": platform.python_version(),
    }
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out / 'results.json'}")
    return rows


if __name__ == "__main__":
    main()
