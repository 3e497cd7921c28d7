"""MaskablePPO (sb3-contrib) on a textgym environment: PPO that only plays valid proposals.

With ``topk_top_p < 1`` a proposal is valid only while the proposals ranked above it hold
less than ``topk_top_p`` of the LM's probability (at ``topk_temperature``); the env's
``action_masks()`` says which, and MaskablePPO gives the invalid ones zero probability,
in training (through ``env_method("action_masks")``) and in evaluation.

    python -m baselines.sb3_maskable_ppo --env-id TextSentiment-v0 --total-timesteps 50000
    python -m baselines.sb3_maskable_ppo --evaluate runs/sb3/maskable_ppo-TextSentiment-v0-0
"""

from dataclasses import dataclass
from typing import Any

from baselines.sb3_common import run
from baselines.sb3_ppo import PPOConfig


@dataclass
class MaskablePPOConfig(PPOConfig):
    algo = "maskable_ppo"
    env_fields = ("topk_temperature", "topk_top_p")

    topk_temperature: float = 1.0
    """temperature at which the proposals' probabilities (and so the mask) are computed"""
    topk_top_p: float = 0.9
    """nucleus mass: proposals ranked after this much probability are masked"""

    def policy(self) -> Any:
        if self.obs_mode == "proposals":
            from baselines.sb3_policies import MaskableProposalPolicy

            return MaskableProposalPolicy
        return super().policy()

    def env_kwargs(self) -> dict[str, Any]:
        return {
            **super().env_kwargs(),
            "topk_temperature": self.topk_temperature,
            "topk_top_p": self.topk_top_p,
        }


def main(argv: list[str] | None = None) -> dict:
    from sb3_contrib import MaskablePPO

    return run(MaskablePPO, MaskablePPOConfig, argv)


if __name__ == "__main__":
    main()
