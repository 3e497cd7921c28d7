"""What ``--group-by-length`` saves: one PPO batch, the same update from the same state with
and without it, tokens computed and seconds.

Plays one batch of ``--env`` episodes with the Trainer, then runs ``Trainer.update`` on it
twice from the same policy, optimizer and shuffle state: once with random minibatches, once
with length-grouped ones. Prints a Markdown table and writes ``results.json`` to ``--out``.

    python -m benchmarks.ppo_group_by_length                      # TextDialogue-v0, SmolLM2
    python -m benchmarks.ppo_group_by_length --model tiny --batch-size 4   # seconds
"""

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from baselines.ppo.config import PPOConfig
from baselines.ppo.experience import epoch_minibatches
from baselines.ppo.train import Trainer
from benchmarks.common import markdown_table


def measure(args: argparse.Namespace) -> dict[str, Any]:
    config = PPOConfig(
        env_id=args.env, model=args.model, batch_size=args.batch_size,
        minibatch_size=args.minibatch_size, update_epochs=1, max_new_tokens=args.max_new_tokens,
        eval_episodes=0, tensorboard=False, progress=False, torch_threads=args.threads,
        device=args.device, out_dir=str(Path(args.out) / "run"), seed=args.seed,
    )  # fmt: skip
    trainer = Trainer(config)
    obs, _ = trainer.envs.reset(seed=trainer.episode_seeds(0))
    batch, _ = trainer.build_batch(trainer.play(trainer.envs, obs, trainer.sample_rng))
    policy = copy.deepcopy(trainer.policy.state_dict())
    optimizer = copy.deepcopy(trainer.optimizer.state_dict())
    shuffle = trainer.shuffle_rng.get_state()
    rows = []
    for grouped in (False, True):
        trainer.policy.load_state_dict(policy)
        trainer.optimizer.load_state_dict(optimizer)
        # The minibatches update() will cut: the same draws from the same generator state.
        g = torch.Generator()
        g.set_state(shuffle)
        minibatches = epoch_minibatches(batch, config.minibatch_size, g, grouped)
        tokens = sum(batch.minibatch(mb).input_ids.numel() for mb in minibatches)
        trainer.shuffle_rng.set_state(shuffle)
        trainer.config.group_by_length = grouped
        start = time.perf_counter()
        trainer.update(batch)
        seconds = time.perf_counter() - start
        rows.append(dict(group_by_length=grouped, tokens=tokens, update_s=seconds))
    return dict(
        env=args.env, model=args.model, sequences=len(batch),
        batch_width=batch.input_ids.shape[1], minibatch_size=config.minibatch_size,
        device=str(trainer.device), threads=torch.get_num_threads(), rows=rows,
        token_saving=1 - rows[1]["tokens"] / rows[0]["tokens"],
        time_saving=1 - rows[1]["update_s"] / rows[0]["update_s"],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="TextDialogue-v0")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=16, help="episodes")
    parser.add_argument("--minibatch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/ppo_group_by_length")
    args = parser.parse_args(argv)
    result = measure(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['env']}, {result['model']}: {result['sequences']} sequences "
        f"(batch width {result['batch_width']}), minibatches of {result['minibatch_size']}\n"
    )
    header = ["group_by_length", "tokens computed", "update s"]
    rows = [
        [str(r["group_by_length"]), f"{r['tokens']:,}", f"{r['update_s']:.2f}"]
        for r in result["rows"]
    ]
    print(markdown_table(header, rows))
    print(
        f"\nsaved: {100 * result['token_saving']:.0f}% of the tokens, "
        f"{100 * result['time_saving']:.0f}% of the update time"
    )
    return result


if __name__ == "__main__":
    main()
