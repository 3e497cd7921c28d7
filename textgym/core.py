"""The token-level text MDP that every textgym environment shares.

One episode is one task example. The environment builds a context (token ids) from the
example; the agent adds tokens (one per step, or a whole turn per step with the
``utterance`` interface) and an end-of-turn token or the per-turn token budget ends its
turn; the task scores the turn. Single-turn tasks end the episode there; multi-turn tasks
(dialogue) append the partner's reply and go on.

The phase protocol
------------------
A step runs in three phases, so that :class:`textgym.vector.TextVectorEnv` (and any other
batching consumer) can batch the LM work of many environments. Their public names:

1. act and score, in Python: :meth:`TextEnv.start_episode` (the reset),
   :meth:`TextEnv.parse_action` (validates an action and changes nothing, so a batch can be
   checked before any row moves), :meth:`TextEnv.apply_action` (plays it), then the score:
   :meth:`TextEnv.score_request` and :meth:`TextEnv.finish_step` (:func:`score_steps` scores
   many environments with one batched reward call), :meth:`TextEnv.end_episode` (a caller's
   step cap ends the episode);
2. the LM work: the partner's reply when :attr:`TextEnv.partner_due`
   (:meth:`~TextEnv.partner_request`, :meth:`~TextEnv.partner_sampling`,
   :meth:`~TextEnv.torch_generator`, :meth:`~TextEnv.partner_apply`; batched by
   :func:`partner_replies`), then the LM state over the new context tokens when
   :attr:`TextEnv.tracks_lm` (:meth:`~TextEnv.lm_pending`, :meth:`~TextEnv.lm_set_state`;
   :meth:`~TextEnv.sync_lm` does it for one environment);
3. observation and info: :meth:`TextEnv.observe` (a caller may pass the context's MiniLM
   embedding, batched, when ``observation_interface.encodes_text``).

``reset`` and ``step`` run them in a row. What is not the MDP lives in objects the
environment owns, chosen once at construction: the context buffer and the agent's turn
(:mod:`textgym.context`), prompt encoding and truncation (:mod:`textgym.prompts`), the
observation and action modes (:mod:`textgym.observations`, :mod:`textgym.actions`) and the
LM's proposals (:mod:`textgym.proposals`).

Subclasses set ``task`` and implement :meth:`TextEnv._make_reward`,
:meth:`TextEnv._prompt_messages` (or :meth:`TextEnv._prompt_text`) and
:meth:`TextEnv._score_turn`; the dialogue environment adds the partner hooks.
"""

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from textgym import models
from textgym.actions import ActionMode, ParsedAction
from textgym.arguments import (
    DatasetArg,
    check_choice,
    check_example_index,
    check_numbers,
    check_sampling,
    check_topk,
    prompt_budget,
)
from textgym.context import Context, Turn
from textgym.data import Example, load_dataset
from textgym.docs import COMMON_DOC, compose
from textgym.episode import Episode, ExampleOrder
from textgym.errors import ResetNeeded
from textgym.interfaces import make_interfaces
from textgym.lm import LM, load_lm
from textgym.lmstate import LMState
from textgym.observations import ObservationMode
from textgym.partners import partner_replies
from textgym.prompts import PROMPT_OVERFLOW, PromptEncoder
from textgym.proposals import Proposals
from textgym.rewards import Reward
from textgym.scoring import PendingStep, ScoreRequest, StepOutcome, score_requests, score_steps
from textgym.shaping import REWARD_SHAPING, KLPenalty, make_shaping

