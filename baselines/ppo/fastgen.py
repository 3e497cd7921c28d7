"""A fast batched sampler for PPO rollouts: static KV cache, one fixed-shape decode step,
replayed from a CUDA graph on GPU.

:class:`StaticGenerator` is a drop-in for :func:`baselines.ppo.rollout.generate`: called
with the same arguments it returns the same ``(responses, response_mask, logprobs, values)``
(on CPU, under the same seeded generator, the same tokens; see ``tests/ppo/test_fastgen.py``).
Build it once per policy and batch shape and reuse it every iteration; on CUDA the first call
captures the graph (a few hundred ms), every later call only replays it::

    fast = StaticGenerator(policy, batch_size=64, max_prompt_len=256, max_new_tokens=48)
    turn, obs = collect(envs, policy, obs, generator, sampler=fast)

How it works. Plain ``generate`` launches several hundred small kernels per token (30 layers
of SmolLM2), grows the KV cache by concatenation and syncs with the host to test for the end
of every row; at batch 256 a decode step costs ~25 ms where the hardware needs ~0.4 ms. Here:

- the KV cache is a ``transformers.StaticCache`` of ``max_prompt_len + max_new_tokens`` slots,
  allocated once. Prompts are left-padded to ``max_prompt_len``, so every call has the same
  shapes and one captured graph serves every iteration;
- the attention mask is an additive (B, L) bias over all L slots, updated in place one column
  per token and passed to the model as a 4-D mask (so transformers' mask builder, which
  is not capture-safe, is skipped). Positions count real tokens only, as ``generate`` does;
- attention for the one new token is :func:`decode_attention` (registered with transformers'
  ``AttentionInterface`` and switched on for the length of each call): the query heads that
  share a KV head read the cache in place, where transformers' SDPA path copied the whole
  cache per layer to repeat KV heads and ran a flash kernel built for long queries;
- all per-token state (next input, positions, done flags, output columns) lives in device
  buffers that the step updates in place, so the step has fixed shapes and no host syncs.
  It samples with the exponential race ``argmax(p / q), q ~ Exp(1)``, the very computation
  ``torch.multinomial`` does for one sample, minus its host-side validity check;
- the step runs the base model (``lm.base_model``) for the last hidden state, the LM head on
  it, and ``policy.value_of`` on it: one forward gives log-prob and value;
- on CUDA the prefill and the decode step are ``torch.compile``d (fusing each layer's ~40
  small elementwise kernels: norms, rotary, SiLU, residuals) and then captured as CUDA
  graphs, so a token costs one graph replay plus one noise draw;
- the host checks whether every row has ended only every ``check_every`` tokens. Steps run
  past the end only write padding, so the output is trimmed to exactly what stopping at once
  gives.

Measured on an H100 (``benchmarks/results/ppo_throughput/``), SmolLM2 shape, batch 256,
64-token prompts, 48 new tokens: 101,760 new tokens/s against ``generate``'s 9,577 (10.6x);
the graph alone without compile and the grouped attention gave 2.8x. Compiling costs about a
minute once per generator; ``compile=False`` skips it.

Noise is drawn eagerly before each replay (one kernel launch per token) into a static buffer:
the graph then holds no random-number state, and a seeded generator gives the same samples
in the graph and eagerly. With a generator on another device than the model (e.g. a CPU
generator and a CUDA model), a device generator is seeded from it once per call.

Requirements: a decoder-only transformers model whose causal-LM logits are
``lm_head(last_hidden_state)`` (Llama, GPT-2, ...; checked on the first call), and a
transformers whose ``StaticLayer`` advances its own write counter (5.x). The graph reads the
policy's parameters where they are: in-place updates (optimizers, ``load_state_dict``) are
seen, moving the model to another device or dtype is not (build a new generator).
"""

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from baselines.ppo.attention import DECODE_ATTENTION, register_decode_attention
from baselines.ppo.policy import (
    PolicyWithValue,
    head_logits,
    logits_are_head_of_trunk,
    position_ids,
)
from textgym.kvcache import cache_kwargs

