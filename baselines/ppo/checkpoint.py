"""Resumable checkpoints: one ``checkpoint.pt`` per run directory, written atomically, and
the check that a resumed run has the config that wrote it.

A checkpoint holds the trainer's whole state (:meth:`baselines.ppo.train.Trainer.state_dict`:
policy, optimizer, KL coefficient, every RNG state, counters). The environments need none:
each iteration resets them with seeds derived from (seed, iteration), so a resumed run sees
the data an uninterrupted one sees.
"""

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from baselines.ppo.config import PPOConfig

CHECKPOINT = "checkpoint.pt"
"""The checkpoint's file name in the run's ``out_dir``."""

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
"""Config fields that may change when a run is resumed: none of them changes the data or the
updates."""


def save(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file, then a rename), so a run
    killed while writing keeps its previous checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | Path, config: PPOConfig) -> dict[str, Any]:
    """The state saved at ``path``, after checking that it was written under ``config``
    (up to :data:`RESUMABLE_CHANGES`, and ``total_iterations`` with a constant learning
    rate: such a run may be extended); a ``ValueError`` names the fields that differ."""
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    saved, current = state["config"], dataclasses.asdict(config)
    free = set(RESUMABLE_CHANGES)
    if not config.anneal_lr:
        free.add("total_iterations")
    # A field the checkpoint lacks (added to PPOConfig later) had its default then.
    defaults = dataclasses.asdict(PPOConfig(out_dir=config.out_dir))
    saved = {**defaults, **saved}
    changed = sorted(k for k in current if k not in free and saved[k] != current[k])
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {current[k]!r}" for k in changed)
        raise ValueError(
            f"the checkpoint {path} was written by a run with another config ({diffs}); "
            "resume with the same settings, or start a new run in another out_dir"
        )
    return state
