"""The KV-cache argument of a Hugging Face causal LM, under its current name.

transformers 5.2x renamed ``past_key_values`` (argument and output field) to ``cache`` and
warns that the old name goes in 5.40; 4.x and early 5.x know only the old name. Every LM
call in textgym and its baselines passes the cache through :func:`cache_kwargs` and reads
it back with :func:`output_cache`, so both work without a deprecation warning.
"""

import inspect
from functools import cache
from typing import Any

NEW, OLD = "cache", "past_key_values"


@cache
def _cache_name(forward: Any) -> str:
    params = inspect.signature(forward).parameters
    return NEW if NEW in params else OLD


def cache_name(model: Any) -> str:
    """``"cache"`` where ``model.forward`` takes it, else ``"past_key_values"``."""
    return _cache_name(type(model).forward)


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` for ``model(**inputs, **cache_kwargs(model, cache))``."""
    return {cache_name(model): cache}


def output_cache(output: Any) -> Any:
    """The cache a forward returned (``output.cache``, or ``past_key_values`` on older
    transformers), read without touching the deprecated field where the new one exists."""
    if NEW in output:
        return output[NEW]
    return output.get(OLD)


__all__ = ["cache_kwargs", "cache_name", "output_cache"]
