"""Environment throughput: one environment, vector environments, peak memory, reward cost.

Four sections, each printed as a Markdown table and written to ``--out`` (default
``runs/env_throughput``) as ``results.json`` and ``results.md``:

1. **single**: steps/s of one environment under random token actions (ids 3..999: none ends
   a turn, so every episode runs to its token budget; resets included), ``tokens`` and
   ``text`` observations, unwrapped (textgym itself) and through ``gym.make`` (Gymnasium's
   order-enforcing, passive-checker and time-limit wrappers, what most users run).
2. **vector**: env-steps/s (``num_envs * steps / seconds``) of one environment
   (``gym.make``, the N=1 baseline), of Gymnasium's ``SyncVectorEnv``
   (``gym.make_vec(id, num_envs=N, vectorization_mode="sync")``) and of textgym's
   ``TextVectorEnv`` (``gym.make_vec(id, num_envs=N)``, the id's ``vector_entry_point``,
   which batches the LM work of its sub-environments), and the ratio vector/sync.
3. **memory**: the peak RSS (``ru_maxrss``) of each configuration of section 2. Every
   configuration runs in its own process (forked from a fork server that has only imported
   the libraries), so runs are independent and the peak is that configuration's own.
4. **rewards**: the cost of each task's reward function per episode, called as the
   environment calls it (``env.unwrapped.reward_fn.detailed(...)``) on fresh ~25-word texts.

    python -m benchmarks.env_throughput                  # everything (~6 min on 2 CPU cores)
    python -m benchmarks.env_throughput --quick          # tiny settings, under a minute
    python -m benchmarks.env_throughput --sections vector --models tiny --num-envs 1 8

Timing notes. A vector "step" steps all N sub-environments; the autoreset step that starts
a sub-environment's next episode counts as an env-step (Gymnasium's ``NEXT_STEP``
convention), so with the default 24-token budget every 25th step is a reset. The default
``--vector-steps 25`` after 2 warm-up steps therefore times one full episode cycle,
reset included (the batched prompt forward of a reset is a large part of TextVectorEnv's
time; 20 steps would skip it). The one-environment baseline counts agent steps only; its
``reset()`` calls are timed but not counted. The slowest default configuration, SmolLM2
``embedding`` with ``SyncVectorEnv`` at N=64, takes about 2.5 minutes (2 of them timed). A configuration repeats its block of timed steps until it has run for
``--min-seconds``, so that fast configurations (``tokens`` observations, no LM call) are
not timed over a millisecond.

Threads. Every process runs torch with ``--threads`` threads (default 1). On a small
shared machine torch's default (one thread per core) is fragile: with other processes
busy on a 2-core machine, 2 threads made SmolLM2's single-token forward ~4x and MiniLM's
encode ~50x slower than 1 thread (the OpenMP threads wait on each other while one of them
is descheduled). ``--threads 0`` keeps torch's default. Other processes still change the
numbers; ``results.json`` records the load average before and after.
"""

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import time
import traceback
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import textgym
from benchmarks.common import machine_info as common_machine_info
from benchmarks.common import markdown_table, progress

SECTIONS = ("single", "vector", "rewards")
VECTORIZATIONS = ("single", "sync", "vector")
# Token ids 3..999 are ordinary text in SmolLM2's vocabulary and none ends a turn, so
# episodes run to their token budget as they would under a real policy.
ACTION_LOW, ACTION_HIGH = 3, 1000
# What the workers' fork server imports (and nothing more: no model, no thread pool).
_PRELOAD = [
    "torch",
    "transformers",
    "transformers.models.llama.modeling_llama",
    "textgym.lm",
    "textgym.vector",
    *(f"textgym.envs.{name}" for name in ("sentiment", "translation", "summarization")),
    "textgym.envs.dialogue",
]


