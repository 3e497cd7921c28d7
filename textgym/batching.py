"""Many growing contexts in one KV cache, so that N environments cost one LM forward.

:class:`BatchedContexts` keeps the KV cache of ``B`` contexts in one Hugging Face
``DynamicCache`` of shape ``(B, heads, W, head_dim)`` per layer, right-aligned: every row
ends at the last column and an attention mask marks its real tokens, so appending one
token to every row is one forward of shape ``(B, 1)``. Position ids come from the mask
(``cumsum - 1``), so rows of different lengths, and masked holes inside a row, give the
same logits as the row alone (up to float rounding).

Each update takes, per row, the tokens the row gained since the last update:

- one token (the common case): one batched forward over all such rows;
- several tokens (a dialogue partner's turn): one batched forward over those rows' cached
  contexts, appending the new tokens; the other rows get masked columns;
- a restart (a new episode): one batched forward over those rows' new prompts, written into
  the cache in place of their old rows.

Leading columns that no row uses any more are dropped, so the width stays near the
longest live context.
"""

from typing import Any

import torch
from transformers import DynamicCache

from textgym.kvcache import cache_kwargs, output_cache
from textgym.lm import LM

# Compact only when this many leading columns are dead: slicing copies the cache.
_COMPACT_SLACK = 64


