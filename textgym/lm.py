"""The language-model backend shared by every textgym environment.

One :class:`LM` per (model, device, dtype) per process, obtained with :func:`load_lm`. It
holds the tokenizer (loaded at once) and the causal LM (loaded on first use, so that
environments that only tokenise never pay for the weights), and offers:

- tokenisation and chat formatting (:class:`ChatFormat`);
- incremental next-token logits with a KV cache (:class:`Stream`): one token's forward per
  appended token, never a re-encode of the context;
- batched sampling with a seeded ``torch.Generator`` (:meth:`LM.generate`).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textgym import models
from textgym.kvcache import cache_kwargs, output_cache
from textgym.sampling import decode_step

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

_CACHE: dict[tuple[str, str, str], "LM"] = {}

# End-of-turn tokens of common chat formats; whichever exist in a vocabulary end a turn.
_END_TOKENS = ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "</s>", "<eos>")

# The most characters one token is assumed to cover when a long text is cut before it is
# tokenised (SmolLM2's longest token has 81); see LM.encode_prefix.
MAX_CHARS_PER_TOKEN = 128


def load_lm(
    model: str = models.DEFAULT_MODEL, device: str = "cpu", dtype: str | None = None
) -> "LM":
    """The shared :class:`LM` for ``model`` on ``device``; loaded once per process.

    ``device`` is a torch device string or ``"auto"`` (CUDA when available). ``dtype`` is a
    torch dtype name; the default is ``float32`` on CPU and ``bfloat16`` on CUDA.
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = "float32" if str(device).startswith("cpu") else "bfloat16"
    if not isinstance(getattr(torch, str(dtype), None), torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}: use a torch dtype name such as 'float32'")
    key = (model, str(device), str(dtype))
    if key not in _CACHE:
        _CACHE[key] = LM(model, device=str(device), dtype=str(dtype))
    return _CACHE[key]


