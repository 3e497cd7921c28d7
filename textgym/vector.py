"""A vector environment that runs the LM once per step for all its sub-environments.

``gym.make_vec(id, num_envs=N)`` builds it (it is each id's ``vector_entry_point``). The
sub-environments share one LM (``load_lm`` loads it once per process), and every step
makes one batched LM call per kind of work instead of one per sub-environment:

- the simulated dialogue partners' replies: one batched ``generate`` (each row samples
  from its own environment's seeded generator, so rows do not depend on each other);
- the LM state behind ``embedding`` observations, ``topk`` proposals and KL shaping: one
  forward over all rows' new tokens, on a shared KV cache (:mod:`textgym.batching`);
- MiniLM embeddings (``embedding_model="minilm"``): one batched encode.

Under the same seeds and actions it gives the same observations, rewards, flags and infos
as ``gymnasium.vector.SyncVectorEnv`` over the same environments (embeddings agree to
float rounding: batched matmuls round differently). Autoreset is ``NEXT_STEP`` by
default, as in ``SyncVectorEnv``: the step after an episode ends resets that
sub-environment and ignores its action. ``autoreset_mode=AutoresetMode.SAME_STEP`` (what
Stable-Baselines3 expects) resets it within the step that ends the episode and puts the
last observation and info under ``info["final_obs"]`` and ``info["final_info"]``.
``autoreset_mode=AutoresetMode.DISABLED`` never resets by itself: the caller resets the
finished rows with ``reset(options={"reset_mask": mask})`` (what TorchRL prefers); stepping
a finished row raises ``ResetNeeded`` naming it.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

from textgym.actions import ParsedAction
from textgym.core import TextEnv
from textgym.errors import InvalidAction, ResetNeeded
from textgym.partners import partner_replies
from textgym.scoring import score_steps

BatchedObs = np.ndarray | dict[str, Any] | tuple[Any, ...]
"""A batch of observations: one array (embedding), a dict of arrays (tokens, proposals) or
a tuple of strings (text)."""


class TextVectorEnv(VectorEnv):
    """``num_envs`` textgym environments of one class and configuration, batched.

    Args:
        num_envs: number of sub-environments.
        env_cls: the environment class (the per-id subclasses below set it).
        max_episode_steps: the registration's safety cap, applied per sub-environment
            (``gym.make_vec`` passes it).
        autoreset_mode: ``NEXT_STEP`` (default) or ``SAME_STEP``.
        **kwargs: the environment's arguments, the same for every sub-environment.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi"]}
    env_cls: type[TextEnv] | None = None

    def __init__(
        self,
        num_envs: int = 1,
        env_cls: type[TextEnv] | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **kwargs: Any,
    ) -> None:
        env_cls = env_cls or self.env_cls
        if env_cls is None:
            raise ValueError("TextVectorEnv needs env_cls, or use gym.make_vec(id, num_envs=N)")
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        envs = [env_cls(**kwargs) for _ in range(num_envs)]
        self._init_from_envs(envs, max_episode_steps, autoreset_mode)

    @classmethod
    def from_envs(
        cls,
        envs: Sequence[TextEnv],
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ) -> "TextVectorEnv":
        """A vector env over existing (unwrapped) environments; they must share one LM,
        class and spaces."""
        self = cls.__new__(cls)
        envs = [getattr(e, "unwrapped", e) for e in envs]
        self._init_from_envs(envs, max_episode_steps, autoreset_mode)
        return self

    def _init_from_envs(
        self, envs: list[TextEnv], max_episode_steps: int | None, autoreset_mode: Any
    ) -> None:
        mode = AutoresetMode(autoreset_mode)
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        if not envs:
            raise ValueError("a vector env needs at least one environment")
        first = envs[0]
        for i, env in enumerate(envs):
            if not isinstance(env, TextEnv):
                raise TypeError(f"sub-environment {i} is a {type(env).__name__}, not a TextEnv")
            if env.lm is not first.lm:
                raise ValueError(
                    f"sub-environment {i} uses model {env.lm!r} but sub-environment 0 uses "
                    f"{first.lm!r}: one vector env batches one LM, so give every "
                    "sub-environment the same model, device and dtype"
                )
            if type(env) is not type(first) or env.observation_space != first.observation_space:
                raise ValueError(
                    f"sub-environment {i} ({type(env).__name__}, {env.observation_space}) "
                    f"differs from sub-environment 0 ({type(first).__name__}, "
                    f"{first.observation_space}): use one class and configuration"
                )
            if env.action_space != first.action_space:
                raise ValueError(f"sub-environment {i} has a different action space")
        self.envs = envs
        self.num_envs = len(envs)
        self.lm = first.lm
        self.render_mode = first.render_mode
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._batch: Any = None
        if first.tracks_lm:
            from textgym.batching import BatchedContexts

            self._batch = BatchedContexts(
                self.lm, self.num_envs, hidden=first.lm_state.tracks_hidden
            )
        empty = create_empty_array(self.single_observation_space, self.num_envs)
        assert empty is not None  # None only for spaces without a fixed shape (Graph)
        self._observations: BatchedObs = empty
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._started = False

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-environment; an int seed gives sub-environment i ``seed + i``,
        as ``SyncVectorEnv`` does. ``options`` go to every sub-environment, except that
        ``options["example_index"]`` may also be a sequence with one index (or None) per
        sub-environment, and ``options["reset_mask"]`` (a bool array, one per
        sub-environment) resets only those rows: the others keep their episodes and
        observations, and the infos hold the reset rows only (Gymnasium's convention, what
        ``autoreset_mode=DISABLED`` consumers such as TorchRL call)."""
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        seeds = self._split_seeds(seed)
        rows = self._split_options(options or None)
        reset = np.flatnonzero(mask)
        for i in reset:  # check every row before any resets: a rejected reset changes nothing
            try:
                self.envs[i].example_index(rows[i])
            except ValueError as err:
                raise ValueError(f"sub-environment {i}: {err}") from err
        if not self._started and not mask.all():
            raise ResetNeeded("the first reset() resets every sub-environment: drop reset_mask")
        for i in reset:
            self.envs[i].start_episode(seed=seeds[i], options=rows[i])
        self._autoreset[mask] = False
        self._elapsed[mask] = 0
        self._started = True
        self._sync_lm()
        if mask.all():
            return self._finish_all([{} for _ in self.envs])
        return self._finish_all([{} for _ in self.envs], only=set(reset.tolist()), previous=None)

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
            raise TypeError(
                f"options['reset_mask'] must be a numpy bool array, got {type(mask).__name__}"
                f"{'' if not isinstance(mask, np.ndarray) else f' of dtype {mask.dtype}'}"
            )
        if mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask'] has shape {mask.shape}: give one bool per "
                f"sub-environment, shape ({self.num_envs},)"
            )
        if not mask.any():
            raise ValueError("options['reset_mask'] resets no sub-environment: set one True")
        return mask

    def _split_seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        if not isinstance(seed, (Sequence, np.ndarray)) or isinstance(seed, str):
            raise ValueError(
                f"seed={seed!r} is not an int, None or a sequence of one per sub-environment"
            )
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for i, value in enumerate(seeds):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, np.integer))
            ):
                raise ValueError(f"seed {value!r} of sub-environment {i} is not an int or None")
        return [None if value is None else int(value) for value in seeds]

    def _split_options(self, options: dict | None) -> list[dict | None]:
        index = (options or {}).get("example_index")
        if index is None or isinstance(index, (int, np.integer)):
            return [options] * self.num_envs
        if not isinstance(index, (Sequence, np.ndarray)) or isinstance(index, str):
            raise ValueError(
                f"options['example_index']={index!r} (type {type(index).__name__}) is not an "
                "integer or a sequence of one index (or None) per sub-environment"
            )
        index = list(index)
        if len(index) != self.num_envs:
            raise ValueError(
                f"options['example_index'] has {len(index)} entries for {self.num_envs} "
                "environments: give one index (or None) per sub-environment, or one int"
            )
        assert options is not None
        rest = {k: v for k, v in options.items() if k != "example_index"}
        return [rest if i is None else {**rest, "example_index": i} for i in index]

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every sub-environment. The whole batch is checked first (its shape, and
        each row's action against that row's state), so a rejected step raises naming the
        row and the value and leaves every sub-environment as it was."""
        if not self._started:
            raise ResetNeeded("step() was called before reset(): call envs.reset() first")
        if any(env.partner_due for env in self.envs):  # replies that failed last step
            partner_replies(self.envs)
            self._sync_lm()
        parsed = self._parse_actions(actions)
        n = self.num_envs
        rewards = np.zeros(n, dtype=np.float64)
        terminations = np.zeros(n, dtype=bool)
        truncations = np.zeros(n, dtype=bool)
        live = [i for i, action in enumerate(parsed) if action is not None]
        for i, (env, action) in enumerate(zip(self.envs, parsed, strict=True)):
            if action is None:  # NEXT_STEP autoreset: this step starts the next episode
                env.start_episode()
                self._elapsed[i] = 0
            else:
                env.apply_action(action)
        extras: list[dict[str, Any]] = [{} for _ in self.envs]
        outcomes = score_steps([self.envs[i] for i in live])  # one batched reward call
        for i, (reward, terminated, truncated, extra) in zip(live, outcomes, strict=True):
            self._elapsed[i] += 1
            if self.max_episode_steps is not None and self._elapsed[i] >= self.max_episode_steps:
                if not (terminated or truncated):
                    self.envs[i].end_episode()
                truncated = truncated or not terminated
            rewards[i], terminations[i], truncations[i] = reward, terminated, truncated
            extras[i] = extra
        partner_replies(self.envs)
        self._sync_lm()
        obs, infos = self._finish_all(extras)
        done = terminations | truncations
        if self.autoreset_mode == AutoresetMode.SAME_STEP and done.any():
            obs, infos = self._reset_done(np.flatnonzero(done), obs, infos)
        elif self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._autoreset = done
        # DISABLED: a finished row stays finished until reset(options={"reset_mask": ...}).
        return obs, rewards, terminations, truncations, infos

    def _parse_actions(self, actions: Any) -> list[ParsedAction | None]:
        """Every row's parsed action (None for a row that autoresets), or an error naming
        the first invalid row; changes nothing."""
        parsed: list[ParsedAction | None] = []
        for i, (env, action) in enumerate(
            zip(self.envs, self._iterate_actions(actions), strict=True)
        ):
            if self._autoreset[i]:
                parsed.append(None)
                continue
            try:
                parsed.append(env.parse_action(action))
            except (InvalidAction, ResetNeeded) as err:
                hint = ""
                if isinstance(err, ResetNeeded) and self.autoreset_mode == AutoresetMode.DISABLED:
                    hint = "; with autoreset DISABLED, reset(options={'reset_mask': done})"
                raise type(err)(
                    f"sub-environment {i}: {err}{hint} (no sub-environment was stepped)"
                ) from err
        return parsed

    def _reset_done(self, rows: np.ndarray, obs: Any, infos: dict) -> tuple[Any, dict]:
        """SAME_STEP autoreset: keep the final observations and infos, reset those rows."""
        final_obs = [None] * self.num_envs
        for i in rows:
            final_obs[i] = self._row(obs, i)
        final_infos: dict[str, Any] = {}
        for i in rows:
            final_infos = self._add_info(final_infos, self._info_row(infos, i), int(i))
        for i in rows:
            self.envs[i].start_episode()
            self._elapsed[i] = 0
        self._sync_lm()
        obs, infos = self._finish_all(
            [{} for _ in self.envs], only=set(rows.tolist()), previous=(obs, infos)
        )
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[rows] = True
        # A 1-D object array of per-env observations, as SyncVectorEnv gives (np.array of
        # equal-shaped rows would make a 2-D object array instead).
        infos["final_obs"] = np.empty(self.num_envs, dtype=object)
        for i in rows:
            infos["final_obs"][i] = final_obs[i]
        infos["_final_obs"] = mask
        infos["final_info"] = final_infos
        infos["_final_info"] = mask
        return obs, infos

    def _row(self, obs: Any, i: int) -> Any:
        if isinstance(obs, dict):
            return {k: v[i].copy() for k, v in obs.items()}
        return obs[i].copy() if isinstance(obs, np.ndarray) else obs[i]

    @classmethod
    def info_row(cls, infos: dict, i: int) -> dict:
        """Sub-environment ``i``'s info out of a batched info dict."""
        return cls._info_row(infos, i)

    @classmethod
    def _info_row(cls, infos: dict, i: int) -> dict:
        """Sub-environment i's info out of a batched info dict (inverse of ``_add_info``)."""
        row = {}
        for key, value in infos.items():
            mask = infos.get(f"_{key}")
            if key.startswith("_") or (mask is not None and not mask[i]):
                continue
            row[key] = cls._info_row(value, i) if isinstance(value, dict) else value[i]
        return row

    def _iterate_actions(self, actions: Any) -> list[Any]:
        if isinstance(actions, (list, tuple)):  # e.g. one text utterance per sub-env
            if len(actions) != self.num_envs:
                raise InvalidAction(
                    f"got {len(actions)} actions for {self.num_envs} environments: pass one "
                    "action per sub-environment"
                )
            return list(actions)
        try:
            actions = np.asarray(actions)
        except ValueError as err:  # ragged nested sequences
            raise InvalidAction(
                f"actions of type {type(actions).__name__} are not one array: pass one action "
                f"per sub-environment, shape {self.action_space.shape} ({err})"
            ) from err
        if actions.shape[:1] != (self.num_envs,):
            raise InvalidAction(
                f"actions of shape {actions.shape} do not match {self.num_envs} environments: "
                f"pass one action per sub-environment, shape {self.action_space.shape}"
            )
        return list(iterate(self.action_space, actions))

    # -- batched LM work -------------------------------------------------------------------------
    def _sync_lm(self) -> None:
        if self._batch is None:
            return
        self._batch.update([env.lm_pending() for env in self.envs])
        hidden = self._batch.hidden
        for i, env in enumerate(self.envs):
            env.lm_set_state(self._batch.logits[i], None if hidden is None else hidden[i])

    def _finish_all(
        self,
        extras: list[dict[str, Any]],
        only: set[int] | None = None,
        previous: tuple[Any, dict] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Observations and infos of every row; with ``only``, recompute those rows and take
        the others' observations from ``previous`` (the last observations when None) and
        their infos from ``previous`` too (none when None)."""
        rows = range(self.num_envs) if only is None else sorted(only)
        embeddings: dict[int, Any] = {}
        first = self.envs[0]
        if first.observation_interface.encodes_text:
            from textgym.encoders import MiniLMEncoder

            texts = [self.envs[i].embedding_text() for i in rows]
            embeddings = dict(zip(rows, MiniLMEncoder.shared().encode(texts), strict=True))
        observations: list[Any] = []
        infos: dict[str, Any] = {}
        for i, env in enumerate(self.envs):
            if i in rows:
                obs, info = env.observe(embeddings.get(i), extras[i])
            elif previous is not None:
                obs, info = self._row(previous[0], i), self._info_row(previous[1], i)
            else:
                obs, info = self._row(self._observations, i), None
            observations.append(obs)
            if info is not None:
                infos = self._add_info(infos, info, i)
        self._observations = concatenate(
            self.single_observation_space, observations, self._observations
        )
        return self._copy(self._observations), infos

    @staticmethod
    def _copy(obs: Any) -> Any:
        if isinstance(obs, dict):
            return {k: v.copy() for k, v in obs.items()}
        if isinstance(obs, np.ndarray):
            return obs.copy()
        return obs

    def set_policy_logprobs(self, logprobs: Any) -> None:
        """With ``kl_coef > 0``: the agent's log pi of the actions it is about to step, one
        per sub-environment, so the KL penalty is ``kl_coef * (log pi - log p_ref)``."""
        values = np.asarray(logprobs, dtype=np.float64).reshape(-1)
        if values.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} log-probabilities, got {values.shape}")
        for env, value in zip(self.envs, values, strict=True):
            env.policy_logprob = float(value)

    def text_infos(self) -> list[dict[str, Any]]:
        """Every sub-environment's full info of its current state, texts included (what
        ``info_mode="numeric"`` leaves out of the step's infos)."""
        return [env.text_info() for env in self.envs]

    def action_masks(self) -> np.ndarray:
        """(num_envs, k) valid-action masks for ``topk`` (MaskablePPO's convention)."""
        return np.stack([env.action_masks() for env in self.envs])

    def render(self) -> tuple[str, ...] | None:
        if self.render_mode != "ansi":
            return None
        return tuple(env.render_text() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def _vector_class(name: str, env_path: str) -> type[TextVectorEnv]:
    module, cls_name = env_path.split(":")

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        import importlib

        env_cls = getattr(importlib.import_module(module), cls_name)
        TextVectorEnv.__init__(self, num_envs=num_envs, env_cls=env_cls, **kwargs)

    return type(name, (TextVectorEnv,), {"__init__": __init__, "__module__": __name__})


TextSentimentVectorEnv = _vector_class(
    "TextSentimentVectorEnv", "textgym.envs.sentiment:TextSentimentEnv"
)
TextTranslationVectorEnv = _vector_class(
    "TextTranslationVectorEnv", "textgym.envs.translation:TextTranslationEnv"
)
TextSummarizationVectorEnv = _vector_class(
    "TextSummarizationVectorEnv", "textgym.envs.summarization:TextSummarizationEnv"
)
TextDialogueVectorEnv = _vector_class(
    "TextDialogueVectorEnv", "textgym.envs.dialogue:TextDialogueEnv"
)
