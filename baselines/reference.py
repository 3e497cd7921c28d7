"""Reference agents that run on every environment, and the evaluation they share with the
trained agents of ``benchmarks.suite``.

- ``random``: uniform over the environment's action space (``token`` mode: any of the
  vocabulary's ids), seeded. A floor: what a policy that ignores the text gets.
- ``lm-greedy``: :class:`baselines.lm_policy.LMPolicy` at temperature 0.
- ``lm-sampled``: the same LM sampled at temperature 0.7, top-p 0.9: the zero-shot
  baseline a trained agent has to beat.

Evaluation walks the held-out examples (``split="test"``) in order,
``reset(options={"example_index": i})`` for episode ``i`` (wrapping around when there are
fewer examples than episodes), so every agent and every seed sees the same examples. Each
episode's reset is seeded with ``seed * 10_000 + i``, which fixes whatever the environment
samples (a simulated dialogue user) independently of earlier episodes.

Besides returns and lengths it reports the **task metric** (``reward_components["reward"]``
of the last turn; for dialogue the mean over the agent's turns) and the **perplexity** of
the agent's tokens under the environment's frozen LM, from one forward over the final
context: a policy that games the reward with text the LM finds unlikely shows up there.

    python -m baselines.reference --agent lm-sampled --env-id TextSentiment-v0 --episodes 8
"""

import argparse
import json
import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import textgym  # noqa: F401  (registers the environment ids)
from textgym.core import text_env

REFERENCE_AGENTS = ("random", "lm-greedy", "lm-sampled")
# Sampling of the LM agents: (temperature, top_p).
LM_SAMPLING = {"lm-greedy": (0.0, 1.0), "lm-sampled": (0.7, 0.9)}
SEED_STRIDE = 10_000  # episode i of seed s resets with seed s * SEED_STRIDE + i

# act(obs, env) -> action; reset_agent() is called after every env.reset().
Act = Callable[[Any, gym.Env], Any]


def generation_perplexity(lm: Any, context_ids: list[int], positions: list[int]) -> dict:
    """NLL of the tokens at ``positions`` of ``context_ids`` given everything before them,
    from one forward of ``lm.model`` over the whole context.

    Returns ``{"nll_sum": float, "tokens": int, "perplexity": exp(nll_sum / tokens)}``
    (perplexity NaN when there are no tokens).
    """
    import torch

    positions = [p for p in positions if p > 0]  # the first token has no context to score
    if not positions:
        return {"nll_sum": 0.0, "tokens": 0, "perplexity": math.nan}
    input_ids = torch.tensor([context_ids], dtype=torch.long, device=lm.device)  # (1, T)
    with torch.inference_mode():
        logits = lm.model(input_ids=input_ids).logits[0].float()  # (T, V)
    logprobs = logits.log_softmax(-1)
    index = torch.tensor(positions, device=logits.device)
    targets = input_ids[0, index]
    nll = -logprobs[index - 1, targets]  # logits at p-1 predict the token at p
    nll_sum = float(nll.sum())
    return {
        "nll_sum": nll_sum,
        "tokens": len(positions),
        "perplexity": math.exp(nll_sum / len(positions)),
    }