class LM:
    """Tokenizer + causal LM. Do not construct directly: use :func:`load_lm`."""

    def __init__(self, name: str, device: str = "cpu", dtype: str = "float32") -> None:
        import torch

        self.name = name
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.source = models.resolve(name)
        self.tokenizer = models.load_tokenizer(self.source)
        self.config = models.load_config(self.source)
        self._model: PreTrainedModel | None = None
        self._keeps_last: bool | None = None
        self.vocab_size: int = int(self.config.vocab_size)
        self.context_length: int = int(getattr(self.config, "max_position_embeddings", 2048))
        self.pad_id: int = _first_int(
            self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, default=0
        )
        self.eos_ids: frozenset[int] = self._find_eos_ids()
        self.chat = ChatFormat(self.tokenizer)

    def __repr__(self) -> str:
        return f"LM({self.name!r}, device={str(self.device)!r}, dtype={self.dtype})"

    @property
    def model(self) -> "PreTrainedModel":
        """The causal LM (``transformers`` model), loaded on first access."""
        if self._model is None:
            self._model = models.load_model(self.source, self.config, self.dtype, str(self.device))
        return self._model

    def forward_last(self, **kwargs: Any) -> Any:
        """The model's forward, computing logits for the last position only where the model
        supports it (``logits_to_keep``): the LM head is a fifth of SmolLM2's compute."""
        if self._keeps_last is None:
            import inspect

            params = inspect.signature(self.model.forward).parameters
            self._keeps_last = "logits_to_keep" in params
        if self._keeps_last:
            kwargs["logits_to_keep"] = 1
        return self.model(**kwargs)

    @property
    def hidden_size(self) -> int:
        return int(self.config.hidden_size)

    @property
    def special_ids(self) -> frozenset[int]:
        """Every special token id (registered special tokens and added tokens marked
        special, e.g. SmolLM2's ``<file_sep>``), end-of-turn tokens included."""
        ids = set(self.tokenizer.all_special_ids)
        decoder = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        ids.update(i for i, tok in decoder.items() if getattr(tok, "special", False))
        return frozenset(i for i in ids if 0 <= i < self.vocab_size)

    def _find_eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for value in (self.tokenizer.eos_token_id, getattr(self.config, "eos_token_id", None)):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in _END_TOKENS if t in vocab)
        return frozenset(i for i in ids if 0 <= i < self.vocab_size)

    # -- text <-> ids ---------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, without BOS/EOS; special-token strings are recognised."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def encode_prefix(self, text: str, max_tokens: int) -> tuple[list[int], bool]:
        """``(ids, cut)``: the ids of the beginning of ``text``, at least its first
        ``max_tokens`` tokens, from at most ``max_tokens * MAX_CHARS_PER_TOKEN`` characters,
        so that a text of megabytes costs what the budget uses; ``cut`` is True when
        characters were left out (tokens well before the cut are those of the whole text)."""
        limit = max_tokens * MAX_CHARS_PER_TOKEN
        if len(text) <= limit:
            return self.encode(text), False
        return self.encode(text[:limit]), True

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def detokenizer(self, skip_special_tokens: bool = False) -> "Detokenizer":
        """An incremental decoder: ``step(id)`` returns the new text (or None), O(1)."""
        return Detokenizer(self.tokenizer, skip_special_tokens)

    # -- model calls ----------------------------------------------------------------------
    def stream(self, ids: Sequence[int], hidden: bool = False) -> "Stream":
        """A KV-cached context starting with ``ids``; see :class:`Stream`."""
        return Stream(self, ids, hidden=hidden)

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        generator: "torch.Generator | Sequence[torch.Generator] | None" = None,
        stop_ids: frozenset[int] | None = None,
    ) -> list[list[int]]:
        """Sample a continuation of each prompt, all prompts in one batch.

        Prompts are left-padded; each continuation stops after a token in ``stop_ids``
        (default: the end-of-turn tokens), which it includes, or after ``max_new_tokens``.
        ``temperature=0`` is greedy. Sampling draws only from ``generator``, so a seeded
        generator gives the same output on the same device. ``generator`` may be a list
        with one generator per prompt: each row then draws only from its own, and only
        while it is unfinished, so a row's output does not depend on its batch.
        """
        import torch

        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("generate needs at least one prompt and no empty prompt")
        stop = self.eos_ids if stop_ids is None else stop_ids
        batch, width = len(prompts), max(len(p) for p in prompts)
        input_ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.as_tensor(list(prompt))
            mask[row, width - len(prompt) :] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        out: list[list[int]] = [[] for _ in prompts]
        done = torch.zeros(batch, dtype=torch.bool)
        past = None
        step_ids = input_ids
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                step = decode_step(self.model, step_ids, mask, past, last_logits_only=True)
                past, logits = step.cache, step.logits  # logits: (B, V)
                if isinstance(generator, (list, tuple)):
                    tokens = torch.zeros(batch, dtype=torch.long)
                    for row in range(batch):
                        if not done[row]:
                            tokens[row] = sample(
                                logits[row : row + 1], temperature, top_p, top_k, generator[row]
                            )[0]
                else:
                    tokens = sample(logits, temperature, top_p, top_k, generator).cpu()
                for row in range(batch):
                    if not done[row]:
                        token = int(tokens[row])
                        out[row].append(token)
                        done[row] = token in stop
                if bool(done.all()):
                    break
                step_ids = tokens.view(batch, 1).to(self.device)
                mask = torch.cat([mask, (~done).long().view(batch, 1).to(self.device)], dim=1)
        return out


