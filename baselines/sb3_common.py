"""What the Stable-Baselines3 agents share: config and ``--help``, training, evaluation.

Each agent script (``baselines/sb3_ppo.py`` and its siblings) subclasses :class:`SB3Config`
with its algorithm's hyperparameters and calls :func:`train` or :func:`evaluate`. The agents
act on the ``topk`` interface (``Discrete(topk)`` over the LM's proposals) and observe, by
default, the context's hidden state plus each proposal's token embedding and log-probability
(``obs_mode="proposals"``, scored by :class:`baselines.sb3_policies.ProposalPolicy`), or
only the hidden state (``obs_mode="embedding"``, ``MlpPolicy``) or the token ids
(``obs_mode="tokens"``, ``MultiInputPolicy``); training runs on textgym's batched vector
env through :class:`textgym.integrations.sb3.SB3VecEnv`. Rewards are dense by default
(each token earns the change of the task metric), so credit lands on the token that
caused it.

A run writes to ``out_dir``: ``model.zip`` (``Algo.load``), ``config.json`` (the config's
fields) and ``eval.json``, the deterministic policy on held-out examples:

    {"env_id": str, "split": "test", "episodes": int, "seed": int,
     "mean_return": float, "std_return": float, "mean_length": float,
     "mean_metric": float,   # mean of info["reward_components"]["reward"] at episode end
     "returns": [float, ...], "metrics": [float, ...], "lengths": [int, ...]}
"""

import dataclasses
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

import textgym  # noqa: F401  (registers the environment ids)
from baselines.cli import load_config, parse_config

OBS_MODES = ("proposals", "embedding", "tokens")


@dataclass
class SB3Config:
    algo: ClassVar[str] = "sb3"

    env_id: str = "TextSentiment-v0"
    """the environment id"""
    model: str = "smollm2-135m"
    """the environment's LM: smollm2-135m, tiny (random, for tests), a directory or hub id"""
    num_envs: int = 16
    """number of sub-environments in the batched vector env"""
    total_timesteps: int = 50_000
    """environment steps (tokens) to train for, summed over the sub-environments"""
    seed: int = 0
    """seed of the agent, the environments and the evaluation"""
    topk: int = 8
    """size of the LM's proposal set: the agent's action space is Discrete(topk)"""
    obs_mode: str = "proposals"
    """observation: proposals (ProposalPolicy), embedding (MlpPolicy) or tokens (MultiInputPolicy)"""
    scorer_hidden: int = 0
    """with proposals: 0 scores each proposal linearly in its embedding, >0 with an MLP this wide"""
    token_preference: bool = True
    """with proposals: score the proposals' token embeddings (False: only copy/repeat flags and log p)"""
    max_new_tokens: int | None = None
    """per-turn token budget (None: the task's default)"""
    reward_shaping: str = "dense"
    """terminal (the metric when a turn ends) or dense (each step earns the metric's change)"""
    kl_coef: float = 0.0
    """per-token reward penalty kl_coef * -log p_ref(token) under the env's frozen LM"""
    learning_rate: float = 3e-4
    """optimizer learning rate"""
    out_dir: str | None = None
    """where model.zip, config.json and eval.json go (None: runs/sb3/<algo>-<env>-<seed>)"""
    eval_episodes: int = 16
    """held-out (split=test) episodes the trained policy is evaluated on"""
    device: str = "cpu"
    """device of the LM and the policy: cpu, cuda or auto"""
    torch_threads: int = 0
    """torch intra-op threads (0: torch's default; 1 is fastest for the tiny model)"""
    verbose: int = 1
    """SB3 verbosity: 0 silent, 1 logs rollout/ep_rew_mean and the losses"""
    evaluate: str | None = None
    """evaluate the model at this path (model.zip or its run directory) instead of training"""

    def __post_init__(self) -> None:
        if self.obs_mode not in OBS_MODES:
            raise ValueError(
                f"obs_mode={self.obs_mode!r} is not supported by the SB3 agents: use one of "
                f"{', '.join(OBS_MODES)} (SB3 policies need array observations, not text)"
            )
        if self.out_dir is None:
            env = self.env_id.replace("/", "_")
            self.out_dir = f"runs/sb3/{self.algo}-{env}-{self.seed}"

    def env_kwargs(self) -> dict[str, Any]:
        """The environment arguments of this config (training and evaluation alike)."""
        kwargs: dict[str, Any] = dict(
            model=self.model,
            obs_mode=self.obs_mode,
            action_mode="topk",
            topk=self.topk,
            reward_shaping=self.reward_shaping,
            kl_coef=self.kl_coef,
            device=self.device,
        )
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = self.max_new_tokens
        return kwargs

    def policy(self) -> Any:
        """The SB3 policy (a name or a class) for this config's observation."""
        if self.obs_mode == "proposals":
            from baselines.sb3_policies import ProposalPolicy

            return ProposalPolicy
        return "MultiInputPolicy" if self.obs_mode == "tokens" else "MlpPolicy"

    def policy_kwargs(self) -> dict[str, Any]:
        """The policy's keyword arguments (``policy_kwargs`` of the SB3 algorithm)."""
        if self.obs_mode != "proposals":
            return {}
        return {"scorer_hidden": self.scorer_hidden, "token_preference": self.token_preference}

    # Fields of a subclass that configure the environment rather than the algorithm.
    env_fields: ClassVar[tuple[str, ...]] = ()

    def algo_kwargs(self) -> dict[str, Any]:
        """The algorithm's keyword arguments: the fields a subclass adds to SB3Config."""
        base = {f.name for f in dataclasses.fields(SB3Config)}
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in base and f.name not in self.env_fields
        }


