"""Learning curves and a summary table of token-level PPO runs (``python -m baselines.ppo``).

    python -m benchmarks.ppo_report runs/ppo/ppo-TextSentiment-v0-0 [more run dirs] \\
        --out benchmarks/results/ppo

reads each run's ``metrics.csv``, ``eval.csv`` and ``config.json`` and writes
``curves.png`` (training return, held-out return, KL to the reference against the
iteration) and ``results.md`` (per run: zero-shot and final held-out return, the best
held-out return, final KL and its target, episodes and generated tokens; where several
seeds of one environment and algorithm are given, a second table over the seeds: the mean
and standard deviation across seeds of the runs' zero-shot and final held-out means, the
lowest final mean, and the largest final KL).
"""

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from baselines.ppo.logs import read_csv
from benchmarks.common import duration, markdown_table, mean_std_cell


def load_run(run_dir: str | Path) -> dict[str, Any]:
    run = Path(run_dir)
    missing = [name for name in ("config.json", "metrics.csv") if not (run / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run} is not the out_dir of a `python -m baselines.ppo` run (no "
            f"{' or '.join(missing)}): pass the directories given as --out-dir to the runs"
        )
    return {
        "dir": str(run),
        "config": json.loads((run / "config.json").read_text()),
        "train": read_csv(run / "metrics.csv"),
        "eval": read_csv(run / "eval.csv") if (run / "eval.csv").exists() else [],
    }


def summary_row(run: dict[str, Any]) -> dict[str, Any]:
    c, train, evals = run["config"], run["train"], run["eval"]
    last = train[-1] if train else {}
    first_eval = evals[0] if evals and evals[0]["iteration"] == 0 else None
    best = max(evals, key=lambda r: r["eval/mean_return"]) if evals else None
    tokens = sum(
        r["charts/response_tokens"] * c["batch_size"] for r in train
    )  # one turn per episode for single-turn tasks
    return {
        "env": c["env_id"],
        "algo": c["algo"],
        "seed": c["seed"],
        "iterations": int(last.get("iteration", 0)),
        "episodes": int(last.get("episodes", 0)),
        "generated_tokens": int(tokens),
        "zero_shot": first_eval,
        "final": evals[-1] if evals else None,
        "best": best,
        "kl": last.get("objective/kl", math.nan),
        "target_kl": c["target_kl"] if c["adaptive_kl"] else None,
        "seconds": sum(r["time/iteration"] for r in train),
    }


def _ret(row: dict[str, float] | None) -> str:
    if row is None:
        return "n/a"
    return mean_std_cell(row["eval/mean_return"], row["eval/std_return"])


def _kl_target(target: float | None) -> str:
    return "fixed" if target is None else f"{target:g}"


def results_table(rows: list[dict[str, Any]]) -> str:
    header = ["env", "algo", "seed", "iterations (episodes)", "held-out return: zero-shot"]
    header += ["final", "best (iteration)", "KL / target", "iteration time"]
    cells = []
    for r in rows:
        best = r["best"]
        cells.append(
            [
                r["env"],
                r["algo"],
                str(r["seed"]),
                f"{r['iterations']} ({r['episodes']})",
                _ret(r["zero_shot"]),
                _ret(r["final"]),
                "n/a" if best is None else f"{_ret(best)} ({int(best['iteration'])})",
                f"{r['kl']:.2f} / {_kl_target(r['target_kl'])}",
                duration(r["seconds"], minutes_from=120, minute_digits=0),
            ]
        )
    return markdown_table(header, cells) + "\n"


def seed_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (env, algo) with more than one seed: the mean and the (sample) standard
    deviation across seeds of each run's zero-shot and final held-out mean return, the
    lowest final mean and the largest final KL. Runs without held-out evaluations at
    iteration 0 and at the end are left out."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["zero_shot"] is not None and r["final"] is not None:
            groups[r["env"], r["algo"]].append(r)
    out = []
    for (env, algo), runs in groups.items():
        if len({r["seed"] for r in runs}) < 2:
            continue
        zero = [r["zero_shot"]["eval/mean_return"] for r in runs]
        final = [r["final"]["eval/mean_return"] for r in runs]
        out.append(
            {
                "env": env,
                "algo": algo,
                "seeds": sorted(r["seed"] for r in runs),
                "zero_shot_mean": statistics.mean(zero),
                "zero_shot_std": statistics.stdev(zero),
                "final_mean": statistics.mean(final),
                "final_std": statistics.stdev(final),
                "final_min": min(final),
                "kl_max": max(r["kl"] for r in runs),
                "target_kl": runs[0]["target_kl"],
            }
        )
    return out


def seeds_table(rows: list[dict[str, Any]]) -> str:
    header = ["env", "algo", "seeds", "held-out return: zero-shot", "final", "lowest final"]
    header += ["largest KL / target"]
    cells = [
        [
            r["env"],
            r["algo"],
            ", ".join(map(str, r["seeds"])),
            mean_std_cell(r["zero_shot_mean"], r["zero_shot_std"]),
            mean_std_cell(r["final_mean"], r["final_std"]),
            f"{r['final_min']:.3f}",
            f"{r['kl_max']:.2f} / {_kl_target(r['target_kl'])}",
        ]
        for r in rows
    ]
    return markdown_table(header, cells) + "\n"


def plot(runs: list[dict[str, Any]], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for run in runs:
        c = run["config"]
        label = f"{c['algo']} {c['env_id']} seed {c['seed']}"
        its = [r["iteration"] for r in run["train"]]
        axes[0].plot(its, [r["charts/episodic_return"] for r in run["train"]], label=label)
        if run["eval"]:
            axes[1].errorbar(
                [r["iteration"] for r in run["eval"]],
                [r["eval/mean_return"] for r in run["eval"]],
                yerr=[r["eval/std_return"] for r in run["eval"]],
                marker="o",
                capsize=3,
                label=label,
            )
        axes[2].plot(its, [r["objective/kl"] for r in run["train"]], label=label)
    titles = ("training return (batch mean)", "held-out return (mean ± std)", "KL to reference")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of python -m baselines.ppo")
    parser.add_argument("--out", default="runs/ppo_report", help="where the report goes")
    args = parser.parse_args(argv)
    runs = [load_run(r) for r in args.runs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [summary_row(r) for r in runs]
    table = results_table(rows)
    if seeds := seed_rows(rows):
        table += "\nAcross seeds (mean ± std of the runs' held-out means):\n\n" + seeds_table(seeds)
    (out / "results.md").write_text(table)
    plot(runs, out / "curves.png")
    print(table)
    print(f"curves: {out / 'curves.png'}")


if __name__ == "__main__":
    main()