# -- section 1: one environment ----------------------------------------------------------------
def measure(env: gym.Env, steps: int, seed: int = 0) -> tuple[float, int]:
    """Steps per second over ``steps`` random token actions, resets included.

    Every example's prompt is tokenised before the clock starts: an environment caches its
    prompts, and the first pass (0.2-1 ms per example for SmolLM2's chat template, ~0.1 s
    for a whole dataset) is a one-off cost that would otherwise land in whichever of the
    unwrapped and ``gym.make`` runs comes first.
    """
    rng = np.random.default_rng(seed)
    actions = rng.integers(ACTION_LOW, ACTION_HIGH, size=steps)
    base = env.unwrapped
    for index in range(len(base.examples)):
        base.reset(options={"example_index": index})
    env.reset(seed=seed)
    episodes = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
            episodes += 1
    return steps / (time.perf_counter() - start), episodes


def run_single(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for model in args.models:
        for env_id in args.envs:
            for obs_mode in args.obs_modes:
                env = gym.make(env_id, model=model, obs_mode=obs_mode)
                wrapped, _ = measure(env, args.steps)
                raw, episodes = measure(env.unwrapped, args.steps)
                env.close()
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
                progress(
                    f"[single] {model} {env_id} {obs_mode}: {raw:,.0f} steps/s unwrapped, "
                    f"{wrapped:,.0f} with gym.make"
                )
    return rows


# -- sections 2 and 3: vector environments, one process per configuration ----------------------
def vector_configs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (model, obs mode, N, vectorization) configuration; the single environment is
    the N=1 baseline of each (model, obs mode)."""
    configs = []
    for model in args.models:
        for obs_mode in args.vector_obs_modes:
            base = dict(
                env=args.vector_env,
                env_kwargs={"max_new_tokens": args.max_new_tokens},
                model=model,
                obs_mode=obs_mode,
                steps=args.vector_steps,
                warmup=args.warmup,
                min_seconds=args.min_seconds,
                threads=args.threads,
                seed=0,
            )
            configs.append(dict(base, vectorization="single", num_envs=1))
            for n in args.num_envs:
                for vectorization in ("sync", "vector"):
                    configs.append(dict(base, vectorization=vectorization, num_envs=n))
    return configs


def run_vector(args: argparse.Namespace) -> list[dict[str, Any]]:
    configs = vector_configs(args)
    results = []
    for i, config in enumerate(configs, 1):
        label = (
            f"[vector {i}/{len(configs)}] {config['model']} {config['obs_mode']} "
            f"N={config['num_envs']} {config['vectorization']}"
        )
        progress(f"{label} ...")
        start = time.perf_counter()
        result = run_worker(config, args.worker_timeout)
        results.append(result)
        progress(
            f"{label}: {result['env_steps_per_s']:,.1f} env-steps/s, "
            f"peak RSS {result['peak_rss_mib']:,.0f} MiB ({time.perf_counter() - start:.1f} s)"
        )
    return results


def run_worker(config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one configuration in a fresh process and return its measurements.

    The process is forked from a ``multiprocessing`` fork server that has imported torch,
    transformers and textgym and done nothing else, so a worker starts in about a second
    instead of the ~5 s those imports take, and starts with the same memory as a fresh
    interpreter that imported them. Its ``ru_maxrss`` is its own: a forked child's peak
    starts from its own copy of the address space, whereas an exec'd child (``subprocess``)
    inherits the peak RSS of the process that started it.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # takes effect when the fork server starts
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker_main, args=(config, sender), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise TimeoutError(f"worker for {config} ran past {timeout} s")
        status, payload = receiver.recv()
    except EOFError:
        status, payload = "error", "the worker exited without a result"
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        receiver.close()
    if status != "ok":
        raise RuntimeError(f"worker for {config} failed (exit {proc.exitcode}):\n{payload}")
    return payload


def _worker_main(config: dict[str, Any], sender: Any) -> None:
    try:
        sender.send(("ok", worker(config)))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


def worker(config: dict[str, Any]) -> dict[str, Any]:
    """Build, reset, warm up and time one vector configuration; runs in the worker process."""
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    n, vectorization = int(config["num_envs"]), config["vectorization"]
    kwargs = dict(config["env_kwargs"], model=config["model"], obs_mode=config["obs_mode"])
    start = time.perf_counter()
    if vectorization == "single":
        env: Any = gym.make(config["env"], **kwargs)
        subs = [env]
    elif vectorization == "sync":
        env = gym.make_vec(config["env"], num_envs=n, vectorization_mode="sync", **kwargs)
        subs = list(env.envs)
    elif vectorization == "vector":
        env = gym.make_vec(config["env"], num_envs=n, **kwargs)
        subs = list(env.envs)
    else:
        raise ValueError(f"unknown vectorization {vectorization!r}: use one of {VECTORIZATIONS}")
    build_s = time.perf_counter() - start

    rng = np.random.default_rng(config["seed"])
    start = time.perf_counter()
    env.reset(seed=config["seed"])
    reset_s = time.perf_counter() - start

    if vectorization == "single":

        def step(actions: np.ndarray) -> None:
            _, _, terminated, truncated, _ = env.step(int(actions[0]))
            if terminated or truncated:
                env.reset()

    else:
        step = env.step

    for _ in range(config["warmup"]):
        step(rng.integers(ACTION_LOW, ACTION_HIGH, size=n))
    steps, seconds, blocks = int(config["steps"]), 0.0, 0
    while True:
        actions = rng.integers(ACTION_LOW, ACTION_HIGH, size=(steps, n))
        start = time.perf_counter()
        for row in actions:
            step(row)
        seconds += time.perf_counter() - start
        blocks += 1
        if seconds >= config["min_seconds"]:
            break
    lms = {id(e.unwrapped.lm) for e in subs}
    weights_loaded = any(e.unwrapped.lm._model is not None for e in subs)
    env.close()
    return dict(
        config,
        env_class=type(env.unwrapped if vectorization == "single" else env).__name__,
        timed_steps=steps * blocks,
        seconds=seconds,
        env_steps_per_s=steps * blocks * n / seconds,
        build_s=build_s,
        reset_s=reset_s,
        peak_rss_mib=_maxrss_mib(),
        vm_hwm_mib=_vm_hwm_mib(),
        lm_objects=len(lms),
        lm_weights_loaded=weights_loaded,
        torch_threads=torch.get_num_threads(),
    )


def vector_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, obs mode, N): the three vectorizations side by side."""
    by_key = {(r["model"], r["obs_mode"], r["num_envs"], r["vectorization"]): r for r in runs}
    rows = []
    for model, obs_mode, n, vectorization in by_key:
        if vectorization != "sync" or (model, obs_mode, n, "vector") not in by_key:
            continue
        sync, vec = by_key[model, obs_mode, n, "sync"], by_key[model, obs_mode, n, "vector"]
        single = by_key.get((model, obs_mode, 1, "single"))
        base = single["env_steps_per_s"] if single else None
        rows.append(
            dict(
                model=model,
                env=sync["env"],
                obs_mode=obs_mode,
                num_envs=n,
                timed_steps_sync=sync["timed_steps"],
                timed_steps_vector=vec["timed_steps"],
                single_env_steps_per_s=base,
                sync_env_steps_per_s=sync["env_steps_per_s"],
                vector_env_steps_per_s=vec["env_steps_per_s"],
                vector_over_sync=vec["env_steps_per_s"] / sync["env_steps_per_s"],
                vector_over_single=vec["env_steps_per_s"] / base if base else None,
                single_peak_rss_mib=single["peak_rss_mib"] if single else None,
                sync_peak_rss_mib=sync["peak_rss_mib"],
                vector_peak_rss_mib=vec["peak_rss_mib"],
                sync_lm_objects=sync["lm_objects"],
                vector_lm_objects=vec["lm_objects"],
            )
        )
    return rows


# -- section 4: reward cost --------------------------------------------------------------------
# (label, env id, env kwargs, text language)
REWARD_CASES = (
    ("BLEU", "TextTranslation-v0", {"metric": "bleu"}, "es"),
    ("chrF", "TextTranslation-v0", {"metric": "chrf"}, "es"),
    ("ROUGE-L", "TextSummarization-v0", {}, "en"),
    ("VADER", "TextSentiment-v0", {}, "en"),
    ("dialogue (MiniLM)", "TextDialogue-v0", {"similarity": "minilm"}, "en"),
    ("dialogue (lexical)", "TextDialogue-v0", {"similarity": "lexical"}, "en"),
)
_TEXTS = {  # 25 words each; the words at _VARY change from call to call
    "en": "The new kettle arrived on a rainy Tuesday morning and the first thing I "
    "noticed was how quietly it boiled water for my tea today",
    "es": "El nuevo hervidor llegó un martes lluvioso por la mañana y lo primero que "
    "noté fue lo silencioso que hervía el agua para mi té",
}
_VARY = (1, 6, 20)
_WORDS = {
    "en": [
        "red",
        "blue",
        "green",
        "small",
        "large",
        "quiet",
        "loud",
        "bright",
        "dark",
        "cold",
        "warm",
        "old",
        "young",
        "fresh",
        "simple",
        "strange",
        "happy",
        "sad",
        "calm",
        "busy",
        "gentle",
        "rough",
        "soft",
        "heavy",
        "light",
        "early",
        "late",
        "quick",
        "slow",
        "clean",
        "dirty",
        "cheap",
        "costly",
        "plain",
        "fancy",
        "round",
        "flat",
        "sharp",
        "smooth",
        "sweet",
    ],
    "es": [
        "rojo",
        "azul",
        "verde",
        "pequeño",
        "grande",
        "tranquilo",
        "ruidoso",
        "brillante",
        "oscuro",
        "frío",
        "cálido",
        "viejo",
        "joven",
        "fresco",
        "simple",
        "extraño",
        "feliz",
        "triste",
        "sereno",
        "ocupado",
        "suave",
        "áspero",
        "blando",
        "pesado",
        "ligero",
        "temprano",
        "tardío",
        "rápido",
        "lento",
        "limpio",
        "sucio",
        "barato",
        "caro",
        "sencillo",
        "elegante",
        "redondo",
        "plano",
        "afilado",
        "liso",
        "dulce",
    ],
}


class FreshTexts:
    """~25-word texts that never repeat: three words change with a counter (sacrebleu,
    for one, caches the tokenisation of the strings it has seen)."""

    def __init__(self, lang: str) -> None:
        self.words, self.vocab, self.count = _TEXTS[lang].split(), _WORDS[lang], 0

    def __call__(self) -> str:
        words, i = list(self.words), self.count
        self.count += 1
        for position in _VARY:
            words[position] = self.vocab[i % len(self.vocab)]
            i //= len(self.vocab)
        return " ".join(words)


def episode_calls(env: Any, texts: FreshTexts, index: int) -> list[tuple[tuple, dict]]:
    """The ``reward_fn.detailed`` calls of one episode, with the arguments the environment
    passes (see each environment's ``_score_turn``), on example ``index`` (rotating)."""
    example = env.examples[index % len(env.examples)]
    if env.task == "sentiment":
        return [(([texts()],), {})]
    if env.task in ("translation", "summarization"):
        return [(([texts()], [list(example.references)]), {})]
    if env.task == "dialogue":
        # Turn 1 answers the opening (scored against its reference replies when it has
        # some); later turns answer the partner's message and are checked for repeats.
        calls, turns, user = [], [], example.prompt
        for turn in range(env.num_turns):
            text = texts()
            refs = list(example.references) if turn == 0 else []
            calls.append((([text], [refs]), dict(user_turns=[user], histories=[list(turns)])))
            turns.append(text)
            user = texts()
        return calls
    raise ValueError(f"no reward recipe for task {env.task!r}")


def run_rewards(args: argparse.Namespace) -> list[dict[str, Any]]:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    rows = []
    for label, env_id, kwargs, lang in REWARD_CASES:
        env = gym.make(env_id, model=args.reward_model, **kwargs).unwrapped
        reward_fn, texts = env.reward_fn, FreshTexts(lang)
        # Build every episode's arguments first, so that the timing covers the calls only.
        episodes = [episode_calls(env, texts, i) for i in range(args.reward_repeats + 3)]
        times = []
        for i, calls in enumerate(episodes):
            start = time.perf_counter_ns()
            for call_args, call_kwargs in calls:
                reward_fn.detailed(*call_args, **call_kwargs)
            if i >= 3:  # three warm-up episodes (MiniLM's first batches are slower)
                times.append((time.perf_counter_ns() - start) / 1000)
        env.close()
        median = statistics.median(times)
        calls_per_episode = len(episodes[0])
        rows.append(
            dict(
                reward=label,
                env=env_id,
                env_kwargs=kwargs,
                signature=reward_fn.signature,
                calls_per_episode=calls_per_episode,
                repeats=len(times),
                words_per_text=len(texts().split()),
                us_per_episode_median=median,
                us_per_call_median=median / calls_per_episode,
                us_per_episode_min=min(times),
            )
        )
        progress(f"[rewards] {label}: {median:,.1f} us/episode ({len(times)} episodes)")
    return rows


# -- tables ------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]]) -> str:
    """The tables' layout: the first three columns (names) left, the numbers right."""
    return markdown_table(header, rows, align="lll" + "r" * (len(header) - 3))


def _num(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    return _num(value, 0 if value >= 100 else 1 if value >= 10 else 2)


def tables(results: dict[str, Any]) -> dict[str, str]:
    out = {}
    if results.get("single_env"):
        out["Single environment: steps/s, random token actions, resets included"] = _table(
            ["model", "env", "obs", "episodes", "unwrapped", "gym.make"],
            [
                [
                    r["model"],
                    r["env"],
                    r["obs_mode"],
                    str(r["episodes"]),
                    _rate(r["steps_per_s_unwrapped"]),
                    _rate(r["steps_per_s_gym_make"]),
                ]
                for r in results["single_env"]
            ],
        )
    if results.get("vector"):
        meta = results["meta"]["args"]
        env = f"{meta['vector_env']}, max_new_tokens={meta['max_new_tokens']}"
        out[f"Vector throughput: env-steps/s ({env})"] = _table(
            ["model", "obs", "N", "1 env", "SyncVectorEnv", "TextVectorEnv", "vector/sync"]
            + ["vector/1 env"],
            [
                [
                    r["model"],
                    r["obs_mode"],
                    str(r["num_envs"]),
                    _rate(r["single_env_steps_per_s"]) if r["num_envs"] == 1 else "",
                    _rate(r["sync_env_steps_per_s"]),
                    _rate(r["vector_env_steps_per_s"]),
                    f"{r['vector_over_sync']:.2f}x",
                    "—" if r["vector_over_single"] is None else f"{r['vector_over_single']:.2f}x",
                ]
                for r in results["vector"]
            ],
        )
        out[f"Peak memory: RSS of each configuration's process, MiB ({env})"] = _table(
            ["model", "obs", "N", "1 env", "SyncVectorEnv", "TextVectorEnv", "LM copies"],
            [
                [
                    r["model"],
                    r["obs_mode"],
                    str(r["num_envs"]),
                    _num(r["single_peak_rss_mib"]) if r["num_envs"] == 1 else "",
                    _num(r["sync_peak_rss_mib"]),
                    _num(r["vector_peak_rss_mib"]),
                    f"{r['sync_lm_objects']} / {r['vector_lm_objects']}",
                ]
                for r in results["vector"]
            ],
        )
    if results.get("rewards"):
        out["Reward cost per episode (reward_fn.detailed as the env calls it, ~25 words)"] = _table(
            ["reward", "env", "calls/episode", "us/episode (median)", "us/call", "min"],
            [
                [
                    r["reward"],
                    r["env"],
                    str(r["calls_per_episode"]),
                    _num(r["us_per_episode_median"], 1),
                    _num(r["us_per_call_median"], 1),
                    _num(r["us_per_episode_min"], 1),
                ]
                for r in results["rewards"]
            ],
        )
    return out


# -- driver ------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    import torch

    info = {
        **common_machine_info(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gymnasium": gym.__version__,
        "textgym": textgym.__version__,
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_end"] = os.getloadavg()
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--models", nargs="+", default=None, help="default: tiny smollm2-135m")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in every process (default 1; 0 keeps torch's default)",
    )
    parser.add_argument("--out", default="runs/env_throughput")
    single = parser.add_argument_group("single environment")
    single.add_argument("--envs", nargs="+", default=None, help="default: the first three ids")
    single.add_argument("--obs-modes", nargs="+", default=["tokens", "text"])
    single.add_argument("--steps", type=int, default=None, help="default 20000 (quick: 500)")
    vector = parser.add_argument_group("vector environments and memory")
    vector.add_argument("--vector-env", default="TextSentiment-v0")
    vector.add_argument("--max-new-tokens", type=int, default=24)
    vector.add_argument("--num-envs", nargs="+", type=int, default=None, help="default 1 4 16 64")
    vector.add_argument("--vector-obs-modes", nargs="+", default=["tokens", "embedding"])
    vector.add_argument(
        "--vector-steps", type=int, default=None, help="timed steps (default 25; quick: 4)"
    )
    vector.add_argument("--warmup", type=int, default=None, help="default 2 (quick: 1)")
    vector.add_argument(
        "--min-seconds", type=float, default=None, help="repeat the timed steps until (1.0)"
    )
    vector.add_argument("--worker-timeout", type=float, default=1800.0)
    rewards = parser.add_argument_group("reward cost")
    rewards.add_argument("--reward-repeats", type=int, default=None, help="default 200")
    rewards.add_argument("--reward-model", default="tiny", help="the LM the envs are built on")
    args = parser.parse_args(argv)

    quick = args.quick
    defaults = dict(
        models=["tiny"] if quick else ["tiny", "smollm2-135m"],
        envs=list(textgym.ENV_IDS[:1] if quick else textgym.ENV_IDS[:3]),
        steps=500 if quick else 20000,
        num_envs=[1, 4] if quick else [1, 4, 16, 64],
        vector_steps=4 if quick else 25,
        warmup=1 if quick else 2,
        min_seconds=0.0 if quick else 1.0,
        reward_repeats=5 if quick else 200,
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("steps", "vector_steps", "reward_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if any(n < 1 for n in args.num_envs):
        parser.error("--num-envs must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    wall = time.perf_counter()
    loadavg_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    results: dict[str, Any] = {}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if "single" in args.sections:
        results["single_env"] = run_single(args)
    if "vector" in args.sections:
        runs = run_vector(args)
        results["vector"], results["vector_runs"] = vector_rows(runs), runs
    if "rewards" in args.sections:
        results["rewards"] = run_rewards(args)
    meta = machine_info()
    meta["loadavg_start"] = loadavg_start
    meta["args"] = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    meta["wall_s"] = time.perf_counter() - wall
    results = {"meta": meta, **results}

    markdown = "\n\n".join(f"### {title}\n\n{table}" for title, table in tables(results).items())
    print("\n" + markdown, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown + "\n")
    print(f"wrote {out / 'results.json'} and {out / 'results.md'} ({meta['wall_s']:.0f} s)")
    return results


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
