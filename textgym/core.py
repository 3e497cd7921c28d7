"""The token-level text MDP that every textgym environment shares.

One episode is one task example. The environment builds a context (token ids) from the
example; the agent adds tokens (one per step, or a whole turn per step with the
``utterance`` interface) and an end-of-turn token or the per-turn token budget ends its
turn; the task scores the turn. Single-turn tasks end the episode there; multi-turn tasks
(dialogue) append the partner's reply and go on.

A step runs in three phases so that :class:`textgym.vector.TextVectorEnv` can batch the
LM work of many environments: ``_step_core`` (pure Python: apply the action, score),
the LM work (a partner reply if one is due, then one forward over the new context tokens
for ``embedding`` and ``proposals`` observations, ``topk`` proposals or KL shaping) and
``_finish`` (observation and info). A single environment runs them in a row.

Subclasses set ``task`` and implement :meth:`TextEnv._make_reward`,
:meth:`TextEnv._prompt_messages` (or :meth:`TextEnv._prompt_text`) and
:meth:`TextEnv._score_turn`; the dialogue environment adds the partner hooks.
"""

from typing import Any

import gymnasium as gym
import numpy as np

from textgym import models
from textgym.data import Example, load_dataset
from textgym.errors import ResetNeeded
from textgym.interfaces import (
    ACTION_MODES,
    EMBEDDING_MODELS,
    OBS_MODES,
    Proposals,
    action_space,
    as_token,
    as_utterance,
    observation_space,
)
from textgym.spaces import sanitize

