"""The PPO update: :func:`train_epochs` runs ``update_epochs`` passes of shuffled minibatches
of an iteration's :class:`~baselines.ppo.experience.Experience` through :class:`UpdateStep`,
the minibatch step (loss, backward, gradient clip, AdamW), run eagerly or replayed from CUDA
graphs.

An eager step of a 30-layer model at minibatch 16 is bound by kernel launches: on an H100
the GPU idles while Python and the CUDA driver queue a few thousand small kernels (about
140 ms a step for the SmolLM2 shape, ``benchmarks/results/ppo_throughput``). With
``cuda_graph=True`` :class:`UpdateStep` captures the whole step (forward, loss, backward,
clip, fused AdamW) once per minibatch shape and then replays it, one launch per step: a
Trainer iteration's 16 steps there went from 2.21 s to 0.35 s.

Shapes. A CUDA graph replays fixed shapes, and minibatches vary in width. Each minibatch is
cut to its own columns as in the eager step, with both widths rounded up to a multiple of
``bucket`` (16) and the rows padded to ``minibatch_size`` (copies of a row with no response
tokens); every loss term averages over the response mask, so the padding changes nothing.
The first minibatch of a shape runs eagerly (it is a real step, and the warm-up PyTorch asks
for before a capture); the second captures that shape's graph, which every later minibatch
of the shape replays. A run sees a handful of shapes (prompt widths x response widths).

The graphs share one memory pool: a replay overwrites what the other graphs left in it, so
a graph's outputs (the step's loss statistics) are copied out right after its replay, and
nothing else of one graph is read after another ran. Gradients are made inside each graph
(set to None before every capture and eager step). The optimizer must be ``capturable`` with
a tensor learning rate (:func:`make_optimizer`): the graph reads the rate and the Adam
state where they are, so :func:`set_lr` changes the rate in place, and loading a state
dict into the optimizer (which replaces its state tensors) must be followed by
:meth:`UpdateStep.reset`; the policy's ``load_state_dict`` copies in place and needs none.

``compile=True`` puts the forward and loss through ``torch.compile`` (fused elementwise
kernels; with a graph, 17.7 ms against 42.6 ms on the GPT-2 shape at 64 x 112), with static
shapes: minibatches are bucketed as for a graph, and the first minibatch of each bucket
compiles (about a minute for GPT-2's 12 layers, several for a 30-layer model; past torch's
``recompile_limit`` of 8 buckets, new ones run uncompiled).
"""

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from baselines.ppo import core
from baselines.ppo.advantages import make_algorithm
from baselines.ppo.config import PPOConfig
from baselines.ppo.experience import Experience, epoch_minibatches
from baselines.ppo.policy import PolicyWithValue

if TYPE_CHECKING:
    from torch.cuda import _POOL_HANDLE


def make_optimizer(policy: PolicyWithValue, config: PPOConfig, cuda_graph: bool) -> Optimizer:
    """AdamW over the policy: fused on CUDA; with ``cuda_graph``, capturable and with a
    tensor learning rate on the policy's device (what a captured step needs)."""
    device = next(policy.parameters()).device
    cuda = device.type == "cuda"
    lr: float | Tensor = config.learning_rate
    if cuda_graph:
        lr = torch.tensor(config.learning_rate, dtype=torch.float32, device=device)
    return torch.optim.AdamW(
        policy.parameters(),
        lr=lr,
        eps=1e-5,
        weight_decay=0.0,
        fused=cuda,
        capturable=cuda_graph,
    )


