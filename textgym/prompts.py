"""Prompt encoding: an example's text rendered as the task's prompt, as token ids, cut to
``max_prompt_tokens``.

Truncation policy: the example's text (never the instruction or chat markup) loses its end,
replaced by ``" ..."``, until the prompt fits; ``prompt_overflow="error"`` raises instead. A
text longer than ``max_prompt_tokens * MAX_CHARS_PER_TOKEN`` characters (128 per token;
262,144 for 2,048 tokens) is cut to that before it is tokenised, so a document of megabytes
costs what the prompt keeps (and is marked truncated).
"""

from collections.abc import Callable

import numpy as np

from textgym.data import Example
from textgym.lm import LM, MAX_CHARS_PER_TOKEN

PROMPT_OVERFLOW = ("truncate", "error")
ELLIPSIS = " ..."


class PromptEncoder:
    """Token ids of each example's prompt, encoded once per example index and kept.

    ``render(content)`` is the task's whole prompt string for an example text.
    """

    def __init__(
        self, lm: LM, render: Callable[[str], str], max_tokens: int, overflow: str
    ) -> None:
        self.lm, self.render, self.max_tokens, self.overflow = lm, render, max_tokens, overflow
        # An array per example, so that every reset copies it into the context as a memcpy
        # (from a list, numpy converts a few hundred ints one by one).
        self._cache: dict[int, tuple[np.ndarray, bool]] = {}

    def encode(self, index: int, example: Example) -> tuple[np.ndarray, bool]:
        """``(ids, truncated)`` of example ``index``'s prompt."""
        if index not in self._cache:
            ids, truncated = self._encode(example)
            self._cache[index] = (np.array(ids, dtype=np.int64), truncated)
        return self._cache[index]

    def _ids(self, content: str) -> list[int]:
        return self.lm.encode(self.render(content))

    def _encode(self, example: Example) -> tuple[list[int], bool]:
        content, cut = example.prompt, False
        limit = self.max_tokens * MAX_CHARS_PER_TOKEN
        if len(content) > limit:
            content, cut = content[:limit], True
        ids = self._ids(content)
        if len(ids) <= self.max_tokens and not cut:
            return ids, False
        if self.overflow == "error":
            size = f"{len(ids)} tokens" if not cut else f"{len(example.prompt)} characters"
            raise ValueError(
                f"example {example.id!r} has a prompt of {size}, more than "
                f"max_prompt_tokens={self.max_tokens}; raise max_prompt_tokens or use "
                "prompt_overflow='truncate'"
            )
        content_ids = self.lm.encode(content)
        keep = len(content_ids) - max(len(ids) - self.max_tokens, 1 if cut else 0)
        while keep > 0:
            ids = self._ids(self.lm.decode(content_ids[:keep]) + ELLIPSIS)
            if len(ids) <= self.max_tokens:
                return ids, True
            keep -= max(1, len(ids) - self.max_tokens)
        raise ValueError(
            f"max_prompt_tokens={self.max_tokens} cannot hold even the instruction and "
            f"chat markup of example {example.id!r}; raise max_prompt_tokens"
        )


__all__ = ["ELLIPSIS", "PROMPT_OVERFLOW", "PromptEncoder"]
