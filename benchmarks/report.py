"""Tables and plots of ``benchmarks.suite`` results: pure functions on lists of result dicts.

A result dict is one run (one agent, environment and seed), as ``result.json`` holds it;
these functions read only::

    {"agent": str, "env_id": str, "seed": int, "kind": "reference" | "sb3",
     "config": {"budget": int, ...},   # optional; budget only for trained agents
     "wall_time_s": float,             # optional
     "evaluations": [{"step": int, "mean_metric": float, "mean_return": float,
                      "mean_gen_tokens": float, "perplexity": float}, ...]}

The last evaluation is the run's final result. Across seeds the tables give the mean and
the sample standard deviation (n - 1; a single seed shows the mean alone).

    python -m benchmarks.report runs/suite   # rebuild results.md/.csv and the curves there
"""

import argparse
import csv
import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.agents import AGENTS, ENV_ORDER
from benchmarks.common import duration, markdown_table, mean_std, mean_std_cell

BASELINE = "lm-sampled"  # the zero-shot baseline every other agent is compared with
# (column name, key of an evaluation, digits) of the aggregated quantities
QUANTITIES = (
    ("task metric", "mean_metric", 3),
    ("return", "mean_return", 3),
    ("gen. tokens", "mean_gen_tokens", 1),
    ("perplexity", "perplexity", 1),
)
HACKING_RATIO = 10.0  # a perplexity this many times the baseline's is flagged


