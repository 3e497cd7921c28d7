"""The token-level text MDP that every textgym environment shares.

One episode is one task example. The environment builds a context (token ids) from the
example, the agent appends one token per step, and an end-of-turn token or the per-turn
token budget ends the agent's turn; the task scores the turn. Single-turn tasks end the
episode there; multi-turn tasks (dialogue) append the partner's reply and go on.

Subclasses set ``task`` and implement :meth:`TextEnv._make_reward`,
:meth:`TextEnv._prompt_messages` (or :meth:`TextEnv._prompt_text`) and
:meth:`TextEnv._score_turn`; the dialogue environment also overrides
:meth:`TextEnv._continue`.
"""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textgym import models
from textgym.data import Example, load_dataset
from textgym.errors import InvalidAction, ResetNeeded
from textgym.spaces import sanitize, text_space

OBS_MODES = ("tokens", "text")
ACTION_MODES = ("token",)
PROMPT_OVERFLOW = ("truncate", "error")
_ELLIPSIS = " ..."


class TextEnv(gym.Env):
    """Base class of the textgym environments; see the subclasses for the user docs."""

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}
    task: str = ""
    requires_references: bool = False
    default_max_new_tokens: int = 32
    default_max_obs_tokens: int = 256
    # Chat-formatted tasks render the prompt with the model's chat template; plain tasks
    # (continuation) use the prompt text as it is.
    chat: bool = True

    def __init__(
        self,
        model: str = models.DEFAULT_MODEL,
        obs_mode: str = "tokens",
        action_mode: str = "token",
        max_new_tokens: int | None = None,
        dataset: Any = None,
        split: str = "train",
        render_mode: str | None = None,
        max_obs_tokens: int | None = None,
        max_obs_chars: int = 8192,
        max_prompt_tokens: int | None = None,
        prompt_overflow: str = "truncate",
        num_turns: int = 1,
        device: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        from textgym.lm import load_lm

        _check_choice("obs_mode", obs_mode, OBS_MODES)
        _check_choice("action_mode", action_mode, ACTION_MODES)
        _check_choice("prompt_overflow", prompt_overflow, PROMPT_OVERFLOW)
        if render_mode is not None:
            _check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        max_obs_tokens = self.default_max_obs_tokens if max_obs_tokens is None else max_obs_tokens
        _check_positive_int("max_new_tokens", max_new_tokens)
        _check_positive_int("max_obs_tokens", max_obs_tokens)
        _check_positive_int("max_obs_chars", max_obs_chars)
        _check_positive_int("num_turns", num_turns)

        self.obs_mode, self.action_mode = obs_mode, action_mode
        self.render_mode = render_mode
        self.max_new_tokens, self.num_turns = int(max_new_tokens), int(num_turns)
        self.max_obs_tokens, self.max_obs_chars = int(max_obs_tokens), int(max_obs_chars)
        self.prompt_overflow = prompt_overflow

        self.lm = load_lm(model, device=device, dtype=dtype)
        budget = self._generation_budget()
        if max_prompt_tokens is None:
            max_prompt_tokens = min(self.lm.context_length - budget, 2048)
        _check_positive_int("max_prompt_tokens", max_prompt_tokens)
        if max_prompt_tokens + budget > self.lm.context_length:
            raise ValueError(
                f"max_prompt_tokens={max_prompt_tokens} plus the generation budget of {budget} "
                f"tokens exceeds {self.lm.name!r}'s context length {self.lm.context_length}; "
                "lower max_prompt_tokens, max_new_tokens or num_turns"
            )
        self.max_prompt_tokens = int(max_prompt_tokens)
        self.examples: list[Example] = load_dataset(
            self.task, dataset, split, require_references=self.requires_references
        )
        self.reward_fn = self._make_reward()

        self.action_space = spaces.Discrete(self.lm.vocab_size)
        if obs_mode == "tokens":
            ids = spaces.Box(0, self.lm.vocab_size - 1, (self.max_obs_tokens,), np.int64)
            mask = spaces.Box(0, 1, (self.max_obs_tokens,), np.int64)
            self.observation_space = spaces.Dict({"input_ids": ids, "attention_mask": mask})
        else:
            self.observation_space = text_space(self.max_obs_chars)

        self._order: np.ndarray | None = None
        self._cursor = 0
        self._example: Example | None = None
        self._ctx: list[int] = []
        self._episode_over = True
        self._started = False

    # -- hooks for the tasks ---------------------------------------------------------------
    def _make_reward(self) -> Any:
        raise NotImplementedError

    def _prompt_text(self, content: str) -> str:
        """The prompt for plain (non-chat) tasks: the example's text by default."""
        return content

    def _prompt_messages(self, content: str) -> list[dict[str, str]]:
        """The chat messages of the prompt, for chat tasks."""
        return [{"role": "user", "content": content}]

    def _score_turn(self, text: str) -> dict[str, float]:
        """Score the agent's finished turn: components, with the reward under ``"reward"``."""
        raise NotImplementedError

    def _continue(self, turn_text: str) -> list[int]:
        """Multi-turn tasks: the tokens that follow a finished (non-final) agent turn."""
        raise NotImplementedError

    def _generation_budget(self) -> int:
        """Most tokens an episode adds to the prompt; used to bound the prompt length."""
        return self.max_new_tokens * self.num_turns

    # -- Gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode on the next example of a seeded shuffle of the dataset.

        ``options={"example_index": i}`` picks example ``i`` instead (evaluation sweeps).
        """
        super().reset(seed=seed)
        if seed is not None or self._order is None:
            self._order = self.np_random.permutation(len(self.examples))
            self._cursor = 0
        options = options or {}
        if "example_index" in options:
            index = options["example_index"]
            if not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.examples):
                raise ValueError(
                    f"options['example_index']={index!r} is not an index into the "
                    f"{len(self.examples)} examples"
                )
            index = int(index)
        else:
            if self._cursor >= len(self._order):
                self._order = self.np_random.permutation(len(self.examples))
                self._cursor = 0
            index = int(self._order[self._cursor])
            self._cursor += 1
        self._example = self.examples[index]
        self._torch_seed = int(self.np_random.integers(2**62))
        self._generator = None
        self._prompt_ids, self._prompt_truncated = self._encode_prompt(self._example)
        self._ctx = list(self._prompt_ids)
        self._turn_tokens: list[int] = []
        self._turns: list[str] = []
        self._turn_rewards: list[float] = []
        self._last_components: dict[str, float] = {}
        self._episode_return = 0.0
        self._episode_over = False
        self._started = True
        self._on_reset()
        return self._observation(), self._info()

    def _on_reset(self) -> None:
        """Task-specific episode state; called at the end of :meth:`reset`."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        token = self._check_step(action)
        self._ctx.append(token)
        self._turn_tokens.append(token)
        ended_by_eos = token in self.lm.eos_ids
        out_of_budget = len(self._turn_tokens) >= self.max_new_tokens
        reward, terminated, truncated = 0.0, False, False
        if ended_by_eos or out_of_budget:
            text = self.generation
            components = self._score_turn(text)
            reward = float(components["reward"])
            self._last_components = components
            self._turns.append(text)
            self._turn_rewards.append(reward)
            if len(self._turns) >= self.num_turns:
                terminated, truncated = ended_by_eos, not ended_by_eos
                self._episode_over = True
            else:
                self._ctx.extend(self._continue(text))
                self._turn_tokens = []
        self._episode_return += reward
        info = self._info()
        if ended_by_eos or out_of_budget:
            info["generation"] = self._turns[-1]
        info["turn_ended"] = ended_by_eos or out_of_budget
        info["turn_truncated"] = out_of_budget and not ended_by_eos
        if self.render_mode == "human" and self._episode_over:
            self.render()
        return self._observation(), reward, terminated, truncated, info

    def _check_step(self, action: Any) -> int:
        if not self._started:
            raise ResetNeeded("step() was called before reset(): call env.reset() first")
        if self._episode_over:
            raise ResetNeeded(
                "step() was called after the episode ended (terminated or truncated): "
                "call env.reset() to start a new one"
            )
        return self._check_token(action)

    def _check_token(self, action: Any) -> int:
        n = self.lm.vocab_size
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise InvalidAction(
                f"action {action!r} (type {type(action).__name__}) is not a token id: the "
                f"action space is Discrete({n}), so pass one integer in [0, {n})"
            )
        if not 0 <= action < n:
            raise InvalidAction(f"action {int(action)} is outside Discrete({n}): use [0, {n})")
        return int(action)

    # -- prompt ----------------------------------------------------------------------------
    def _encode_prompt(self, example: Example) -> tuple[list[int], bool]:
        """Token ids of the example's prompt, cut to ``max_prompt_tokens`` if needed.

        Truncation policy: the example's text (not the instruction or chat markup) loses
        its end, replaced by ``" ..."``, until the prompt fits; ``prompt_overflow="error"``
        raises instead.
        """
        content = example.prompt
        ids = self._render_prompt(content)
        if len(ids) <= self.max_prompt_tokens:
            return ids, False
        if self.prompt_overflow == "error":
            raise ValueError(
                f"example {example.id!r} has a prompt of {len(ids)} tokens, more than "
                f"max_prompt_tokens={self.max_prompt_tokens}; raise max_prompt_tokens or use "
                "prompt_overflow='truncate'"
            )
        content_ids = self.lm.encode(content)
        keep = len(content_ids) - (len(ids) - self.max_prompt_tokens)
        while keep > 0:
            ids = self._render_prompt(self.lm.decode(content_ids[:keep]) + _ELLIPSIS)
            if len(ids) <= self.max_prompt_tokens:
                return ids, True
            keep -= max(1, len(ids) - self.max_prompt_tokens)
        raise ValueError(
            f"max_prompt_tokens={self.max_prompt_tokens} cannot hold even the instruction and "
            f"chat markup of example {example.id!r}; raise max_prompt_tokens"
        )

    def _render_prompt(self, content: str) -> list[int]:
        if self.chat:
            return self.lm.encode(self.lm.chat.render(self._prompt_messages(content)))
        return self.lm.encode(self._prompt_text(content))

    # -- observation, info, rendering ------------------------------------------------------
    def _observation(self) -> Any:
        if self.obs_mode == "tokens":
            n = self.max_obs_tokens
            tail = self._ctx[-n:]
            # Left padding: the newest token is always at the last position.
            input_ids = np.full(n, self.lm.pad_id, dtype=np.int64)
            mask = np.zeros(n, dtype=np.int64)
            if tail:
                input_ids[n - len(tail) :] = tail
                mask[n - len(tail) :] = 1
            return {"input_ids": input_ids, "attention_mask": mask}
        # Keep the end of the context: the newest text is what the agent acts on.
        return sanitize(self.lm.decode(self._ctx))[-self.max_obs_chars :]

    @property
    def context_ids(self) -> list[int]:
        """The whole context so far (prompt, agent tokens, partner turns); a copy."""
        return list(self._ctx)

    @property
    def generation(self) -> str:
        """The agent's current (or just finished) turn as text, without special tokens."""
        return self.lm.decode(self._turn_tokens, skip_special_tokens=True).strip()

    @property
    def example(self) -> Example | None:
        return self._example

    def _info(self) -> dict[str, Any]:
        ex = self._example
        assert ex is not None
        info: dict[str, Any] = {
            "example_id": ex.id,
            "prompt": ex.prompt,
            "generation": self.generation,
            "references": list(ex.references),
            "turn": len(self._turns),
            "num_new_tokens": len(self._turn_tokens),
            "prompt_truncated": self._prompt_truncated,
            "metric_signature": self.reward_fn.signature,
        }
        if self._last_components:
            info["reward_components"] = dict(self._last_components)
        if self._episode_over:
            info["episode_return"] = self._episode_return
        return info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode=")
            return None
        text = self._render_text()
        if self.render_mode == "human":
            print(text, flush=True)
            return None
        return text

    def _render_text(self) -> str:
        if self._example is None:
            return f"[{self.task}] (call reset() to start an episode)"
        ex = self._example
        lines = [f"[{self.task}] example {ex.id}", f"prompt:     {ex.prompt}"]
        lines += [f"turn {i + 1}:     {t}" for i, t in enumerate(self._turns)]
        if not self._episode_over:
            lines.append(f"generating: {self.generation}")
        lines += [f"reference:  {r}" for r in ex.references[:3]]
        if self._last_components:
            parts = ", ".join(f"{k}={v:.3f}" for k, v in self._last_components.items())
            lines.append(f"reward:     {parts}")
        return "\n".join(lines)

    def _torch_generator(self) -> Any:
        """The episode's torch generator, seeded from ``np_random`` at reset."""
        import torch

        if self._generator is None:
            self._generator = torch.Generator(device="cpu").manual_seed(self._torch_seed)
        return self._generator


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported: choose one of {list(choices)}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