def set_lr(optimizer: Optimizer, lr: float) -> None:
    """Set every group's learning rate; a tensor rate (a captured step reads it) in place."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def load_optimizer_state(optimizer: Optimizer, state: dict[str, Any], cuda_graph: bool) -> None:
    """``optimizer.load_state_dict(state)``, keeping what this run's step needs whatever run
    wrote ``state``: ``capturable`` and a tensor learning rate with ``cuda_graph`` (a float
    one without), and Adam's step counters on the parameters' device."""
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        device = group["params"][0].device
        lr = float(group["lr"])
        group["lr"] = torch.tensor(lr, dtype=torch.float32, device=device) if cuda_graph else lr
        group["capturable"] = cuda_graph
        for param in group["params"]:
            step = optimizer.state.get(param, {}).get("step")
            if isinstance(step, Tensor) and (cuda_graph or group.get("fused")):
                optimizer.state[param]["step"] = step.to(device, torch.float32)


def minibatch_loss(
    policy: PolicyWithValue, mb: Experience, config: PPOConfig, critic: bool | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """The minibatch's loss (clipped policy loss, plus ``vf_coef`` x the clipped value loss
    with a ``critic``) and its detached statistics, keyed as in ``metrics.csv``. ``critic``
    None: whether ``config.algo`` trains one (:func:`~baselines.ppo.advantages.make_algorithm`).
    """
    if critic is None:
        critic = make_algorithm(config).uses_critic
    cuda = mb.input_ids.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        logprobs, values = policy.evaluate(mb.input_ids, mb.attention_mask, mb.prompt_width)
    pg_loss, clipfrac, approx_kl = core.policy_loss(
        logprobs.float(), mb.logprobs, mb.advantages, mb.response_mask, config.clip_coef
    )
    loss = pg_loss
    v_loss = vf_clipfrac = torch.zeros((), device=mb.input_ids.device)
    if critic:
        v_loss, vf_clipfrac = core.value_loss(
            values.float(), mb.values, mb.returns, mb.response_mask, config.vf_clip_coef
        )
        loss = loss + config.vf_coef * v_loss
    stats = {
        "losses/policy_loss": pg_loss.detach(),
        "losses/value_loss": v_loss.detach(),
        "losses/clipfrac": clipfrac,
        "losses/vf_clipfrac": vf_clipfrac,
        "losses/approx_kl": approx_kl,
    }
    return loss, stats


class UpdateStep:
    """One gradient step on a minibatch of an :class:`Experience`: ``step(batch, rows)``
    returns the step's statistics (the ``losses/*`` keys of ``metrics.csv``, device
    tensors).

    Args:
        policy: the policy being trained.
        optimizer: its optimizer; :func:`make_optimizer` with the same ``cuda_graph``.
        config: the run's config (loss coefficients, ``max_grad_norm``, ``minibatch_size``).
        cuda_graph: capture and replay the step per minibatch shape (CUDA only).
        compile: put the forward and loss through ``torch.compile``.
        bucket: widths are rounded up to multiples of this under ``cuda_graph``.
        critic: also train the value head (the algorithm's ``uses_critic``); None: whether
            ``config.algo`` trains one.
    """

    def __init__(
        self,
        policy: PolicyWithValue,
        optimizer: Optimizer,
        config: PPOConfig,
        cuda_graph: bool = False,
        compile: bool = False,
        bucket: int = 16,
        critic: bool | None = None,
    ) -> None:
        device = next(policy.parameters()).device
        if cuda_graph and device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs a policy on CUDA, not on {device}")
        if cuda_graph and not all(g.get("capturable") for g in optimizer.param_groups):
            raise ValueError(
                "cuda_graph=True needs a capturable optimizer with a tensor learning rate: "
                "build it with baselines.ppo.update.make_optimizer(..., cuda_graph=True)"
            )
        self.policy, self.optimizer, self.config = policy, optimizer, config
        self.cuda_graph, self.bucket = cuda_graph, bucket
        self.critic = make_algorithm(config).uses_critic if critic is None else critic
        # Static shapes, compiled once per shape bucket: torch 2.11's Inductor failed an
        # internal assertion (tiling_utils) when recompiling this loss with dynamic shapes.
        self._loss = torch.compile(minibatch_loss, dynamic=False) if compile else minibatch_loss
        self._bucketed = cuda_graph or compile
        self._graphs: dict[
            tuple[int, ...], tuple[torch.cuda.CUDAGraph, Experience, dict[str, Tensor]]
        ] = {}
        self._seen: set[tuple[int, ...]] = set()
        self._pool: _POOL_HANDLE | None = None

    def reset(self) -> None:
        """Forget the captured graphs (after a state dict was loaded into the optimizer:
        the graphs read the state tensors they were captured with)."""
        self._graphs.clear()
        self._seen.clear()
        self._pool = None

    def _step(self, mb: Experience) -> dict[str, Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        loss, stats = self._loss(self.policy, mb, self.config, self.critic)
        loss.backward()
        stats["losses/grad_norm"] = torch.nn.utils.clip_grad_norm_(
            self.policy.parameters(), self.config.max_grad_norm
        )
        self.optimizer.step()
        return stats

    def __call__(self, batch: Experience, rows: Tensor) -> dict[str, Tensor]:
        if not self._bucketed:
            return self._step(batch.minibatch(rows))
        mb = batch.minibatch(rows, self.bucket, self.config.minibatch_size)
        if not self.cuda_graph:
            return self._step(mb)
        key = (*mb.input_ids.shape, mb.prompt_width, mb.response_mask.shape[1])
        if key in self._graphs:
            graph, static, out = self._graphs[key]
            for name, value in vars(mb).items():
                if isinstance(value, Tensor):
                    getattr(static, name).copy_(value)
            graph.replay()
            return {k: v.clone() for k, v in out.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            if key not in self._seen:  # a real step, and the warm-up before a capture
                self._seen.add(key)
                out = self._step(mb)
            else:
                self.optimizer.zero_grad(set_to_none=True)
                graph = torch.cuda.CUDAGraph()
                try:
                    with torch.cuda.graph(graph, pool=self._pool, stream=side):
                        out = self._step(mb)
                except RuntimeError as err:
                    raise RuntimeError(
                        f"capturing the PPO update step as a CUDA graph failed ({err}). A "
                        "model whose forward reads values back to the host (e.g. data-"
                        "dependent checks) cannot be captured: set cuda_graph_update=False "
                        "(--no-cuda-graph-update) to run the update eagerly"
                    ) from err
                self._pool = self._pool or graph.pool()
                self._graphs[key] = (graph, mb, out)
        torch.cuda.current_stream().wait_stream(side)
        if key in self._graphs:
            graph.replay()
        return {k: v.clone() for k, v in out.items()}


def train_epochs(
    step: UpdateStep, batch: Experience, generator: torch.Generator
) -> dict[str, float]:
    """``config.update_epochs`` passes of ``step`` over shuffled minibatches of ``batch``
    (``config.minibatch_size`` rows, drawn from ``generator``, grouped by length with
    ``config.group_by_length``); returns the means of the steps' statistics (the value
    loss's NaN without a critic)."""
    config, device = step.config, next(step.policy.parameters()).device
    # Summed on the device and read once at the end: a host read per step would make
    # the CPU wait for every step's kernels before launching the next step's.
    totals: dict[str, Tensor] = {}
    steps = 0
    step.policy.train()
    for _ in range(config.update_epochs):
        minibatches = epoch_minibatches(
            batch, config.minibatch_size, generator, config.group_by_length
        )
        for rows in minibatches:
            for key, value in step(batch, rows).items():
                value = value.detach().to(device, torch.float64)
                totals[key] = totals[key] + value if key in totals else value
            steps += 1
    means = dict(zip(totals, (torch.stack(list(totals.values())) / steps).tolist(), strict=True))
    if not step.critic:
        means["losses/value_loss"] = means["losses/vf_clipfrac"] = math.nan
    return means