class Stream:
    """A growing context with its KV cache: each :meth:`extend` costs a forward over the
    new tokens only. ``logits`` are the next-token logits after the last token (float32,
    shape ``(vocab,)``); with ``hidden=True``, ``hidden`` is the last layer's state there.
    """

    def __init__(self, lm: LM, ids: Sequence[int], hidden: bool = False) -> None:
        self.lm = lm
        self.ids: list[int] = []
        self._want_hidden = hidden
        self._past: Any = None  # the model's cache object (a transformers Cache)
        self.logits: torch.Tensor | None = None
        self.hidden: torch.Tensor | None = None
        self.extend(ids)

    def extend(self, ids: Sequence[int]) -> "torch.Tensor | None":
        """Append ``ids`` to the context and return the new next-token logits."""
        import torch

        ids = list(ids)
        if not ids:
            return self.logits
        if len(self.ids) + len(ids) > self.lm.context_length:
            raise ValueError(
                f"context of {len(self.ids) + len(ids)} tokens exceeds the model's "
                f"context length {self.lm.context_length}"
            )
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.lm.device)
        with torch.inference_mode():
            result = self.lm.forward_last(
                input_ids=input_ids,
                use_cache=True,
                output_hidden_states=self._want_hidden,
                **cache_kwargs(self.lm.model, self._past),
            )
        self._past = output_cache(result)
        self.logits = result.logits[0, -1].float()
        if self._want_hidden:
            self.hidden = result.hidden_states[-1][0, -1].float()
        self.ids.extend(ids)
        return self.logits


class Detokenizer:
    """Incremental detokenisation: tokenizers' ``DecodeStream`` where the tokenizer has a
    Rust backend (O(1) per token), else the difference of full decodes."""

    def __init__(self, tokenizer: Any, skip_special_tokens: bool) -> None:
        self.tokenizer, self.skip = tokenizer, skip_special_tokens
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = backend
        self._stream: Any = None
        if backend is not None:
            try:
                from tokenizers.decoders import DecodeStream

                self._stream = DecodeStream(skip_special_tokens=skip_special_tokens)
            except ImportError:
                self._stream = None
        self._ids: list[int] = []
        self._text = ""

    def step_fn(self) -> Any:
        """``step`` as a plain callable, bound to the Rust decoder where there is one
        (saves a Python call per token on the environment's hot path)."""
        if self._stream is not None:
            stream, backend = self._stream, self._backend
            return lambda token: stream.step(backend, token)
        return self.step

    def step(self, token: int) -> str | None:
        if self._stream is not None:
            return self._stream.step(self._backend, int(token))
        self._ids.append(int(token))
        text = self.tokenizer.decode(self._ids, skip_special_tokens=self.skip)
        if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for more bytes
            return None
        new, self._text = text[len(self._text) :], text
        return new or None


def sample(logits: Any, temperature: float, top_p: float, top_k: int, generator: Any) -> Any:
    """Sample one token per row of ``logits`` (B, V); ``temperature=0`` is greedy."""
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first always stays.
        drop = probs.cumsum(dim=-1) - probs > top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    if generator is not None and probs.device != generator.device:
        probs = probs.to(generator.device)
    return torch.multinomial(probs, 1, generator=generator).view(-1).to(logits.device)


# A plain format for models without a chat template (e.g. base GPT-2-style models).
_FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n' }}"
    "{% else %}{{ 'Assistant: ' + message['content'] + '\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
_SENTINEL_A, _SENTINEL_B = "\x00TEXTGYM_A\x00", "\x00TEXTGYM_B\x00"


class ChatFormat:
    """Renders messages with the tokenizer's chat template (or a plain fallback).

    ``turn_separators()`` gives the text that closes one role's turn and opens the next,
    so that a multi-turn context can grow by appending tokens instead of re-rendering.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.template = getattr(tokenizer, "chat_template", None) or _FALLBACK_TEMPLATE

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            messages,
            chat_template=self.template,
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )

    def turn_separators(self) -> tuple[str, str]:
        """``(after_assistant, after_user)``: the text between an assistant message and
        the next user message, and between a user message and the next assistant reply
        (generation prompt included)."""
        text = self.render(
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": _SENTINEL_A},
                {"role": "user", "content": _SENTINEL_B},
            ],
            add_generation_prompt=True,
        )
        after_a = text.split(_SENTINEL_A, 1)[1].split(_SENTINEL_B, 1)[0]
        after_b = text.split(_SENTINEL_B, 1)[1]
        return after_a, after_b


def _first_int(*values: Any, default: int) -> int:
    for value in values:
        if isinstance(value, int):
            return value
    return default
