"""Training logs with stable keys: a CSV file always, TensorBoard events when installed.

The keys are fixed here, so that a CSV header, a TensorBoard tag and a plot stay
comparable across runs and versions. ``metrics.csv`` has one row per iteration and
``eval.csv`` one per evaluation; on resume, rows past the checkpoint's iteration (logged
by the killed run after its last checkpoint) are dropped before the run goes on.
"""

import csv
import math
import sys
from pathlib import Path
from typing import Any

TRAIN_KEYS = (
    "iteration",
    "episodes",
    "charts/episodic_return",
    "charts/episodic_return_std",
    "charts/response_tokens",
    "charts/eos_fraction",
    "charts/learning_rate",
    "charts/tokens_per_sec",
    "charts/episodes_per_sec",
    "objective/kl",
    "objective/kl_coef",
    "objective/entropy",
    "objective/non_score_reward",
    "losses/policy_loss",
    "losses/value_loss",
    "losses/clipfrac",
    "losses/vf_clipfrac",
    "losses/approx_kl",
    "losses/explained_variance",
    "losses/grad_norm",
    "time/generate",
    "time/env_step",
    "time/reference",
    "time/update",
    "time/iteration",
)
"""One row of ``metrics.csv`` per iteration. ``charts/episodic_return``: mean over the
iteration's episodes of the environment's summed reward (no KL term);
``charts/response_tokens``: mean tokens per agent turn; ``objective/kl``: mean over
episodes of the summed per-token log-ratio log pi - log pi_ref; ``objective/entropy``:
mean negative log-prob of the sampled tokens; ``losses/*``: means over the update's
minibatches; ``time/*``: seconds of each phase of the iteration."""

EVAL_KEYS = (
    "iteration",
    "eval/mean_return",
    "eval/std_return",
    "eval/response_tokens",
    "eval/eos_fraction",
)
"""One row of ``eval.csv`` per evaluation on held-out (``split="test"``) episodes."""


class MetricsLog:
    """Appends rows of fixed keys to ``<out_dir>/<name>.csv`` and mirrors them to TensorBoard
    (``<out_dir>/tb``) when ``tensorboard`` is set and the package is installed."""

    def __init__(self, out_dir: str | Path, tensorboard: bool, resume_after: int | None) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.files = {"metrics": TRAIN_KEYS, "eval": EVAL_KEYS}
        for name, keys in self.files.items():
            _prepare(self.out_dir / f"{name}.csv", keys, resume_after)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print(
                    "textgym ppo: tensorboard is not installed, so only metrics.csv is "
                    "written (pip install tensorboard, or pass --no-tensorboard)",
                    file=sys.stderr,
                )
            else:
                self.writer = SummaryWriter(str(self.out_dir / "tb"), purge_step=resume_after)

    def log(self, name: str, row: dict[str, Any]) -> None:
        keys = self.files[name]
        unknown = set(row) - set(keys)
        if unknown:
            raise KeyError(f"keys {sorted(unknown)} are not in the stable {name} keys: add them")
        with open(self.out_dir / f"{name}.csv", "a", newline="") as f:
            csv.DictWriter(f, fieldnames=keys).writerow({k: row.get(k, "") for k in keys})
        if self.writer is not None:
            step = int(row["iteration"])
            for key, value in row.items():
                if key != "iteration" and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_csv(path: str | Path) -> list[dict[str, float]]:
    """The rows of a metrics or eval CSV file, as floats."""
    with open(path, newline="") as f:
        return [
            {k: float(v) if v != "" else math.nan for k, v in r.items()} for r in csv.DictReader(f)
        ]


def _prepare(path: Path, keys: tuple[str, ...], resume_after: int | None) -> None:
    """A fresh file with the header, or on resume the old rows up to ``resume_after``."""
    rows: list[dict[str, str]] = []
    if resume_after is not None and path.exists():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= resume_after]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
