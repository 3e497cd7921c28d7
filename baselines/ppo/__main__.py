"""Train a causal LM on a textgym environment with token-level PPO, REINFORCE, RLOO or GRPO.

    python -m baselines.ppo --env TextSentiment-v0 --algo ppo --total-iterations 100

Writes metrics.csv, eval.csv, TensorBoard events (tb/), checkpoint.pt, summary.json and
the trained model (model/) to --out-dir; --resume continues a killed run.
"""

import json
import sys

from baselines.cli import parse_config
from baselines.ppo.config import PPOConfig
from baselines.ppo.train import Trainer


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(PPOConfig, argv)
    summary = Trainer(config).train()
    final = summary["final_eval"] or {}
    print(
        json.dumps(
            {k: v for k, v in final.items() if k != "returns"} | {"out_dir": config.out_dir},
            indent=2,
        )
    )
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
