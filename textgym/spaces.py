"""Observation spaces for text."""

from functools import lru_cache

from gymnasium import spaces

REPLACEMENT = "\ufffd"

# Gymnasium's default Text charset is alphanumeric, so real sentences would fail
# `contains`. This one holds tab, newline, carriage return, the printable Basic Multilingual
# Plane (every script in common use, punctuation, symbols) and the main emoji blocks.
# Characters outside it (other astral-plane code points, control characters) are shown as
# U+FFFD in text observations.
_RANGES = ((0x20, 0x7E), (0xA0, 0xD7FF), (0xE000, 0xFFFD), (0x1F300, 0x1FAFF))


@lru_cache(maxsize=1)
def text_charset() -> frozenset[str]:
    chars = {"\t", "\n", "\r"}
    for lo, hi in _RANGES:
        chars.update(chr(c) for c in range(lo, hi + 1))
    return frozenset(chars)


def text_space(max_length: int) -> spaces.Text:
    """A ``Text`` space of up to ``max_length`` characters over :func:`text_charset`."""
    return spaces.Text(max_length=max_length, min_length=0, charset=text_charset())


def sanitize(text: str) -> str:
    """Replace characters outside :func:`text_charset` with U+FFFD."""
    if text.isascii() and text.isprintable():
        return text
    charset = text_charset()
    return "".join(c if c in charset else REPLACEMENT for c in text)