class BatchedContexts:
    """The LM state (next-token logits, last hidden state) of ``batch_size`` contexts."""

    def __init__(self, lm: LM, batch_size: int, hidden: bool = False) -> None:
        self.lm, self.batch_size, self.want_hidden = lm, batch_size, hidden
        self.device = lm.device
        self.mask = torch.zeros((batch_size, 0), dtype=torch.long, device=self.device)
        # Kept across steps so that the common one-token step appends to it in place
        # instead of rebuilding (and copying) the whole cache.
        self.cache: DynamicCache | None = None
        self.logits: torch.Tensor | None = None  # (B, V) float32
        self.hidden: torch.Tensor | None = None  # (B, d) float32

    @property
    def kv(self) -> list[list[torch.Tensor]] | None:
        """Per layer ``[keys, values]``, each ``(B, heads, W, head_dim)``."""
        if self.cache is None:
            return None
        return [_layer_kv(layer) for layer in self.cache.layers]

    def _set_kv(self, kv: list[list[torch.Tensor]]) -> None:
        assert self.cache is not None
        for layer, (keys, values) in zip(self.cache.layers, kv, strict=True):
            layer.keys, layer.values = keys, values  # type: ignore[union-attr]  # see _layer_kv

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @torch.inference_mode()
    def update(self, pending: list[tuple[bool, list[int]]]) -> None:
        """Advance every row: ``pending[i] = (restart, ids)`` as given by
        ``TextEnv.lm_pending``; rows with no ids and no restart keep their state."""
        if len(pending) != self.batch_size:
            raise ValueError(f"expected {self.batch_size} rows, got {len(pending)}")
        restart = [i for i, (r, ids) in enumerate(pending) if r]
        chunk = [i for i, (r, ids) in enumerate(pending) if not r and len(ids) > 1]
        single = [i for i, (r, ids) in enumerate(pending) if not r and len(ids) == 1]
        if self.cache is None and len(restart) != self.batch_size:
            raise ValueError("the first update must restart every row")
        if restart:
            self._restart(restart, [pending[i][1] for i in restart])
        if chunk:
            self._append_chunk(chunk, [pending[i][1] for i in chunk])
        if single:
            self._append_one(single, [pending[i][1][0] for i in single])
        self._compact()

    # -- the three kinds of update -----------------------------------------------------------
    def _restart(self, rows: list[int], contexts: list[list[int]]) -> None:
        width = max(len(c) for c in contexts)
        ids = torch.full((len(rows), width), self.lm.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, ctx in enumerate(contexts):
            if not ctx:
                raise ValueError(f"row {rows[j]} restarts with an empty context")
            ids[j, width - len(ctx) :] = torch.as_tensor(ctx)
            mask[j, width - len(ctx) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        out, cache = self._forward(ids, mask, None)
        self._store_outputs(rows, out)
        if self.cache is None:
            self.cache, self.mask = cache, mask
            return
        kv = [_layer_kv(layer) for layer in cache.layers]
        # Right-align the new rows with the cache: pad whichever is narrower on the left.
        if width > self.width:
            self._pad_left(width - self.width)
        elif width < self.width:
            kv = [[_pad_left(t, self.width - width) for t in layer] for layer in kv]
            mask = _pad_left(mask, self.width - width)
        index = torch.as_tensor(rows, device=self.device)
        assert self.kv is not None
        for layer, new in zip(self.kv, kv, strict=True):
            for t, n in zip(layer, new, strict=True):
                t.index_copy_(0, index, n.to(t.dtype))
        self.mask.index_copy_(0, index, mask)

    def _append_chunk(self, rows: list[int], chunks: list[list[int]]) -> None:
        width = max(len(c) for c in chunks)
        ids = torch.full((len(rows), width), self.lm.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, chunk in enumerate(chunks):
            # Right-aligned, so that every row's newest token is in the last column.
            ids[j, width - len(chunk) :] = torch.as_tensor(chunk)
            new_mask[j, width - len(chunk) :] = 1
        index = torch.as_tensor(rows, device=self.device)

        assert self.kv is not None
        sub = DynamicCache(
            ddp_cache_data=[tuple(t.index_select(0, index) for t in layer) for layer in self.kv]
        )
        mask = torch.cat([self.mask.index_select(0, index), new_mask.to(self.device)], dim=1)
        out, sub = self._forward(ids.to(self.device), mask, sub)
        kv = [_layer_kv(layer) for layer in sub.layers]
        self._store_outputs(rows, out)
        # Every row grows by `width` columns; the rows that got no chunk have them masked.
        grown = [[_pad_right(t, width) for t in layer] for layer in self.kv]
        for layer, new in zip(grown, kv, strict=True):
            for t, n in zip(layer, new, strict=True):
                t.index_copy_(0, index, n.to(t.dtype))
        self._set_kv(grown)
        self.mask = _pad_right(self.mask, width)
        self.mask.index_copy_(0, index, mask)

    def _append_one(self, rows: list[int], tokens: list[int]) -> None:
        # All rows take part, so the cache stays one tensor per layer; rows without a new
        # token get a masked pad column.
        ids = torch.full((self.batch_size, 1), self.lm.pad_id, dtype=torch.long)
        new_mask = torch.zeros((self.batch_size, 1), dtype=torch.long)
        ids[rows, 0] = torch.as_tensor(tokens)
        new_mask[rows, 0] = 1
        mask = torch.cat([self.mask, new_mask.to(self.device)], dim=1)
        out, self.cache = self._forward(ids.to(self.device), mask, self.cache)
        self._store_outputs(rows, out, out_rows=rows)
        self.mask = mask

    # -- helpers -----------------------------------------------------------------------------
    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any) -> tuple[Any, Any]:
        """One forward of ``ids`` after ``cache`` (None: a fresh one), which it extends."""

        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1] :]
        out = self.lm.forward_last(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            output_hidden_states=self.want_hidden,
            **cache_kwargs(self.lm.model, cache if cache is not None else DynamicCache()),
        )
        return out, output_cache(out)

    def _store_outputs(self, rows: list[int], out: Any, out_rows: list[int] | None = None) -> None:
        """Keep the last position's logits (and hidden state) of output row ``out_rows[j]``
        as the state of context ``rows[j]``; every row ends in the last column."""
        rows_t = torch.as_tensor(out_rows) if out_rows is not None else torch.arange(len(rows))
        logits = out.logits[rows_t, -1].float()
        if self.logits is None:
            self.logits = torch.zeros((self.batch_size, logits.shape[-1]))
        self.logits[rows] = logits.cpu()
        if self.want_hidden:
            hidden = out.hidden_states[-1][rows_t, -1].float()
            if self.hidden is None:
                self.hidden = torch.zeros((self.batch_size, hidden.shape[-1]))
            self.hidden[rows] = hidden.cpu()

    def _pad_left(self, n: int) -> None:
        assert self.kv is not None
        self._set_kv([[_pad_left(t, n) for t in layer] for layer in self.kv])
        self.mask = _pad_left(self.mask, n)

    def _compact(self) -> None:
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else self.width
        if first >= _COMPACT_SLACK:
            assert self.kv is not None
            self._set_kv([[t[:, :, first:].contiguous() for t in layer] for layer in self.kv])
            self.mask = self.mask[:, first:].contiguous()


def _layer_kv(layer: object) -> list[torch.Tensor]:
    """A filled cache layer's ``[keys, values]``. ``DynamicCache.layers`` is typed as a union
    of layer kinds; a causal LM's dynamic cache holds filled ``DynamicLayer`` objects."""
    keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
    assert isinstance(keys, torch.Tensor) and isinstance(values, torch.Tensor)
    return [keys, values]


def _pad_left(t: torch.Tensor, n: int) -> torch.Tensor:
    """Add ``n`` zero columns before the sequence axis' start (axis 2 for KV, 1 for masks)."""
    axis = 2 if t.dim() == 4 else 1
    shape = list(t.shape)
    shape[axis] = n
    return torch.cat([t.new_zeros(shape), t], dim=axis)


def _pad_right(t: torch.Tensor, n: int) -> torch.Tensor:
    axis = 2 if t.dim() == 4 else 1
    shape = list(t.shape)
    shape[axis] = n
    return torch.cat([t, t.new_zeros(shape)], dim=axis)