def load_results(
    out_dir: str | Path, env_order: Sequence[str] = (), agent_order: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every ``result.json`` under ``out_dir`` (the runs of every invocation that wrote
    there), sorted by environment and agent (in the given orders, unknown ones after them
    by name) and seed."""

    def rank(order: Sequence[str], name: str) -> tuple[int, str]:
        return (order.index(name), "") if name in order else (len(order), name)

    results = [json.loads(p.read_text()) for p in Path(out_dir).rglob("result.json")]
    return sorted(
        results,
        key=lambda r: (rank(env_order, r["env_id"]), rank(agent_order, r["agent"]), r["seed"]),
    )


def _budget(runs: list[dict[str, Any]]) -> int | str | None:
    """The training budget the runs share (None for reference agents, "mixed" if they
    differ)."""
    budgets = {r.get("config", {}).get("budget") for r in runs}
    if len(budgets) > 1:
        return "mixed"
    return budgets.pop()


def aggregate(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (environment, agent), in order of first appearance: ``env_id``,
    ``agent``, ``seeds``, ``budget`` (training env steps; None for reference agents),
    ``<key>_mean`` and ``<key>_std`` for each quantity's key (``mean_metric``,
    ``mean_return``, ``mean_gen_tokens``, ``perplexity``), ``wall_time_s`` (mean per seed)
    and ``note``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault((result["env_id"], result["agent"]), []).append(result)
    rows = []
    for (env_id, agent), runs in groups.items():
        row: dict[str, Any] = {"env_id": env_id, "agent": agent, "seeds": len(runs)}
        row["budget"] = _budget(runs)
        for _, key, _ in QUANTITIES:
            mean, std = mean_std([float(r["evaluations"][-1][key]) for r in runs])
            row[f"{key}_mean"], row[f"{key}_std"] = mean, std
        times = [float(r["wall_time_s"]) for r in runs if "wall_time_s" in r]
        row["wall_time_s"] = statistics.fmean(times) if times else math.nan
        rows.append(row)
    baselines = {r["env_id"]: r for r in rows if r["agent"] == BASELINE}
    for row in rows:
        row["note"] = honest_note(row, baselines.get(row["env_id"]))
    return rows


def honest_note(row: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """What the reader should know about ``row`` next to the ``lm-sampled`` row of its
    environment: not beating it, beating it by less than the seeds' spread, on a single
    seed or by more than the spread, and a perplexity far above it (the metric may be gamed
    with text the LM finds unlikely)."""
    if row["agent"] == BASELINE:
        return "zero-shot baseline"
    if baseline is None:
        return f"no {BASELINE} run to compare with"
    mean, base = row["mean_metric_mean"], baseline["mean_metric_mean"]
    if math.isnan(mean) or math.isnan(base):
        return "metric missing"
    delta = mean - base
    stds = [s for s in (row["mean_metric_std"], baseline["mean_metric_std"]) if not math.isnan(s)]
    spread = max(stds, default=0.0)
    notes = []
    if delta <= 0:
        notes.append(f"does not beat {BASELINE} ({delta:+.3f})")
    elif delta <= spread:
        notes.append(f"within seed spread of {BASELINE} ({delta:+.3f})")
    elif min(row["seeds"], baseline["seeds"]) == 1:
        notes.append(f"beats {BASELINE} ({delta:+.3f}) but on one seed: no spread to judge")
    else:
        notes.append(f"beats {BASELINE} ({delta:+.3f}) by more than the seeds' spread")
    ppl, base_ppl = row["perplexity_mean"], baseline["perplexity_mean"]
    if not math.isnan(ppl) and not math.isnan(base_ppl) and ppl > HACKING_RATIO * base_ppl:
        notes.append(f"perplexity {ppl / base_ppl:.0f}x {BASELINE}'s: check for reward hacking")
    return "; ".join(notes)


def results_table(results: list[dict[str, Any]]) -> str:
    """The Markdown table: per environment and agent, the training budget, mean ± std over
    seeds of the final evaluation's quantities, the wall time per seed, and the honest
    note."""
    header = ["env", "agent", "seeds", "budget", *(name for name, _, _ in QUANTITIES)]
    header += ["time/seed", "note"]
    rows = []
    for row in aggregate(results):
        budget = row["budget"]
        budget = "—" if budget is None else f"{budget:,}" if isinstance(budget, int) else budget
        cells = [row["env_id"], row["agent"], str(row["seeds"]), budget]
        cells += [mean_std_cell(row[f"{k}_mean"], row[f"{k}_std"], d) for _, k, d in QUANTITIES]
        cells += [duration(row["wall_time_s"]), row["note"]]
        rows.append(cells)
    return markdown_table(header, rows, align="llrr" + "r" * len(QUANTITIES) + "rl")


def write_csv(results: list[dict[str, Any]], path: str | Path) -> Path:
    """The aggregated rows (:func:`aggregate`) as CSV; NaN is written as an empty cell."""
    rows = aggregate(results)
    fields = ["env_id", "agent", "seeds", "budget"]
    fields += [f"{k}_{s}" for _, k, _ in QUANTITIES for s in ("mean", "std")]
    fields += ["wall_time_s", "note"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: "" if v is None or (isinstance(v, float) and math.isnan(v)) else v
                    for k, v in row.items()
                }
            )
    return path


def curve_filename(env_id: str) -> str:
    return f"curves_{env_id.replace('/', '_')}.png"


def plot_curves(results: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """One PNG per environment (``curves_<env>.png``): the task metric against training
    steps, mean over seeds with a ±std band for trained agents; reference agents (evaluated
    once) as horizontal lines with their band. Returns the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_env: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for result in results:
        by_env.setdefault(result["env_id"], {}).setdefault(result["agent"], []).append(result)
    paths = []
    for env_id, agents in by_env.items():
        fig, ax = plt.subplots(figsize=(7, 4.5))
        max_step = max(
            e["step"] for runs in agents.values() for r in runs for e in r["evaluations"]
        )
        max_step = max(max_step, 1)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (agent, runs) in enumerate(agents.items()):
            color = colors[i % len(colors)]
            label = f"{agent} (n={len(runs)})"
            if all(r.get("kind") == "reference" for r in runs):
                mean, std = mean_std([r["evaluations"][-1]["mean_metric"] for r in runs])
                ax.axhline(mean, color=color, linestyle="--", label=label)
                if not math.isnan(std):
                    ax.axhspan(mean - std, mean + std, color=color, alpha=0.1)
                continue
            points = min(len(r["evaluations"]) for r in runs)
            steps = np.array([e["step"] for e in runs[0]["evaluations"][:points]])
            values = np.array([[e["mean_metric"] for e in r["evaluations"][:points]] for r in runs])
            mean = values.mean(axis=0)
            ax.plot(steps, mean, marker="o", color=color, label=label)
            if len(runs) > 1:
                std = values.std(axis=0, ddof=1)
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.2)
        ax.set_xlim(0, max_step)
        ax.set_xlabel("training steps (tokens)")
        ax.set_ylabel("task metric (held-out)")
        ax.set_title(f"{env_id}: mean over seeds ± std")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        path = out_dir / curve_filename(env_id)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def write_summary(
    out_dir: str | Path, env_order: Sequence[str] = (), agent_order: Sequence[str] = ()
) -> tuple[str, list[dict[str, Any]], list[Path]]:
    """``results.md``, ``results.csv`` and ``curves_<env>.png`` in ``out_dir`` over every
    run under it; returns the table, the runs and the plot paths."""
    out_dir = Path(out_dir)
    everything = load_results(out_dir, env_order, agent_order)
    if not everything:
        raise FileNotFoundError(f"no result.json under {str(out_dir)!r}: run benchmarks.suite")
    table = results_table(everything)
    models = ", ".join(sorted({str(r["config"].get("model")) for r in everything}))
    splits = ", ".join(sorted({repr(r["config"].get("split")) for r in everything}))
    title = f"# textgym baselines (model {models}, held-out split {splits})"
    note = (
        "Mean ± std over seeds of the final held-out evaluation; budget: training env steps; "
        f"all {len(everything)} runs under `{out_dir}`."
    )
    (out_dir / "results.md").write_text(f"{title}\n\n{note}\n\n{table}\n")
    write_csv(everything, out_dir / "results.csv")
    return table, everything, plot_curves(everything, out_dir)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description="Rebuild a suite directory's summary.")
    parser.add_argument("out_dir", help="a benchmarks.suite output directory")
    args = parser.parse_args(argv)
    table, _, plots = write_summary(args.out_dir, ENV_ORDER, AGENTS)
    print(table)
    print("\nwrote results.md, results.csv, " + ", ".join(p.name for p in plots))
    return table


if __name__ == "__main__":
    main()
