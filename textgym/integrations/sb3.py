"""Stable-Baselines3 on textgym's batched vector env.

SB3 vectorises with ``DummyVecEnv``: N environments stepped one after the other, so N LM
forwards per step. :class:`SB3VecEnv` gives SB3 a :class:`textgym.vector.TextVectorEnv`
instead (one LM, one batched forward per step), translated to SB3's ``VecEnv`` API:

- ``dones = terminated | truncated``; a finished sub-environment is reset within the step
  (Gymnasium's ``SAME_STEP`` autoreset), its last observation is in
  ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` is
  ``truncated and not terminated`` (what SB3 bootstraps on), as ``DummyVecEnv`` does;
- ``infos[i]`` of a finished sub-environment is its final info (generation, references,
  ``reward_components``, ``episode_return``); the new episode's info is in
  ``reset_infos[i]``;
- ``env_method("action_masks")`` returns one mask per sub-environment, which sb3-contrib's
  ``MaskablePPO`` stacks.

    >>> from stable_baselines3 import PPO
    >>> from textgym.integrations.sb3 import make_sb3_vec_env
    >>> env = make_sb3_vec_env("TextSentiment-v0", 4, seed=0, model="tiny",
    ...                        obs_mode="embedding", action_mode="topk")
    >>> model = PPO("MlpPolicy", env, n_steps=8, batch_size=32, seed=0).learn(32)
    >>> env.num_envs, env.observation_space.shape
    (4, (64,))
"""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

try:
    from stable_baselines3.common.vec_env import VecEnv, VecMonitor
    from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn
except ImportError as err:  # pragma: no cover - depends on the installation
    raise ImportError(
        'textgym.integrations.sb3 needs Stable-Baselines3: pip install "textgym[sb3]"'
    ) from err

from textgym.vector import TextVectorEnv


class SB3VecEnv(VecEnv):
    """An SB3 ``VecEnv`` over a :class:`TextVectorEnv` built with ``SAME_STEP`` autoreset.

    Args:
        venv: the textgym vector env, e.g. ``gym.make_vec(id, num_envs=N,
            vectorization_mode="vector_entry_point", autoreset_mode=AutoresetMode.SAME_STEP)``.
            Text observations are not supported: SB3's policies need arrays.
    """

    def __init__(self, venv: TextVectorEnv) -> None:
        venv_unwrapped = getattr(venv, "unwrapped", venv)
        if not isinstance(venv_unwrapped, TextVectorEnv):
            raise TypeError(f"SB3VecEnv wraps a textgym TextVectorEnv, got {type(venv).__name__}")
        if venv_unwrapped.autoreset_mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"SB3VecEnv needs autoreset_mode=AutoresetMode.SAME_STEP (SB3 resets within the "
                f"step that ends an episode), got {venv_unwrapped.autoreset_mode!r}: pass "
                "autoreset_mode=AutoresetMode.SAME_STEP to gym.make_vec"
            )
        if isinstance(venv_unwrapped.single_observation_space, gym.spaces.Text):
            raise ValueError(
                "SB3 policies need array observations, not text: use obs_mode='tokens' "
                "(MultiInputPolicy) or obs_mode='embedding' (MlpPolicy)"
            )
        self.venv = venv_unwrapped
        self.envs = venv_unwrapped.envs
        self._actions: np.ndarray | None = None
        super().__init__(
            venv_unwrapped.num_envs,
            venv_unwrapped.single_observation_space,
            venv_unwrapped.single_action_space,
        )

    # -- stepping --------------------------------------------------------------------------
    def reset(self) -> Any:
        """Reset every sub-environment with the seeds set by :meth:`seed` (used once, as in
        ``DummyVecEnv``); the infos go to ``reset_infos``."""
        options = self._options[0] if self._options else {}
        if any(o != options for o in self._options):
            raise ValueError(
                "TextVectorEnv resets all sub-environments with one options dict; got "
                f"different options per sub-environment: {self._options}"
            )
        obs, infos = self.venv.reset(seed=list(self._seeds), options=options or None)
        self.reset_infos = [self.venv.info_row(infos, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async must come before step_wait"
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        final_obs = infos.get("final_obs", [None] * self.num_envs)
        final_info = infos.get("final_info", {})
        sb3_infos: list[dict[str, Any]] = []
        for i in range(self.num_envs):
            if dones[i]:
                # The step's info is the finished episode's; the reset's goes to reset_infos.
                self.reset_infos[i] = self.venv.info_row(infos, i)
                info = self.venv.info_row(final_info, i)
                info["terminal_observation"] = final_obs[i]
            else:
                info = self.venv.info_row(infos, i)
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            sb3_infos.append(info)
        return obs, rewards.astype(np.float32), dones, sb3_infos

    def close(self) -> None:
        self.venv.close()

    # -- the sub-environments --------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Call a method of each sub-environment; ``"action_masks"`` gives one (k,) mask per
        sub-environment (sb3-contrib's ``get_action_masks`` stacks them)."""
        return [
            getattr(self.envs[i], method_name)(*method_args, **method_kwargs)
            for i in self._get_indices(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        # The vector env holds unwrapped environments (its own step cap replaces TimeLimit).
        return [False for _ in self._get_indices(indices)]

    def action_masks(self) -> np.ndarray:
        """(num_envs, k) valid-action masks."""
        return self.venv.action_masks()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]

    def render(self, mode: str | None = None) -> Any:
        """With ``render_mode="ansi"``, the sub-environments' episodes as text (a tuple)."""
        if mode not in (None, self.render_mode):
            gym.logger.warn(f"render mode {mode!r} differs from the env's {self.render_mode!r}")
            return None
        return self.venv.render()


def make_sb3_vec_env(
    env_id: str, num_envs: int, seed: int | None = None, **env_kwargs: Any
) -> VecMonitor:
    """``VecMonitor(SB3VecEnv(...))`` over ``num_envs`` sub-environments of ``env_id``;
    VecMonitor puts each finished episode's return and length in ``info["episode"]`` (SB3
    logs them as ``rollout/ep_rew_mean``). ``seed`` seeds the first reset (sub-environment
    i gets ``seed + i``); ``env_kwargs`` are the environment's arguments."""
    venv = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        autoreset_mode=AutoresetMode.SAME_STEP,
        **env_kwargs,
    )
    assert isinstance(venv, TextVectorEnv)  # the ids' vector_entry_point
    env = SB3VecEnv(venv)
    if seed is not None:
        env.seed(seed)
    return VecMonitor(env)


__all__ = ["SB3VecEnv", "make_sb3_vec_env"]