if TYPE_CHECKING:
    from transformers import StaticCache


class StaticGenerator:
    """Sampling from ``policy`` for batches of ``batch_size`` prompts of at most
    ``max_prompt_len`` tokens, with at most ``max_new_tokens`` new tokens.

    Args:
        policy: the policy to sample from; its weights are read in place at every call.
        batch_size: rows per call (B); every call must pass exactly this many prompts.
        max_prompt_len: widest prompt a call may pass; narrower ones are left-padded to it.
        max_new_tokens: the largest budget a call may ask for.
        dtype: run generation in this dtype (e.g. ``torch.bfloat16`` on CUDA) from a copy of
            the LM whose weights are refreshed from the policy at every call. ``None`` (the
            default) uses the policy's own weights and dtype, so the recorded log-probs are
            exactly the policy's; another dtype makes them that dtype's approximation.
        cuda_graph: replay the prefill and the decode step from CUDA graphs; ``None``
            picks them on CUDA.
        compile: fuse the prefill's and the decode step's elementwise work with
            ``torch.compile`` (before the graphs capture them); ``None`` picks it on CUDA.
            The first call then compiles (tens of seconds for a 30-layer model).
        check_every: test for every row having ended once per this many tokens (each test
            is a host sync). Does not change the output.
    """

    def __init__(
        self,
        policy: PolicyWithValue,
        batch_size: int,
        max_prompt_len: int,
        max_new_tokens: int,
        *,
        dtype: torch.dtype | None = None,
        cuda_graph: bool | None = None,
        compile: bool | None = None,
        check_every: int = 8,
    ) -> None:
        for name, value in (
            ("batch_size", batch_size),
            ("max_prompt_len", max_prompt_len),
            ("max_new_tokens", max_new_tokens),
            ("check_every", check_every),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        import transformers

        if int(transformers.__version__.split(".")[0]) < 5:
            raise ImportError(
                f"StaticGenerator needs transformers>=5 (found {transformers.__version__}), "
                "whose static cache advances its own write position: pip install -U "
                "'transformers>=5', or use baselines.ppo.rollout.generate"
            )
        self.policy = policy
        self.batch_size, self.max_prompt_len = int(batch_size), int(max_prompt_len)
        self.max_new_tokens, self.check_every = int(max_new_tokens), int(check_every)
        self.device = next(policy.parameters()).device
        if cuda_graph is None:
            cuda_graph = self.device.type == "cuda"
        if cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph=True needs a policy on CUDA, not on {self.device}")
        self.cuda_graph = bool(cuda_graph)
        self.compile = self.device.type == "cuda" if compile is None else bool(compile)
        policy_dtype = next(policy.lm.parameters()).dtype
        self.dtype = policy_dtype if dtype is None else dtype
        if self.dtype == policy_dtype:
            self._lm = policy.lm
        else:
            # A copy in `dtype`; parameters only, so that float32 buffers such as rotary
            # frequencies keep their precision (Module.to(dtype) would round them too).
            self._lm = copy.deepcopy(policy.lm).requires_grad_(False)
            for param in self._lm.parameters():
                param.data, param.grad = param.data.to(self.dtype), None
        self._base = self._lm.base_model  # the trunk: last hidden state, after the final norm
        self._head = self._lm.get_output_embeddings()
        self._cache: StaticCache | None = None
        self._cache_kwargs: dict[str, StaticCache] = {}  # the cache, under its argument name
        self._graph: torch.cuda.CUDAGraph | None = None
        self._prefill_graph: torch.cuda.CUDAGraph | None = None
        self._step_fn: Callable[[], None] = self._decode_step
        self._prefill_fn: Callable[[], None] = self._prefill
        if self.compile:
            self._step_fn = torch.compile(self._decode_step, dynamic=False)
            self._prefill_fn = torch.compile(self._prefill, dynamic=False)
        register_decode_attention()
        self._device_generator: torch.Generator | None = None
        self._checked = False
        self._warm = False

    # -- the public call: rollout.generate's signature ------------------------------------
    def __call__(
        self,
        policy: PolicyWithValue,
        prompt_ids: Tensor,
        prompt_mask: Tensor,
        max_new_tokens: int,
        stop_ids: frozenset[int],
        pad_id: int,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As :func:`baselines.ppo.rollout.generate`: ``(responses, response_mask, logprobs,
        values)``, all (B, R), R at most ``max_new_tokens``; a row stops after a token of
        ``stop_ids`` (kept) and is padded with ``pad_id`` after it.

        ``generator`` (on any device) is the only source of randomness. It advances by one
        (B, V) draw per step run, which may be up to ``check_every - 1`` steps more than
        ``generate`` runs (steps after every row has ended write padding only)."""
        if policy is not self.policy:
            raise ValueError(
                "this StaticGenerator was built for another policy object: build one "
                "StaticGenerator per policy (its graph reads that policy's weights)"
            )
        batch, width = prompt_ids.shape
        if batch != self.batch_size:
            raise ValueError(
                f"got {batch} prompts but this StaticGenerator was built for batch_size="
                f"{self.batch_size}: build one per batch size"
            )
        if width > self.max_prompt_len:
            raise ValueError(
                f"prompt width {width} exceeds max_prompt_len={self.max_prompt_len}: build the "
                "StaticGenerator with a max_prompt_len of at least the widest prompt"
            )
        if not 1 <= max_new_tokens <= self.max_new_tokens:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} is outside 1..{self.max_new_tokens}, the "
                "budget this StaticGenerator was built for"
            )
        was_training = policy.training
        policy.eval()
        self._lm.eval()
        config = self._lm.config
        attention = config._attn_implementation
        try:
            with torch.no_grad():
                return self._generate(
                    prompt_ids, prompt_mask, max_new_tokens, stop_ids, pad_id, generator
                )
        finally:
            config._attn_implementation = attention
            policy.train(was_training)

    generate = __call__

    # -- setup -------------------------------------------------------------------------------
    def _allocate(self) -> None:
        """The static cache and every per-token buffer; B, L, V fixed from here on."""
        from transformers import StaticCache

        B, L = self.batch_size, self.max_prompt_len + self.max_new_tokens
        V, N, dev = self._head.out_features, self.max_new_tokens, self.device
        self._cache = StaticCache(config=self._lm.config, max_cache_len=L)
        self._cache_kwargs = cache_kwargs(self._base, self._cache)
        self._min = torch.finfo(self.dtype).min
        self._bias = torch.zeros(B, L, dtype=self.dtype, device=dev)  # additive mask
        self._ids = torch.zeros(B, self.max_prompt_len, dtype=torch.long, device=dev)
        self._mask = torch.zeros(B, self.max_prompt_len, dtype=torch.long, device=dev)
        self._token = torch.zeros(B, 1, dtype=torch.long, device=dev)  # next input
        self._token_live = torch.ones(B, dtype=torch.bool, device=dev)  # it is a real token
        self._pos = torch.zeros(B, dtype=torch.long, device=dev)  # its position
        self._slot = torch.zeros(1, dtype=torch.long, device=dev)  # its cache slot
        self._col = torch.zeros(1, dtype=torch.long, device=dev)  # output column to write
        self._done = torch.zeros(B, dtype=torch.bool, device=dev)
        self._noise = torch.ones(B, V, dtype=torch.float32, device=dev)  # Exp(1) draws
        self._is_stop = torch.zeros(V, dtype=torch.bool, device=dev)
        self._pad = torch.zeros((), dtype=torch.long, device=dev)
        self._out_tokens = torch.zeros(B, N, dtype=torch.long, device=dev)
        self._out_live = torch.zeros(B, N, dtype=torch.bool, device=dev)
        self._out_logp = torch.zeros(B, N, dtype=torch.float32, device=dev)
        self._out_value = torch.zeros(B, N, dtype=torch.float32, device=dev)

    def _capture(self) -> None:
        """Capture the prefill and the decode step into CUDA graphs. Warm-up runs (which
        also compile, with ``compile``) go on a side stream as PyTorch's CUDA-graph notes
        ask (lazy inits, cuBLAS workspaces); each first rewinds the state, because the
        cache's own write counter advances on every call."""
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._rewind()
                self._prefill_fn()
                self._step_fn()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        self._rewind()
        prefill = torch.cuda.CUDAGraph()
        with torch.cuda.graph(prefill):
            self._prefill_fn()
        step = torch.cuda.CUDAGraph()
        with torch.cuda.graph(step, pool=prefill.pool()):
            self._step_fn()
        self._prefill_graph, self._graph = prefill, step

    def _rewind(self) -> None:
        """Every per-call state to its start (the captured graph reads these addresses)."""
        assert self._cache is not None  # allocated on the first call
        self._cache.reset()  # zeroes the cache and its write counters, in place
        self._slot.fill_(self.max_prompt_len)
        self._col.zero_()
        self._done.zero_()
        self._token_live.fill_(True)
        self._out_tokens.zero_()
        self._out_live.zero_()
        self._out_logp.zero_()
        self._out_value.zero_()

    # -- the two model calls -----------------------------------------------------------------
    def _prefill(self) -> None:
        """The prompts (``_ids``, ``_mask``: B, P) into the cache, then sample token 0 from
        the last position."""
        ids, mask = self._ids, self._mask
        P, L = self.max_prompt_len, self._bias.shape[1]
        self._bias.zero_()
        self._bias[:, :P].masked_fill_(mask == 0, self._min)
        self._bias[:, P:] = self._min
        q = torch.arange(P, device=self.device)
        k = torch.arange(L, device=self.device)
        causal = torch.where(k[None, :] <= q[:, None], 0.0, self._min).to(self.dtype)  # (P, L)
        bias4d = causal[None, None] + self._bias[:, None, None, :]  # (B, 1, P, L)
        out = self._base(
            input_ids=ids,
            attention_mask=bias4d.clamp(min=self._min),
            position_ids=position_ids(mask),
            **self._cache_kwargs,
            use_cache=True,
        )
        self._pos.copy_(mask.sum(-1))  # token 0's position: the prompt's real length
        self._emit(out.last_hidden_state[:, -1])

    def _decode_step(self) -> None:
        """Feed the last sampled token (B, 1), sample the next one; fixed shapes, no sync."""
        step_bias = (~self._token_live).to(self.dtype) * self._min  # (B,) 0 or "-inf"
        self._bias.index_copy_(1, self._slot, step_bias[:, None])
        out = self._base(
            input_ids=self._token,
            attention_mask=self._bias[:, None, None, :],  # (B, 1, 1, L)
            position_ids=self._pos[:, None],
            **self._cache_kwargs,
            use_cache=True,
        )
        self._pos.add_(self._token_live.long())
        self._slot.add_(1)
        self._emit(out.last_hidden_state[:, -1])

    def _emit(self, hidden: Tensor) -> None:
        """Sample from the last hidden state (B, C) and record token, log-prob, value."""
        logits = head_logits(self._head, hidden).float()  # (B, V)
        value = self.policy.value_of(hidden)  # (B,)
        token = (logits.softmax(-1) / self._noise).argmax(-1)  # (B,) = multinomial(p, 1)
        logp = logits.gather(-1, token[:, None])[:, 0] - logits.logsumexp(-1)
        live = ~self._done  # this token belongs to the response
        token = torch.where(live, token, self._pad)
        zero = torch.zeros_like(logp)
        col = self._col
        self._out_tokens.index_copy_(1, col, token[:, None])
        self._out_live.index_copy_(1, col, live[:, None])
        self._out_logp.index_copy_(1, col, torch.where(live, logp, zero)[:, None])
        self._out_value.index_copy_(1, col, torch.where(live, value, zero)[:, None])
        self._done.logical_or_(self._is_stop[token])
        self._token.copy_(token[:, None])
        self._token_live.copy_(live)
        self._col.add_(1)

    # -- one call ----------------------------------------------------------------------------
    def _generate(
        self,
        prompt_ids: Tensor,
        prompt_mask: Tensor,
        max_new_tokens: int,
        stop_ids: frozenset[int],
        pad_id: int,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self._lm is not self.policy.lm:  # a copy in another dtype: refresh its weights
            for dst, src in zip(self._lm.parameters(), self.policy.lm.parameters(), strict=True):
                dst.copy_(src)
        B, P = prompt_ids.shape
        pad_cols = self.max_prompt_len - P
        ids = torch.nn.functional.pad(prompt_ids.to(self.device), (pad_cols, 0), value=pad_id)
        mask = torch.nn.functional.pad(prompt_mask.to(self.device).long(), (pad_cols, 0))
        if self._cache is None:
            self._allocate()
        if not self._checked:
            self._check_model(ids, mask)
        self._lm.config._attn_implementation = DECODE_ATTENTION
        self._ids.copy_(ids)
        self._mask.copy_(mask)
        if (self.cuda_graph or self.compile) and not self._warm:
            self._rewind()
            self._prefill()  # eagerly allocates the cache's tensors: addresses fixed now
            self._warm = True
            if self.cuda_graph:
                self._capture()
        gen = self._noise_generator(generator)
        V = self._is_stop.shape[0]
        self._is_stop.zero_()
        stops = [i for i in stop_ids if 0 <= i < V]
        if stops:
            self._is_stop[torch.tensor(stops, device=self.device)] = True
        self._pad.fill_(pad_id)
        self._rewind()
        self._noise.exponential_(generator=gen)
        if self._prefill_graph is not None:
            self._prefill_graph.replay()
        else:
            self._prefill_fn()
        for step in range(1, max_new_tokens):
            if step % self.check_every == 0 and bool(self._done.all()):
                break
            self._noise.exponential_(generator=gen)
            if self._graph is not None:
                self._graph.replay()
            else:
                self._step_fn()
        live = self._out_live[:, :max_new_tokens]
        # Rows that ended earlier wrote padding only, so the first all-padding column is
        # where stopping exactly would have ended (at least one column: token 0 is real).
        R = int(live.sum(-1).max())
        return (
            self._out_tokens[:, :R].clone(),
            live[:, :R].long(),
            self._out_logp[:, :R].clone(),
            self._out_value[:, :R].clone(),
        )

    def _noise_generator(self, generator: torch.Generator | None) -> torch.Generator | None:
        """The generator to draw noise from on the model's device (None: the default one)."""
        if generator is None:
            return None
        where = generator.device
        if where.type == self.device.type and None in (where.index, self.device.index):
            return generator  # "cuda" and "cuda:0": the current device
        if where == self.device:
            return generator
        if self._device_generator is None:
            self._device_generator = torch.Generator(device=self.device)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        return self._device_generator.manual_seed(seed)

    def _check_model(self, ids: Tensor, mask: Tensor) -> None:
        """Once: the split forward (trunk, then LM head) must give the model's own logits;
        models that post-process logits (soft-capping, scaling) fail here, not silently."""
        if not logits_are_head_of_trunk(self._lm, ids, mask):
            raise ValueError(
                f"{type(self._lm).__name__}'s logits are not lm_head(last_hidden_state): "
                "StaticGenerator cannot sample from it; use baselines.ppo.rollout.generate"
            )
        self._checked = True


def generate_static(
    policy: PolicyWithValue,
    prompt_ids: Tensor,
    prompt_mask: Tensor,
    max_new_tokens: int,
    stop_ids: frozenset[int],
    pad_id: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:func:`baselines.ppo.rollout.generate` through a one-off :class:`StaticGenerator`
    sized to this call. Each call allocates a cache (and on CUDA captures a graph): for
    repeated rollouts build one :class:`StaticGenerator` and call it instead."""
    B, P = prompt_ids.shape
    fast = StaticGenerator(policy, B, P, max_new_tokens)
    return fast(policy, prompt_ids, prompt_mask, max_new_tokens, stop_ids, pad_id, generator)