def run_evaluation(
    env: gym.Env,
    act: Act,
    episodes: int,
    seed: int,
    reset_agent: Callable[[], None] | None = None,
    on_episode: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Play ``episodes`` held-out episodes with ``act``; returns the evaluation dict
    (per-episode lists and their summaries, see :func:`summarize`). ``on_episode`` is
    called after each episode (a progress bar)."""
    base = text_env(env)
    n_examples = len(base.examples)
    log = EpisodeLog(episodes)
    for i in range(episodes):
        obs, info = env.reset(
            seed=seed * SEED_STRIDE + i, options={"example_index": i % n_examples}
        )
        if reset_agent is not None:
            reset_agent()
        total, steps, done = 0.0, 0, False
        positions: list[int] = []
        turn_metrics: list[float] = []
        while not done:
            start = len(base.context_ids)
            obs, reward, terminated, truncated, info = env.step(act(obs, env))
            # token and topk modes add one agent token, at the end of the old context
            # (a dialogue partner's reply, if any, comes after it).
            positions.append(start)
            total += float(reward)
            steps += 1
            done = terminated or truncated
            if info.get("turn_ended"):
                turn_metrics.append(float(info["reward_components"]["reward"]))
        log.record(i, total, steps, turn_metrics, base.lm, base.context_ids, positions, info)
        if on_episode is not None:
            on_episode()
    return log.summary()


def run_vector_evaluation(
    venv: Any,
    act: Callable[[Any, Any], Any],
    episodes: int,
    seed: int,
    on_episode: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """:func:`run_evaluation` on a :class:`textgym.vector.TextVectorEnv`: the same episodes
    (episode i plays example i with reset seed ``seed * SEED_STRIDE + i``) and the same
    summary, ``venv.num_envs`` episodes at a time with one batched LM forward per step.
    ``act(obs, venv)`` returns one action per sub-environment (token or topk mode). Rows
    past ``episodes`` in the last batch are played and ignored."""
    base = venv.unwrapped
    rows = base.num_envs
    n_examples = len(base.envs[0].examples)
    log = EpisodeLog(episodes)
    for first in range(0, episodes, rows):
        ids = list(range(first, first + rows))
        obs, infos = base.reset(
            seed=[seed * SEED_STRIDE + i for i in ids],
            options={"example_index": [i % n_examples for i in ids]},
        )
        done = np.array([i >= episodes for i in ids])
        totals, steps = [0.0] * rows, [0] * rows
        positions: list[list[int]] = [[] for _ in ids]
        turn_metrics: list[list[float]] = [[] for _ in ids]
        while not done.all():
            starts = [len(env.context_ids) for env in base.envs]
            obs, rewards, terminated, truncated, infos = base.step(act(obs, base))
            for r in np.flatnonzero(~done):
                positions[r].append(starts[r])  # one agent token, at the end of the context
                totals[r] += float(rewards[r])
                steps[r] += 1
                info = None
                if infos["turn_ended"][r]:
                    info = base.info_row(infos, int(r))
                    turn_metrics[r].append(float(info["reward_components"]["reward"]))
                if not (terminated[r] or truncated[r]):
                    continue
                done[r] = True
                env = base.envs[r]
                info = info if info is not None else base.info_row(infos, int(r))
                log.record(
                    ids[r], totals[r], steps[r], turn_metrics[r], env.lm, env.context_ids,
                    positions[r], info,
                )  # fmt: skip
                if on_episode is not None:
                    on_episode()
    return log.summary()


class EpisodeLog:
    """The per-episode lists of an evaluation, filled by episode index (in any order, as
    the vector evaluation finishes episodes), and their :func:`summarize`."""

    def __init__(self, episodes: int) -> None:
        self.episodes = episodes
        self.returns, self.lengths = [0.0] * episodes, [0] * episodes
        self.metrics, self.perplexities = [math.nan] * episodes, [math.nan] * episodes
        self.gen_tokens: list[int] = [0] * episodes
        self.generations: list[list[str]] = [[] for _ in range(episodes)]
        self.nll_sum, self.scored_tokens = 0.0, 0

    def record(
        self,
        i: int,
        total: float,
        steps: int,
        turn_metrics: list[float],
        lm: Any,
        context_ids: list[int],
        positions: list[int],
        info: dict,
    ) -> None:
        """Episode ``i``: its return and length, the mean task metric of its turns, and the
        perplexity of its agent tokens (``positions`` of ``context_ids``) under ``lm``."""
        ppl = generation_perplexity(lm, context_ids, positions)
        self.nll_sum += ppl["nll_sum"]
        self.scored_tokens += ppl["tokens"]
        self.returns[i], self.lengths[i] = total, steps
        self.metrics[i] = float(np.mean(turn_metrics)) if turn_metrics else math.nan
        self.gen_tokens[i] = len(positions)
        self.perplexities[i] = ppl["perplexity"]
        self.generations[i] = info.get("agent_turns", [info.get("generation", "")])

    def summary(self) -> dict[str, Any]:
        return summarize(
            self.episodes, self.returns, self.lengths, self.metrics, self.gen_tokens,
            self.perplexities, self.generations, self.nll_sum, self.scored_tokens,
        )  # fmt: skip


def summarize(
    episodes: int,
    returns: list[float],
    lengths: list[int],
    metrics: list[float],
    gen_tokens: list[int],
    perplexities: list[float],
    generations: list[list[str]],
    nll_sum: float,
    scored_tokens: int,
) -> dict[str, Any]:
    """The evaluation dict: the per-episode lists, their means and standard deviations
    (over episodes), and ``perplexity`` pooled over the episodes: exp(total NLL / total
    scored tokens)."""
    evaluation: dict[str, Any] = dict(
        episodes=episodes,
        returns=returns,
        lengths=lengths,
        metrics=metrics,
        gen_tokens=gen_tokens,
        perplexities=perplexities,
        generations=generations,
        nll_sum=nll_sum,
        scored_tokens=scored_tokens,
    )
    out = dict(evaluation)
    for key, name in (("returns", "return"), ("metrics", "metric"), ("gen_tokens", "gen_tokens")):
        values = np.asarray(evaluation[key], dtype=float)
        out[f"mean_{name}"] = float(np.mean(values))
        out[f"std_{name}"] = float(np.std(values))
    out["mean_length"] = float(np.mean(evaluation["lengths"]))
    tokens = evaluation["scored_tokens"]
    out["perplexity"] = math.exp(evaluation["nll_sum"] / tokens) if tokens else math.nan
    return out


def make_reference_env(
    env_id: str, model: str, split: str = "test", env_kwargs: dict | None = None
) -> gym.Env:
    """The evaluation environment of a reference agent: token actions, token observations."""
    kwargs = {"model": model, **(env_kwargs or {}), "action_mode": "token", "split": split}
    return gym.make(env_id, **kwargs)


def reference_actor(agent: str, env: gym.Env, seed: int) -> tuple[Act, Callable[[], None]]:
    """``(act, reset_agent)`` of a reference agent on ``env`` (token action mode)."""
    if agent == "random":
        space = env.action_space
        space.seed(seed)
        return (lambda obs, env: space.sample()), (lambda: None)
    if agent in LM_SAMPLING:
        from baselines.lm_policy import LMPolicy, LMPolicyConfig

        temperature, top_p = LM_SAMPLING[agent]
        policy = LMPolicy(env, LMPolicyConfig(temperature=temperature, top_p=top_p, seed=seed))
        return (lambda obs, env: policy.act()), policy.reset
    raise ValueError(f"unknown reference agent {agent!r}: use one of {', '.join(REFERENCE_AGENTS)}")


def evaluate_reference(
    agent: str,
    env_id: str,
    model: str,
    episodes: int,
    seed: int,
    split: str = "test",
    env_kwargs: dict | None = None,
    on_episode: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Evaluate a reference agent (``random``, ``lm-greedy``, ``lm-sampled``) for
    ``episodes`` episodes of ``split``. Returns per-episode ``returns``, ``lengths``,
    ``metrics`` (task metric), ``gen_tokens``, ``perplexities``, ``generations`` and their
    means (``mean_metric``, ``mean_return``, ``mean_gen_tokens``, ``perplexity``, ...)."""
    env = make_reference_env(env_id, model, split, env_kwargs)
    act, reset_agent = reference_actor(agent, env, seed)
    try:
        result = run_evaluation(env, act, episodes, seed, reset_agent, on_episode)
    finally:
        env.close()
    return {"agent": agent, "env_id": env_id, "split": split, "seed": seed, **result}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", choices=REFERENCE_AGENTS, default="lm-sampled")
    parser.add_argument("--env-id", default="TextSentiment-v0", help="environment id")
    parser.add_argument("--model", default="smollm2-135m", help="the environment's LM")
    parser.add_argument("--episodes", type=int, default=8, help="held-out episodes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agent and resets")
    parser.add_argument("--split", default="test", help="train, test or all")
    args = parser.parse_args(argv)
    result = evaluate_reference(
        args.agent, args.env_id, args.model, args.episodes, args.seed, args.split
    )
    summary = {k: v for k, v in result.items() if not isinstance(v, list)}
    print(json.dumps(summary, indent=2))
    return result


if __name__ == "__main__":
    main()
