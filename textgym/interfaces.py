"""The observation, action and info interfaces of an environment, chosen once at construction.

:func:`make_interfaces` checks the modes and builds the objects they need: the observation
mode (:mod:`textgym.observations`), the action mode (:mod:`textgym.actions`) and, when either
uses them, the LM's top-k proposals (:mod:`textgym.proposals`); it also says which LM state
the environment must keep up to date.
"""

from dataclasses import dataclass

from textgym.actions import ACTION_MODES, ActionMode, make_action_mode
from textgym.arguments import check_choice
from textgym.infos import INFO_MODES, FullInfo, make_info_mode
from textgym.lm import LM
from textgym.observations import (
    EMBEDDING_MODELS,
    OBS_MODES,
    ObservationMode,
    make_observation_mode,
)
from textgym.proposals import Proposals


@dataclass
class Interfaces:
    observation: ObservationMode
    action: ActionMode
    proposals: Proposals | None
    """the LM's proposals, when the observation or the action mode uses them"""
    needs_hidden: bool
    """the LM's last hidden state must be kept up to date"""
    needs_logits: bool
    """the LM's next-token logits must be kept up to date"""
    info: FullInfo
    """the info mode"""


def make_interfaces(
    lm: LM,
    obs_mode: str,
    action_mode: str,
    *,
    max_new_tokens: int,
    max_obs_tokens: int,
    max_obs_chars: int,
    embedding_model: str,
    topk: int,
    topk_temperature: float,
    topk_top_p: float,
    kl_coef: float,
    info_mode: str = "full",
) -> Interfaces:
    check_choice("obs_mode", obs_mode, OBS_MODES)
    check_choice("action_mode", action_mode, ACTION_MODES)
    check_choice("embedding_model", embedding_model, EMBEDDING_MODELS)
    check_choice("info_mode", info_mode, INFO_MODES)
    banned = sorted(lm.special_ids - lm.eos_ids)
    proposals = Proposals(topk, topk_temperature, topk_top_p, banned)
    observation = make_observation_mode(
        obs_mode, lm, max_obs_tokens, max_obs_chars, embedding_model, proposals
    )
    action = make_action_mode(action_mode, lm, max_new_tokens, proposals)
    if kl_coef > 0 and not action.per_token:
        raise ValueError(
            f"kl_coef applies per token and needs action_mode='token' or 'topk', not "
            f"{action_mode!r}: compute the KL penalty in your trainer (baselines.ppo does)"
        )
    uses_proposals = observation.needs_logits or action.needs_logits
    return Interfaces(
        observation=observation,
        action=action,
        proposals=proposals if uses_proposals else None,
        needs_hidden=observation.needs_hidden,
        needs_logits=uses_proposals or kl_coef > 0,
        info=make_info_mode(
            info_mode, action.info_flags, topk if uses_proposals else None, kl_coef > 0
        ),
    )


__all__ = ["Interfaces", "make_interfaces"]
