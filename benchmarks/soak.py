"""Soak benchmark: resident memory (RSS) over long runs, per task and observation mode.

Each configuration runs in its own fresh process (so that one's memory does not show in
another's) with one torch thread, steps random token actions (every 5th an end-of-turn
token, so turns and episodes end and reset), samples RSS every ``--sample-every`` steps and
reports the growth after a warm-up (the first ``--warmup`` fraction of the run): the
quantity a leak would make grow without bound. The growth is split into private memory
(``RssAnon``: what a leak grows) and pages of mapped files (``RssFile``: model weights that
``from_pretrained`` maps, which page in as new token ids are used and are bounded by the
files' size).

    python -m benchmarks.soak                       # every task, tokens mode, 100k steps;
                                                    # embedding mode, 20k vector steps
    python -m benchmarks.soak --quick               # a smoke run
    python -m benchmarks.soak --envs TextDialogue-v0 --steps 30000

Writes ``results.json`` and ``results.md`` to ``--out`` (default ``runs/soak``).
"""

import argparse
import json
import multiprocessing
import time
import traceback
from pathlib import Path
from typing import Any

import textgym
from benchmarks.common import machine_info, markdown_table, progress


def rss_mib(field: str = "VmRSS") -> float:
    """This process's resident memory from ``/proc/self/status``: ``VmRSS`` (all of it),
    ``RssAnon`` (private memory: what a leak grows) or ``RssFile`` (pages of mapped files,
    e.g. model weights that ``from_pretrained`` maps: bounded by the files' size)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status (the soak benchmark needs Linux)")


def soak(config: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in this process; returns its RSS samples and growth."""
    import gymnasium as gym
    import numpy as np
    import torch

    torch.set_num_threads(1)
    kwargs = dict(
        model=config["model"], obs_mode=config["obs_mode"], **config.get("env_kwargs", {})
    )
    if config["num_envs"] > 1:
        env = gym.make_vec(
            config["env_id"],
            num_envs=config["num_envs"],
            vectorization_mode="vector_entry_point",
            **kwargs,
        )
    else:
        env = gym.make(config["env_id"], **kwargs)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    samples: list[tuple[int, float, float, float]] = []
    start = time.perf_counter()
    for step in range(config["steps"] + 1):
        if step % config["sample_every"] == 0 or step == config["steps"]:
            samples.append((step, rss_mib(), rss_mib("RssAnon"), rss_mib("RssFile")))
        actions = rng.integers(3, 1000, size=config["num_envs"])
        if step % 5 == 4:
            actions[:] = 2  # <|im_end|>: turns end, partners answer, episodes reset
        if config["num_envs"] > 1:
            env.step(actions)
        else:
            _, _, terminated, truncated, _ = env.step(int(actions[0]))
            if terminated or truncated:
                env.reset()
    seconds = time.perf_counter() - start
    warm = [s for s in samples if s[0] >= config["warmup"] * config["steps"]]
    return {
        **config,
        "samples": samples,
        "seconds": seconds,
        "rss_start_mib": samples[0][1],
        "rss_end_mib": samples[-1][1],
        "growth_after_warmup_mib": warm[-1][1] - warm[0][1],
        "anon_growth_after_warmup_mib": warm[-1][2] - warm[0][2],
        "file_growth_after_warmup_mib": warm[-1][3] - warm[0][3],
        "peak_mib": max(s[1] for s in samples),
    }


def _child(config: dict[str, Any], sender: Any) -> None:
    try:
        sender.send(("ok", soak(config)))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def run_isolated(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`soak` in a fresh (spawned) process."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(config, sender))
    proc.start()
    sender.close()
    try:
        status, result = receiver.recv()
    except EOFError as err:
        raise RuntimeError(f"the soak run {config} died (exit {proc.exitcode})") from err
    finally:
        proc.join()
    if status != "ok":
        raise RuntimeError(f"the soak run {config} failed:\n{result}")
    return result


def configs(args: argparse.Namespace) -> list[dict[str, Any]]:
    common = dict(model=args.model, sample_every=args.sample_every, warmup=args.warmup)
    single = [
        dict(env_id=env_id, obs_mode="tokens", num_envs=1, steps=args.steps, **common)
        for env_id in args.envs
    ]
    vector = [
        dict(
            env_id=env_id,
            obs_mode="embedding",
            num_envs=args.num_envs,
            steps=args.vector_steps,
            **{**common, "sample_every": max(1, args.sample_every // args.num_envs)},
        )
        for env_id in args.vector_envs
    ]
    return single + vector


def table(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["env_id"],
            r["obs_mode"],
            str(r["num_envs"]),
            f"{r['steps']:,}",
            f"{r['rss_start_mib']:.0f}",
            f"{r['rss_end_mib']:.0f}",
            f"{r['growth_after_warmup_mib']:+.1f}",
            f"{r['anon_growth_after_warmup_mib']:+.1f}",
            f"{r['file_growth_after_warmup_mib']:+.1f}",
            f"{r['seconds']:.0f}",
        ]
        for r in results
    ]
    header = ["env", "obs", "envs", "steps", "RSS start (MiB)", "RSS end (MiB)"]
    header += ["RSS growth after warm-up (MiB)", "of it private", "of it mapped files", "seconds"]
    return markdown_table(header, rows, align="lllrrrrrrr")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--envs", nargs="*", default=list(textgym.ENV_IDS))
    parser.add_argument("--steps", type=int, default=100_000, help="single-env steps")
    parser.add_argument("--vector-envs", nargs="*", default=list(textgym.ENV_IDS))
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--vector-steps", type=int, default=20_000, help="vector steps")
    parser.add_argument("--sample-every", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the run")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--out", default="runs/soak")
    args = parser.parse_args(argv)
    if args.quick:
        args.envs, args.vector_envs = args.envs[:1], args.vector_envs[:1]
        args.steps, args.vector_steps, args.sample_every, args.num_envs = 200, 20, 50, 2
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    results = []
    for config in configs(args):
        progress(f"soak {config['env_id']} {config['obs_mode']} x{config['num_envs']}")
        results.append(run_isolated(config))
    markdown = table(results)
    print("\n" + markdown, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"meta": {**machine_info(), "args": vars(args)}, "runs": results}, indent=2)
    )
    (out / "results.md").write_text(markdown + "\n")
    return results


if __name__ == "__main__":
    main()