PROMPT_OVERFLOW = ("truncate", "error")
REWARD_SHAPING = ("terminal", "dense")
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
        topk: int = 16,
        topk_temperature: float = 1.0,
        topk_top_p: float = 1.0,
        embedding_model: str = "lm",
        reward_shaping: str = "terminal",
        kl_coef: float = 0.0,
        num_turns: int = 1,
        device: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        from textgym.lm import load_lm

        _check_choice("obs_mode", obs_mode, OBS_MODES)
        _check_choice("action_mode", action_mode, ACTION_MODES)
        _check_choice("prompt_overflow", prompt_overflow, PROMPT_OVERFLOW)
        _check_choice("embedding_model", embedding_model, EMBEDDING_MODELS)
        _check_choice("reward_shaping", reward_shaping, REWARD_SHAPING)
        if render_mode is not None:
            _check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        max_obs_tokens = self.default_max_obs_tokens if max_obs_tokens is None else max_obs_tokens
        for name, value in (
            ("max_new_tokens", max_new_tokens),
            ("max_obs_tokens", max_obs_tokens),
            ("max_obs_chars", max_obs_chars),
            ("num_turns", num_turns),
            ("topk", topk),
        ):
            _check_positive_int(name, value)
        if not (0.0 < topk_top_p <= 1.0) or topk_temperature < 0:
            raise ValueError(
                f"topk_top_p must be in (0, 1] and topk_temperature >= 0, got "
                f"{topk_top_p!r} and {topk_temperature!r}"
            )
        if kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef!r}")
        if kl_coef > 0 and action_mode == "utterance":
            raise ValueError(
                "kl_coef applies per token and needs action_mode='token' or 'topk'; with "
                "'utterance' compute the KL penalty in your trainer (baselines.ppo does)"
            )

        self.obs_mode, self.action_mode = obs_mode, action_mode
        self.render_mode = render_mode
        self.max_new_tokens, self.num_turns = int(max_new_tokens), int(num_turns)
        self.max_obs_tokens, self.max_obs_chars = int(max_obs_tokens), int(max_obs_chars)
        self.prompt_overflow, self.reward_shaping = prompt_overflow, reward_shaping
        self.embedding_model, self.kl_coef = embedding_model, float(kl_coef)

        self.lm = load_lm(model, device=device, dtype=dtype)
        banned = sorted(self.lm.special_ids - self.lm.eos_ids)
        proposable = self.lm.vocab_size - len(banned)
        if topk > proposable:
            raise ValueError(
                f"topk={topk} is more than the {proposable} tokens that can be proposed "
                f"(vocabulary of {self.lm.vocab_size} minus {len(banned)} special tokens)"
            )
        self.topk = int(topk)
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

        # Which LM state the environment keeps up to date after every step.
        self.tracks_hidden = obs_mode in ("embedding", "proposals") and embedding_model == "lm"
        self.tracks_logits = action_mode == "topk" or obs_mode == "proposals" or self.kl_coef > 0
        self._proposals: Proposals | None = None
        if action_mode == "topk" or obs_mode == "proposals":
            self._proposals = Proposals(self.topk, topk_temperature, topk_top_p, banned)
        self.action_space = action_space(self)
        self.observation_space = observation_space(self)

        self._order: np.ndarray | None = None
        self._cursor = 0
        self._example: Example | None = None
        self._prompt_cache: dict[int, tuple[np.ndarray, bool]] = {}
        # The context lives after `lead` pad tokens (and a mask of `lead` zeros), so that
        # the left-padded `tokens` observation is one slice of each buffer.
        self._lead = self.max_obs_tokens
        self._ids_buf = np.full(self._lead + 1024, self.lm.pad_id, dtype=np.int64)
        self._mask_buf = np.ones(self._lead + 1024, dtype=np.int64)
        self._mask_buf[: self._lead] = 0
        self._n = 0
        self._episode_over = True
        self._started = False
        self._stream: Any = None
        # With kl_coef > 0, an agent may set this to log pi(action) before each step; the
        # penalty then is the per-token KL estimate kl_coef * (log pi - log p_ref).
        self.policy_logprob: float | None = None
        self.lm_logits: Any = None
        self.lm_hidden: Any = None

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
        """Score the agent's turn: components, with the reward under ``"reward"``."""
        raise NotImplementedError

    def _generation_budget(self) -> int:
        """Most tokens an episode adds to the prompt; used to bound the prompt length."""
        return self.max_new_tokens * self.num_turns

    @property
    def partner_due(self) -> bool:
        """True after a non-final turn: the partner replies before the next turn."""
        return self._partner_due

    def partner_request(self) -> list[int] | None:
        """The partner LM's prompt when its reply needs the LM (the caller generates the
        reply with :meth:`partner_sampling` and passes it to :meth:`partner_apply`), else
        None."""
        return None

    def partner_apply(self, reply_ids: list[int] | None) -> None:
        """Append the partner's reply (the generated ids, or None for a partner that needs
        no LM) to the context and start the agent's next turn."""
        self._partner_due = False
        self._start_turn()

    def _on_reset(self) -> None:
        """Task-specific episode state; called at the end of the reset phase."""

    # -- Gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode on the next example of a seeded shuffle of the dataset.

        ``options={"example_index": i}`` picks example ``i`` instead (evaluation sweeps).
        """
        self._reset_core(seed=seed, options=options)
        self._sync_lm()
        return self._finish()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        reward, terminated, truncated, extra = self._step_core(action)
        if self.partner_due:  # else partner_replies([self]) has nothing to do
            partner_replies([self])
        self._sync_lm()
        obs, info = self._finish()
        info.update(extra)
        if self.render_mode == "human" and self._episode_over:
            self.render()
        return obs, reward, terminated, truncated, info

    def partner_sampling(self) -> dict[str, Any]:
        """Keyword arguments of ``LM.generate`` for the partner's reply."""
        return {}

    # -- phase 1: pure Python --------------------------------------------------------------
    def _reset_core(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
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
        if index not in self._prompt_cache:
            ids, truncated = self._encode_prompt(self._example)
            # An array, so that every reset copies it into the context buffer as a memcpy
            # (from a list, numpy converts a few hundred ints one by one).
            self._prompt_cache[index] = (np.array(ids, dtype=np.int64), truncated)
        prompt_ids, self._prompt_truncated = self._prompt_cache[index]
        self._n = 0
        self._append(prompt_ids)
        self._ctx_text, self._ctx_stream = "", None
        if self.obs_mode == "text":  # only text observations decode the context as it grows
            self._ctx_text = self.lm.decode(prompt_ids.tolist())
            self._ctx_stream = self.lm.detokenizer(skip_special_tokens=False)
        self._synced = 0  # context tokens the LM state covers; 0 means "start afresh"
        self._start_turn()
        self._turns: list[str] = []
        self._turn_rewards: list[float] = []
        self._last_components: dict[str, float] = {}
        self._episode_return = 0.0
        self._episode_over = False
        self._partner_due = False
        self._started = True
        self._on_reset()

    def _start_turn(self) -> None:
        self._turn_tokens: list[int] = []
        self._gen_text = ""
        self._gen_step = self.lm.detokenizer(skip_special_tokens=True).step_fn()
        self._potential = 0.0  # dense shaping: the metric of the turn so far

    def _step_core(self, action: Any) -> tuple[float, bool, bool, dict[str, Any]]:
        """Apply the action; returns reward, terminated, truncated and extra info."""
        if not self._started:
            raise ResetNeeded("step() was called before reset(): call env.reset() first")
        if self._episode_over:
            raise ResetNeeded(
                "step() was called after the episode ended (terminated or truncated): "
                "call env.reset() to start a new one"
            )
        extra: dict[str, Any] = {}
        tokens, close_turn = self._action_tokens(action, extra)
        reward = 0.0
        if self.kl_coef > 0:
            # One token per step here (token or topk): the penalty of the chosen token,
            # kl_coef * (log pi - log p_ref) when the agent told us log pi, else the
            # reference NLL kl_coef * -log p_ref (the KL plus pi's entropy, in expectation).
            ref_logprob = float(self.lm_logits.float().log_softmax(-1)[tokens[0]])
            policy_logprob = self.policy_logprob if self.policy_logprob is not None else 0.0
            self.policy_logprob = None
            extra["ref_logprob"] = ref_logprob
            extra["kl_penalty"] = self.kl_coef * (policy_logprob - ref_logprob)
            reward -= extra["kl_penalty"]
        ended_by_eos = out_of_budget = False
        for token in tokens:
            self._push_agent_token(token)
            ended_by_eos = token in self.lm.eos_ids
            out_of_budget = len(self._turn_tokens) >= self.max_new_tokens
            if ended_by_eos or out_of_budget:
                break
        if close_turn and not ended_by_eos:
            # An utterance is a whole turn: it ends complete, not cut off. A shorter one
            # without an end token gets one; one that fills the budget is complete as is.
            if not out_of_budget:
                self._push_agent_token(min(self.lm.eos_ids, key=self._eos_rank))
            ended_by_eos, out_of_budget = True, False
        terminated = truncated = False
        turn_ended = ended_by_eos or out_of_budget
        if turn_ended:
            text = self.generation
            components = self._score_turn(text)
            score = float(components["reward"])
            reward += score - self._potential if self.reward_shaping == "dense" else score
            self._last_components = components
            self._turns.append(text)
            self._turn_rewards.append(score)
            if len(self._turns) >= self.num_turns:
                terminated, truncated = ended_by_eos, not ended_by_eos
                self._episode_over = True
            else:
                self._partner_due = True  # the next turn starts after the partner's reply
            extra["generation"] = text
        elif self.reward_shaping == "dense":
            score = float(self._score_turn(self.generation)["reward"])
            reward += score - self._potential
            self._potential = score
        self._episode_return += reward
        extra["turn_ended"] = turn_ended
        extra["turn_truncated"] = out_of_budget and not ended_by_eos
        return reward, terminated, truncated, extra

    def _eos_rank(self, token: int) -> int:
        # Close turns with the tokenizer's own EOS when it is an end token.
        return 0 if token == self.lm.tokenizer.eos_token_id else 1 + token

    def _action_tokens(self, action: Any, extra: dict[str, Any]) -> tuple[list[int], bool]:
        """The tokens an action adds, and whether the turn must close after them."""
        if self.action_mode == "token":
            return [as_token(action, self.lm.vocab_size)], False
        if self.action_mode == "topk":
            assert self._proposals is not None
            index = as_token(action, self.topk, what="proposal index")
            if not self._proposals.mask[index]:
                extra["invalid_action"] = True
                index = 0
            return [int(self._proposals.ids[index])], False
        tokens = as_utterance(action, self.lm)
        if len(tokens) > self.max_new_tokens:
            # Cut off by the budget: like a token-by-token turn that runs out of it.
            extra["utterance_truncated"] = True
            return tokens[: self.max_new_tokens], False
        return tokens, True

    def _push_agent_token(self, token: int) -> None:
        # The hot path of `tokens` mode (tens of thousands of calls a second): the common
        # case writes straight into the buffer instead of going through _append.
        if self.obs_mode == "text" or self._lead + self._n >= len(self._ids_buf):
            self._append([token])
        else:
            self._ids_buf[self._lead + self._n] = token
            self._n += 1
        self._turn_tokens.append(token)
        piece = self._gen_step(token)
        if piece:
            self._gen_text += piece

    def _append(self, ids: list[int] | np.ndarray) -> None:
        end = self._n + len(ids)
        if self._lead + end > len(self._ids_buf):
            size = self._lead + max(end, 2 * (len(self._ids_buf) - self._lead))
            self._ids_buf = np.resize(self._ids_buf, size)
            self._mask_buf = np.resize(self._mask_buf, size)
            self._mask_buf[self._lead :] = 1
        if len(ids) == 1:
            self._ids_buf[self._lead + self._n] = ids[0]
        else:
            self._ids_buf[self._lead + self._n : self._lead + end] = ids
        if self.obs_mode == "text" and self._n:
            for token in ids:
                piece = self._ctx_stream.step(token)
                if piece:
                    self._ctx_text += piece
        self._n = end

    # -- phase 2: LM state -----------------------------------------------------------------
    @property
    def tracks_lm(self) -> bool:
        return self.tracks_hidden or self.tracks_logits

    def lm_pending(self) -> tuple[bool, list[int]]:
        """``(restart, ids)``: the context tokens the LM state does not cover yet; with
        ``restart`` the state must be rebuilt from ``ids`` (the whole context)."""
        start = self._lead + self._synced
        return self._synced == 0, self._ids_buf[start : self._lead + self._n].tolist()

    def lm_set_state(self, logits: Any, hidden: Any) -> None:
        """Store the LM state after the pending tokens (the vector env calls this)."""
        self.lm_logits, self.lm_hidden = logits, hidden
        self._synced = self._n
        if self._proposals is not None:
            self._proposals.update(logits)

    def _sync_lm(self) -> None:
        if not self.tracks_lm:
            return
        restart, ids = self.lm_pending()
        if restart:
            self._stream = self.lm.stream(ids, hidden=self.tracks_hidden)
        else:
            self._stream.extend(ids)
        self.lm_set_state(self._stream.logits, self._stream.hidden)

    # -- phase 3: observation and info -----------------------------------------------------
    def _finish(self, embedding: Any = None) -> tuple[Any, dict[str, Any]]:
        return self._observation(embedding), self._info()

    def _observation(self, embedding: Any = None) -> Any:
        if self.obs_mode == "tokens":
            # Left padding: the newest token is always at the last position.
            window = slice(self._n, self._n + self._lead)
            return {
                "input_ids": self._ids_buf[window].copy(),
                "attention_mask": self._mask_buf[window].copy(),
            }
        if self.obs_mode == "text":
            # Keep the end of the context: the newest text is what the agent acts on.
            return sanitize(self._ctx_text[-self.max_obs_chars :])
        if embedding is None:
            embedding = self.lm_hidden if self.embedding_model == "lm" else self._minilm()
        context = np.asarray(embedding.float().cpu(), dtype=np.float32)
        if self.obs_mode == "embedding":
            return context
        import torch

        proposals = self._proposals
        ids = torch.as_tensor(proposals.ids, device=self.lm.device)
        table = self.lm.model.get_input_embeddings().weight
        with torch.inference_mode():
            vectors = table[ids].float().cpu().numpy()  # (k, d)
        # Copy and repetition features: does proposal i occur in the context before this
        # turn (the document, the source sentence, the user's message), or in the turn?
        start = self._lead + self._n - len(self._turn_tokens)
        before = self._ids_buf[self._lead : start]
        return {
            "context": context,
            "proposals": vectors,
            "proposal_logprobs": proposals.logprobs.copy(),
            "proposal_in_context": np.isin(proposals.ids, before).astype(np.float32),
            "proposal_in_turn": np.isin(proposals.ids, self._turn_tokens).astype(np.float32),
        }

    def embedding_text(self) -> str:
        """The text a MiniLM embedding observation encodes: the context without markup."""
        return self.lm.decode(self.context_ids, skip_special_tokens=True)

    def _minilm(self) -> Any:
        from textgym.rewards.similarity import MiniLMEncoder

        return MiniLMEncoder.shared().encode([self.embedding_text()])[0]

    @property
    def context_ids(self) -> list[int]:
        """The whole context so far (prompt, agent tokens, partner turns); a copy."""
        return self._ids_buf[self._lead : self._lead + self._n].tolist()

    @property
    def generation(self) -> str:
        """The agent's current (or just finished) turn as text, without special tokens."""
        return self._gen_text.strip()

    @property
    def example(self) -> Example | None:
        return self._example

    def action_masks(self) -> np.ndarray:
        """Valid actions (sb3-contrib's MaskablePPO convention): with ``topk``, which
        proposals are valid; otherwise all True."""
        if self.action_mode == "topk":
            assert self._proposals is not None
            return self._proposals.mask.copy()
        if self.action_mode == "token":
            return np.ones(self.lm.vocab_size, dtype=bool)
        raise TypeError("action_masks() applies to Discrete action modes ('token', 'topk')")

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
        if self._proposals is not None and not self._episode_over:
            info["proposal_ids"] = self._proposals.ids.copy()
            info["proposal_probs"] = self._proposals.probs.copy()
            info["action_mask"] = self._proposals.mask.copy()
            info["proposal_texts"] = [self.lm.decode([t]) for t in self._proposals.ids]
        if self._last_components:
            info["reward_components"] = dict(self._last_components)
        if self._episode_over:
            info["episode_return"] = self._episode_return
        return info

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

    # -- rendering -------------------------------------------------------------------------
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


def partner_replies(envs: list[TextEnv]) -> None:
    """Give every environment whose partner is due its reply. LM replies of all of them
    come from one batched ``generate`` per sampling setting (one, in practice); each row
    draws from its own environment's seeded generator, so a row does not depend on its
    batch."""
    due = [env for env in envs if env.partner_due]
    replies: dict[int, list[int] | None] = {id(env): None for env in due}
    groups: dict[tuple, list[tuple[TextEnv, list[int]]]] = {}
    for env in due:
        request = env.partner_request()
        if request is not None:
            key = tuple(sorted(env.partner_sampling().items()))
            groups.setdefault(key, []).append((env, request))
    for key, rows in groups.items():
        outputs = rows[0][0].lm.generate(
            [request for _, request in rows],
            **dict(key),
            generator=[env._torch_generator() for env, _ in rows],
        )
        replies.update((id(env), out) for (env, _), out in zip(rows, outputs, strict=True))
    for env in due:
        env.partner_apply(replies[id(env)])


def _check_choice(name: str, value: Any, choices: Any) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported: choose one of {list(choices)}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


__all__ = ["TextEnv", "partner_replies"]
