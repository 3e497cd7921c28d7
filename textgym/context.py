"""An episode's token context and the agent's current turn.

:class:`Context` holds the ids of the whole episode (prompt, agent turns, partner turns) in
one growing buffer that starts after ``lead`` pad tokens (with a mask of ``lead`` zeros), so
that the left-padded ``tokens`` observation of the newest ``lead`` tokens is one slice of
each buffer. With ``decode_text`` it also keeps the context's text up to date (what ``text``
observations show), one detokeniser step per token.

:class:`Turn` is the agent's turn so far: its tokens and their text without special tokens.
"""

from collections.abc import Callable, Sequence

import numpy as np

from textgym.lm import LM, Detokenizer

_INITIAL = 1024


class Context:
    """The token ids (and, with ``decode_text``, the text) of an episode's context."""

    def __init__(self, lm: LM, lead: int, decode_text: bool = False) -> None:
        self.lm, self.lead, self.decode_text = lm, lead, decode_text
        self.ids_buf = np.full(lead + _INITIAL, lm.pad_id, dtype=np.int64)
        self.mask_buf = np.ones(lead + _INITIAL, dtype=np.int64)
        self.mask_buf[:lead] = 0
        self.n = 0
        self.text = ""
        self._text_stream: Detokenizer | None = None

    def __len__(self) -> int:
        return self.n

    def start(self, prompt_ids: np.ndarray) -> None:
        """Begin a new episode's context with ``prompt_ids``."""
        self.n = 0
        self.extend(prompt_ids)
        if self.decode_text:
            self.text = self.lm.decode(prompt_ids.tolist())
            self._text_stream = self.lm.detokenizer(skip_special_tokens=False)

    def push(self, token: int) -> None:
        """Append one token: the hot path of ``tokens`` observations (tens of thousands of
        calls a second), which writes straight into the buffer."""
        if self._text_stream is not None or self.lead + self.n >= len(self.ids_buf):
            self.extend([token])
        else:
            self.ids_buf[self.lead + self.n] = token
            self.n += 1

    def extend(self, ids: Sequence[int] | np.ndarray) -> None:
        """Append ``ids`` (e.g. a partner's turn)."""
        end = self.n + len(ids)
        if self.lead + end > len(self.ids_buf):
            size = self.lead + max(end, 2 * (len(self.ids_buf) - self.lead))
            self.ids_buf = np.resize(self.ids_buf, size)
            self.mask_buf = np.resize(self.mask_buf, size)
            self.mask_buf[self.lead :] = 1
        if len(ids) == 1:
            self.ids_buf[self.lead + self.n] = ids[0]
        else:
            self.ids_buf[self.lead + self.n : self.lead + end] = ids
        if self._text_stream is not None and self.n:
            for token in ids:
                piece = self._text_stream.step(int(token))
                if piece:
                    self.text += piece
        self.n = end

    def ids(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The context's ids ``[start, stop)`` (a view: copy before keeping it)."""
        stop = self.n if stop is None else stop
        return self.ids_buf[self.lead + start : self.lead + stop]

    def window(self) -> dict[str, np.ndarray]:
        """The newest ``lead`` tokens, left-padded, and their mask: new arrays."""
        window = slice(self.n, self.n + self.lead)
        return {
            "input_ids": self.ids_buf[window].copy(),
            "attention_mask": self.mask_buf[window].copy(),
        }


class Turn:
    """The agent's current turn: its token ids and their text (special tokens skipped)."""

    def __init__(self, lm: LM) -> None:
        self.tokens: list[int] = []
        self._text = ""
        self._step: Callable[[int], str | None] = lm.detokenizer(skip_special_tokens=True).step_fn()

    def __len__(self) -> int:
        return len(self.tokens)

    def push(self, token: int) -> None:
        self.tokens.append(token)
        piece = self._step(token)
        if piece:
            self._text += piece

    @property
    def text(self) -> str:
        return self._text.strip()


__all__ = ["Context", "Turn"]