if TYPE_CHECKING:
    import torch


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

    lm: LM
    reward_fn: Reward
    episode: Episode | None
    """the current episode (None before the first reset)"""
    examples: list[Example]
    observation_interface: ObservationMode
    action_interface: ActionMode
    proposals: Proposals | None
    context: Context
    turn: Turn
    lm_state: LMState
    policy_logprob: float | None
    """With ``kl_coef > 0`` an agent may set log pi(action) before each step; the penalty is
    then the per-token KL estimate ``kl_coef * (log pi - log p_ref)``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # The spaces and common arguments are documented once, below, and appended to
        # each environment's own documentation.
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and "## Action Space" not in cls.__doc__:
            cls.__doc__ = compose(cls.__doc__)

    def __init__(
        self,
        model: str = models.DEFAULT_MODEL,
        obs_mode: str = "tokens",
        action_mode: str = "token",
        max_new_tokens: int | None = None,
        dataset: DatasetArg = None,
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
        info_mode: str = "full",
        device: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        check_choice("prompt_overflow", prompt_overflow, PROMPT_OVERFLOW)
        check_choice("reward_shaping", reward_shaping, REWARD_SHAPING)
        if render_mode is not None:
            check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        max_new_tokens = self.default_max_new_tokens if max_new_tokens is None else max_new_tokens
        max_obs_tokens = self.default_max_obs_tokens if max_obs_tokens is None else max_obs_tokens
        check_numbers(max_new_tokens, max_obs_tokens, max_obs_chars, num_turns, topk)
        check_sampling(topk_temperature, topk_top_p, kl_coef)
        self.obs_mode, self.action_mode = obs_mode, action_mode
        self.render_mode = render_mode
        self.max_new_tokens, self.num_turns = int(max_new_tokens), int(num_turns)
        self.max_obs_tokens, self.max_obs_chars = int(max_obs_tokens), int(max_obs_chars)
        self.prompt_overflow, self.reward_shaping = prompt_overflow, reward_shaping
        self.embedding_model, self.kl_coef = embedding_model, float(kl_coef)

        self.lm = load_lm(model, device=device, dtype=dtype)
        self.topk = check_topk(topk, self.lm)
        self.max_prompt_tokens = prompt_budget(
            max_prompt_tokens, self._generation_budget(), self.lm
        )
        self.examples = load_dataset(
            self.task, dataset, split, require_references=self.requires_references
        )
        self.reward_fn = self._make_reward()

        modes = make_interfaces(
            self.lm,
            obs_mode,
            action_mode,
            max_new_tokens=self.max_new_tokens,
            max_obs_tokens=self.max_obs_tokens,
            max_obs_chars=self.max_obs_chars,
            embedding_model=embedding_model,
            topk=self.topk,
            topk_temperature=topk_temperature,
            topk_top_p=topk_top_p,
            kl_coef=self.kl_coef,
            info_mode=info_mode,
        )
        self.observation_interface, self.action_interface = modes.observation, modes.action
        self.proposals = modes.proposals
        self.observation_space = self.observation_interface.space
        self.action_space = self.action_interface.space
        self.info_mode = modes.info
        self.lm_state = LMState(self.lm, modes.needs_hidden, modes.needs_logits, self.proposals)
        self.shaping = make_shaping(reward_shaping)
        self.kl_penalty = KLPenalty(self.kl_coef)
        self.prompts = PromptEncoder(
            self.lm, self.prompt_text, self.max_prompt_tokens, prompt_overflow
        )
        self.context = Context(
            self.lm, self.max_obs_tokens, self.observation_interface.decodes_text
        )
        self.turn = Turn(self.lm)
        self.order = ExampleOrder(len(self.examples))
        self.episode = None
        self._pending: PendingStep | None = None
        self._partner_due = False
        self.policy_logprob = None

    # -- hooks for the tasks ---------------------------------------------------------------
    def _make_reward(self) -> Reward:
        raise NotImplementedError

    def _prompt_text(self, content: str) -> str:
        """The prompt for plain (non-chat) tasks: the example's text by default."""
        return content

    def _prompt_messages(self, content: str) -> list[dict[str, str]]:
        """The chat messages of the prompt, for chat tasks."""
        return [{"role": "user", "content": content}]

    def _score_inputs(self, text: str) -> ScoreRequest:
        """What the reward needs to score ``text`` (the turn, or the turn so far): by
        default the example's references."""
        assert self.episode is not None
        example = self.episode.example
        return ScoreRequest(text, example.references, prompt=example.prompt)

    def _score_turn(self, text: str) -> dict[str, float]:
        """Score the agent's turn: components, with the reward under ``"reward"``. A task
        may override it to score without its reward (then it is not batched)."""
        return score_requests(self.reward_fn, [self._score_inputs(text)])[0]

    def _generation_budget(self) -> int:
        """Most tokens an episode adds to the prompt; used to bound the prompt length."""
        return self.max_new_tokens * self.num_turns

    def _on_reset(self) -> None:
        """Task-specific episode state; called at the end of :meth:`start_episode`."""

    def prompt_text(self, content: str) -> str:
        """The whole prompt string (instruction and chat markup included) of an example
        text: what the environment's LM sees before the agent's first token."""
        if self.chat:
            return self.lm.chat.render(self._prompt_messages(content))
        return self._prompt_text(content)

    # -- Gymnasium API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start an episode on the next example of a seeded shuffle of the dataset.

        ``options={"example_index": i}`` picks example ``i`` instead (evaluation sweeps).
        """
        self.start_episode(seed=seed, options=options)
        self.sync_lm()
        return self.observe()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.partner_due:  # a reply that failed last step comes before the next action
            partner_replies([self])
            self.sync_lm()
        self.apply_action(self.parse_action(action))
        outcome = score_steps([self])[0]
        if self.partner_due:  # else partner_replies([self]) has nothing to do
            partner_replies([self])
        self.sync_lm()
        obs, info = self.observe(extra=outcome.info)
        if self.render_mode == "human" and self.episode_over:
            self.render()
        return obs, outcome.reward, outcome.terminated, outcome.truncated, info

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode=")
            return None
        text = self.render_text()
        if self.render_mode == "human":
            print(text, flush=True)
            return None
        return text

    def action_masks(self) -> np.ndarray:
        """Valid actions (sb3-contrib's MaskablePPO convention): with ``topk``, which
        proposals are valid; with ``token`` all True."""
        return self.action_interface.masks()

    # -- phase 1: act and score ------------------------------------------------------------
    def example_index(self, options: dict[str, Any] | None) -> int | None:
        """``options["example_index"]`` checked (None without it); raises ``ValueError``
        naming the value. Reads no state, so a batch of options can be checked first."""
        return check_example_index((options or {}).get("example_index"), len(self.examples))

    def start_episode(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Phase 1 of a reset: draw the example, build the context, reset the episode."""
        index = self.example_index(options)
        super().reset(seed=seed)
        if seed is not None or not self.order.shuffled:
            self.order.reshuffle(self.np_random)
        if index is None:
            index = self.order.next(self.np_random)
        example = self.examples[index]
        self._torch_seed = int(self.np_random.integers(2**62))
        self._generator: torch.Generator | None = None
        prompt_ids, truncated = self.prompts.encode(index, example)
        self.episode = Episode(example, index, truncated)
        self.context.start(prompt_ids)
        self.lm_state.restart()
        self._pending = None
        self._start_turn()
        self._partner_due = False
        self._on_reset()

    def _start_turn(self) -> None:
        self.turn = Turn(self.lm)
        self.shaping.start_turn()

    def parse_action(self, action: Any) -> ParsedAction:
        """Validate ``action`` against the episode's state; changes nothing. Raises
        :class:`~textgym.errors.ResetNeeded` or :class:`~textgym.errors.InvalidAction`."""
        if self.episode is None:
            raise ResetNeeded("step() was called before reset(): call env.reset() first")
        if self.episode.over:
            raise ResetNeeded(
                "step() was called after the episode ended (terminated or truncated): "
                "call env.reset() to start a new one"
            )
        return self.action_interface.parse(action)

    def apply_action(self, parsed: ParsedAction) -> None:
        """Play a parsed action: add its tokens. The step's reward waits for the turn's
        score (:meth:`score_request`, then :meth:`finish_step`; :func:`score_steps` does
        both for many environments with one batched reward call)."""
        extra = dict(parsed.info)
        reward = self._kl_penalty(parsed.tokens[0], extra) if self.kl_coef > 0 else 0.0
        ended_by_eos = out_of_budget = False
        for token in parsed.tokens:
            self._push_agent_token(token)
            ended_by_eos = token in self.lm.eos_ids
            out_of_budget = len(self.turn) >= self.max_new_tokens
            if ended_by_eos or out_of_budget:
                break
        if parsed.close_turn and not ended_by_eos:
            # An utterance is a whole turn: it ends complete, not cut off. A shorter one
            # without an end token gets one; one that fills the budget is complete as is.
            if not out_of_budget:
                self._push_agent_token(min(self.lm.eos_ids, key=self._eos_rank))
            ended_by_eos, out_of_budget = True, False
        self._pending = PendingStep(reward, extra, ended_by_eos, out_of_budget)

    def score_request(self) -> ScoreRequest | None:
        """After :meth:`apply_action`: the turn to score (the turn so far with dense
        shaping), or None when the step needs no score."""
        pending = self._pending
        if pending is None or not (pending.turn_ended or self.shaping.dense):
            return None
        return self._score_inputs(self.generation)

    def score_turn(self, text: str) -> dict[str, float]:
        """The task's own score of ``text`` (for tasks whose :attr:`scores_in_batch` is
        False); otherwise :func:`score_steps` batches :meth:`score_request`."""
        return self._score_turn(text)

    @property
    def scores_in_batch(self) -> bool:
        """The task scores through :meth:`_score_inputs` (batchable), not its own
        :meth:`_score_turn`."""
        return type(self)._score_turn is TextEnv._score_turn

    def finish_step(self, components: dict[str, float] | None) -> StepOutcome:
        """Complete the step :meth:`apply_action` began with the score of
        :meth:`score_request` (None when it asked for none)."""
        pending, episode = self._pending, self.episode
        assert pending is not None and episode is not None, "finish_step() needs apply_action()"
        self._pending = None
        reward, extra = pending.reward, pending.extra
        terminated = truncated = False
        if pending.turn_ended:
            assert components is not None
            text, score = self.generation, float(components["reward"])
            reward += self.shaping.end(score)
            episode.components = components
            episode.turns.append(text)
            episode.turn_rewards.append(score)
            if len(episode.turns) >= self.num_turns:
                terminated, truncated = pending.ended_by_eos, not pending.ended_by_eos
                episode.over = True
            else:
                self._partner_due = True  # the next turn starts after the partner's reply
            extra["generation"] = text
        elif components is not None:
            reward += self.shaping.step(float(components["reward"]))
        episode.total += reward
        extra["turn_ended"] = pending.turn_ended
        extra["turn_truncated"] = pending.out_of_budget and not pending.ended_by_eos
        return StepOutcome(reward, terminated, truncated, extra)

    def _kl_penalty(self, token: int, extra: dict[str, Any]) -> float:
        # One token per step here (token or topk); the agent's log pi is used once.
        assert self.lm_state.logits is not None
        penalty, extra["ref_logprob"] = self.kl_penalty(
            self.lm_state.logits, token, self.policy_logprob
        )
        self.policy_logprob, extra["kl_penalty"] = None, penalty
        return -penalty

    def end_episode(self) -> None:
        """End the episode where it stands (a caller's step cap truncates it): no partner
        reply is due and the next step needs a reset."""
        assert self.episode is not None
        self.episode.over, self._partner_due = True, False

    def _eos_rank(self, token: int) -> int:
        # Close turns with the tokenizer's own EOS when it is an end token.
        return 0 if token == self.lm.tokenizer.eos_token_id else 1 + token

    def _push_agent_token(self, token: int) -> None:
        self.context.push(token)
        self.turn.push(token)

    # -- phase 2: the partner and the LM state ---------------------------------------------
    @property
    def partner_due(self) -> bool:
        """True after a non-final turn: the partner replies before the next turn."""
        return self._partner_due

    def partner_request(self) -> list[int] | None:
        """The partner LM's prompt when its reply needs the LM (the caller generates the
        reply with :meth:`partner_sampling` and passes it to :meth:`partner_apply`), else
        None."""
        return None

    def partner_sampling(self) -> dict[str, Any]:
        """Keyword arguments of ``LM.generate`` for the partner's reply."""
        return {}

    def partner_apply(self, reply_ids: list[int] | None) -> None:
        """Append the partner's reply (the generated ids, or None for a partner that needs
        no LM) to the context and start the agent's next turn."""
        self._partner_due = False
        self._start_turn()

    def torch_generator(self) -> "torch.Generator":
        """The episode's torch generator (partner sampling), seeded from ``np_random`` at
        reset."""
        import torch

        if self._generator is None:
            self._generator = torch.Generator(device="cpu").manual_seed(self._torch_seed)
        return self._generator

    @property
    def tracks_lm(self) -> bool:
        """The environment keeps the LM's state after the context (logits, hidden state)."""
        return self.lm_state.tracks

    def lm_pending(self) -> tuple[bool, list[int]]:
        """``(restart, ids)``: the context tokens the LM state does not cover yet; with
        ``restart`` the state must be rebuilt from ``ids`` (the whole context)."""
        return self.lm_state.pending(self.context)

    def lm_set_state(self, logits: "torch.Tensor", hidden: "torch.Tensor | None") -> None:
        """Store the LM state after the pending tokens (a batching caller computed it)."""
        self.lm_state.set(logits, hidden, self.context)

    def sync_lm(self) -> None:
        """Phase 2 for one environment: extend its own KV-cached stream."""
        self.lm_state.sync(self.context)

    @property
    def lm_hidden(self) -> "torch.Tensor | None":
        return self.lm_state.hidden

    # -- phase 3: observation and info -----------------------------------------------------
    def observe(
        self, embedding: "torch.Tensor | None" = None, extra: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The observation and info after phases 1 and 2: ``extra`` is what
        :meth:`apply_action` returned for the info, ``embedding`` the context's MiniLM
        embedding when a batching caller computed it. The info follows ``info_mode``."""
        info = self.text_info()
        info.update(extra or {})
        assert self.episode is not None
        return (
            self.observation_interface.observe(self, embedding),
            self.info_mode.finish(info, self.episode.index, self.episode.total),
        )

    def text_info(self) -> dict[str, Any]:
        """The full info of the current state (texts included), whatever ``info_mode``."""
        return self._info()

    def embedding_text(self) -> str:
        """The text a MiniLM embedding observation encodes: the context without markup."""
        return self.lm.decode(self.context_ids, skip_special_tokens=True)

    @property
    def context_ids(self) -> list[int]:
        """The whole context so far (prompt, agent tokens, partner turns); a copy."""
        return self.context.ids().tolist()

    @property
    def generation(self) -> str:
        """The agent's current (or just finished) turn as text, without special tokens."""
        return self.turn.text

    @property
    def example(self) -> Example | None:
        return self.episode.example if self.episode is not None else None

    @property
    def episode_over(self) -> bool:
        """The episode ended (terminated, truncated or by :meth:`end_episode`)."""
        return self.episode is None or self.episode.over

    def _info(self) -> dict[str, Any]:
        assert self.episode is not None
        info = self.episode.info(self.reward_fn.signature)
        info["generation"] = self.generation
        info["num_new_tokens"] = len(self.turn)
        if self.proposals is not None and not self.episode.over:
            info.update(self.proposals.info(self.lm))
        return info

    def render_text(self) -> str:
        """The episode so far as text (what ``render_mode="ansi"`` returns)."""
        if self.episode is None:
            return f"[{self.task}] (call reset() to start an episode)"
        return self.episode.render(self.task, self.generation)


def text_env(env: gym.Env) -> TextEnv:
    """The :class:`TextEnv` under Gymnasium's wrappers (what ``gym.make`` returns), or a
    ``TypeError`` naming what ``env`` is."""
    base = env.unwrapped
    if not isinstance(base, TextEnv):
        raise TypeError(
            f"{type(base).__name__} is not a textgym environment: pass one made with "
            "gym.make('Text...-v0') or a TextEnv"
        )
    return base


TextEnv.__init__.__doc__ = COMMON_DOC

__all__ = ["StepOutcome", "TextEnv", "partner_replies", "score_steps", "text_env"]