# -- training -----------------------------------------------------------------------------------
def make_env(config: SB3Config) -> Any:
    """The training env: a seeded ``VecMonitor(SB3VecEnv)`` over the batched vector env."""
    from textgym.integrations.sb3 import make_sb3_vec_env

    return make_sb3_vec_env(config.env_id, config.num_envs, seed=config.seed, **config.env_kwargs())


def build_model(algo_cls: type, config: SB3Config, policy: Any = None) -> Any:
    """The SB3 model on the config's batched vector env, with the config's hyperparameters
    (``config.algo_kwargs()``) and policy (``policy`` overrides ``config.policy()``)."""
    _set_threads(config)
    policy_kwargs = config.policy_kwargs() if policy is None else {}
    return algo_cls(
        policy or config.policy(),
        make_env(config),
        learning_rate=config.learning_rate,
        seed=config.seed,
        device=config.device,
        verbose=config.verbose,
        policy_kwargs=policy_kwargs or None,
        **config.algo_kwargs(),
    )


def train(algo_cls: type, config: SB3Config, policy: Any = None, callback: Any = None) -> dict:
    """Train ``algo_cls`` on the config's env, save ``model.zip`` and ``config.json`` to
    ``out_dir``, then evaluate; returns the evaluation (also in ``eval.json``)."""
    model = build_model(algo_cls, config, policy)
    env = model.get_env()
    model.learn(total_timesteps=config.total_timesteps, callback=callback)
    assert config.out_dir is not None  # set by __post_init__
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.zip")
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    env.close()
    return evaluate(model, config)


def _set_threads(config: SB3Config) -> None:
    if config.torch_threads > 0:
        import torch

        torch.set_num_threads(config.torch_threads)


# -- evaluation ---------------------------------------------------------------------------------
def evaluate(
    model_path_or_model: Any,
    config: SB3Config,
    episodes: int | None = None,
    split: str = "test",
    algo_cls: type | None = None,
    out_path: str | Path | None = None,
) -> dict:
    """Run the deterministic policy for ``episodes`` (default ``config.eval_episodes``)
    episodes over the ``split`` examples (episode i plays example i, as
    :func:`baselines.reference.run_evaluation` does for every agent), batched on the vector
    env (:func:`evaluate_model`). A path (model.zip) needs ``algo_cls`` to load it. Writes
    the result to ``out_path`` (default ``<out_dir>/eval.json``) and returns it; the schema
    is in the module docstring."""
    _set_threads(config)
    model = model_path_or_model
    if isinstance(model, (str, Path)):
        if algo_cls is None:
            raise ValueError("evaluate() needs algo_cls to load a model from a path")
        model = load_saved(algo_cls, config, model)
    episodes = config.eval_episodes if episodes is None else episodes
    eval_env = make_eval_env(config, split, episodes)
    # The same held-out episodes (example i, seed) as the reference agents and the suite.
    result = {
        "env_id": config.env_id,
        "split": split,
        "episodes": episodes,
        "seed": config.seed,
        **evaluate_model(model, eval_env, episodes, config.seed),
    }
    eval_env.close()
    assert config.out_dir is not None  # set by __post_init__
    out_path = Path(out_path) if out_path is not None else Path(config.out_dir) / "eval.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"eval on {episodes} {split} episodes: return {result['mean_return']:.4f} "
        f"± {result['std_return']:.4f}, length {result['mean_length']:.1f}, "
        f"metric {result['mean_metric']:.4f} -> {out_path}"
    )
    return result


