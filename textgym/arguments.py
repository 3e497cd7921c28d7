"""Checks of the arguments every textgym environment takes: each error names the
argument, the value and what to pass instead."""

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, TypedDict

import numpy as np

from textgym.lm import LM

DatasetArg = str | PathLike[str] | Sequence[Mapping[str, Any]] | None
"""A dataset name, a JSONL path, or a sequence of example dicts (None: the task's default)."""


class TextEnvKwargs(TypedDict, total=False):
    """The arguments every textgym environment takes (documented in ``textgym.docs``), as
    the task constructors forward them to ``TextEnv.__init__``."""

    model: str
    obs_mode: str
    action_mode: str
    max_new_tokens: int | None
    dataset: DatasetArg
    split: str
    render_mode: str | None
    max_obs_tokens: int | None
    max_obs_chars: int
    max_prompt_tokens: int | None
    prompt_overflow: str
    topk: int
    topk_temperature: float
    topk_top_p: float
    embedding_model: str
    reward_shaping: str
    kl_coef: float
    info_mode: str
    device: str
    dtype: str | None


def check_choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported: choose one of {list(choices)}")


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_numbers(
    max_new_tokens: Any, max_obs_tokens: Any, max_obs_chars: Any, num_turns: Any, topk: Any
) -> None:
    for name, value in (
        ("max_new_tokens", max_new_tokens),
        ("max_obs_tokens", max_obs_tokens),
        ("max_obs_chars", max_obs_chars),
        ("num_turns", num_turns),
        ("topk", topk),
    ):
        check_positive_int(name, value)


def check_sampling(topk_temperature: float, topk_top_p: float, kl_coef: float) -> None:
    if not (0.0 < topk_top_p <= 1.0) or topk_temperature < 0:
        raise ValueError(
            f"topk_top_p must be in (0, 1] and topk_temperature >= 0, got "
            f"{topk_top_p!r} and {topk_temperature!r}"
        )
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef!r}")


def check_topk(topk: int, lm: LM) -> int:
    banned = lm.special_ids - lm.eos_ids
    proposable = lm.vocab_size - len(banned)
    if topk > proposable:
        raise ValueError(
            f"topk={topk} is more than the {proposable} tokens that can be proposed "
            f"(vocabulary of {lm.vocab_size} minus {len(banned)} special tokens)"
        )
    return int(topk)


def prompt_budget(max_prompt_tokens: int | None, generation_budget: int, lm: LM) -> int:
    """``max_prompt_tokens`` (by default the context length minus the generation budget, at
    most 2048), checked to leave room for the budget."""
    if max_prompt_tokens is None:
        max_prompt_tokens = min(lm.context_length - generation_budget, 2048)
    check_positive_int("max_prompt_tokens", max_prompt_tokens)
    if max_prompt_tokens + generation_budget > lm.context_length:
        raise ValueError(
            f"max_prompt_tokens={max_prompt_tokens} plus the generation budget of "
            f"{generation_budget} tokens exceeds {lm.name!r}'s context length "
            f"{lm.context_length}; lower max_prompt_tokens, max_new_tokens or num_turns"
        )
    return int(max_prompt_tokens)


def check_example_index(index: Any, n: int) -> int | None:
    """An ``options["example_index"]`` value: None, or an int in [0, n)."""
    if index is None:
        return None
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
        raise ValueError(
            f"options['example_index']={index!r} (type {type(index).__name__}) is not an "
            f"integer: pass an index in [0, {n})"
        )
    if not 0 <= index < n:
        raise ValueError(
            f"options['example_index']={index!r} is not an index into the {n} examples: "
            f"pass one in [0, {n})"
        )
    return int(index)