def load_saved(algo_cls: type, config: SB3Config, path: str | Path) -> Any:
    """A saved ``model.zip`` loaded without unpickling anything from it.

    ``Algo.load`` would rebuild the model from the zip's class parameters, which SB3 stores
    with cloudpickle (the policy class, the spaces, the schedules): loading a crafted file
    runs its code. Instead the model is built from ``config`` (the run's ``config.json``, plain
    JSON) as training built it, and only its weights are read from the zip
    (``set_parameters``: SB3 reads the ``.pth`` entries with ``torch.load(weights_only=True)``).
    """
    model = build_model(algo_cls, dataclasses.replace(config, verbose=0))
    model.set_parameters(str(path), exact_match=True, device=config.device)
    return model


EVAL_BATCH = 32  # most held-out episodes played at once


def make_eval_env(config: SB3Config, split: str, episodes: int) -> Any:
    """The evaluation env: a :class:`textgym.vector.TextVectorEnv` of the config's env
    on ``split``, one sub-environment per episode (at most :data:`EVAL_BATCH`)."""
    return gym.make_vec(
        config.env_id,
        num_envs=max(1, min(episodes, EVAL_BATCH)),
        vectorization_mode="vector_entry_point",
        split=split,
        **config.env_kwargs(),
    )


def evaluate_model(
    model: Any, eval_env: Any, episodes: int, seed: int, on_episode: Any = None
) -> dict[str, Any]:
    """The deterministic policy of an SB3 ``model`` on ``eval_env``'s held-out episodes
    (:func:`baselines.reference.run_vector_evaluation`); MaskablePPO-style models get the
    env's ``action_masks()``."""
    from baselines.reference import run_vector_evaluation

    masked = "action_masks" in inspect.signature(model.predict).parameters

    def act(obs: Any, venv: Any) -> Any:
        masks = {"action_masks": venv.action_masks()} if masked else {}
        return model.predict(obs, deterministic=True, **masks)[0]

    return run_vector_evaluation(eval_env, act, episodes, seed, on_episode)


EVAL_FIELDS = ("eval_episodes", "device", "torch_threads", "verbose")


def run(algo_cls: type, config_cls: type, argv: list[str] | None = None) -> dict:
    """An agent script's ``main``: parse the config, then train (and evaluate) or, with
    ``--evaluate PATH``, evaluate a saved model."""
    config = parse_config(config_cls, argv)
    if config.evaluate:
        return evaluate_saved(algo_cls, config_cls, config.evaluate, config)
    return train(algo_cls, config)


def evaluate_saved(algo_cls: type, config_cls: type, path: str | Path, config: Any) -> dict:
    """``--evaluate PATH``: evaluate a saved model (``model.zip`` or its run directory) under
    the environment settings of the ``config.json`` saved beside it (``config``'s if there is
    none) and ``config``'s :data:`EVAL_FIELDS`; writes ``eval.json`` beside the model."""
    path = Path(path)
    model_path = path / "model.zip" if path.is_dir() else path
    saved = model_path.parent / "config.json"
    if saved.exists():
        # The environment must be the one trained on; how to evaluate comes from the caller.
        evaluation = {k: getattr(config, k) for k in EVAL_FIELDS}
        config = dataclasses.replace(load_config(config_cls, saved), **evaluation)
    config.out_dir = str(model_path.parent)
    return evaluate(model_path, config, algo_cls=algo_cls)
