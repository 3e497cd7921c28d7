"""Task data: examples, the JSONL schema, named datasets and deterministic splits.

An example is one episode's task: a ``prompt`` (the text the environment builds its
context from: an opening to continue, a sentence to translate, a document, a user's first
message) and ``references`` (zero or more target texts). JSONL files hold one object per
line::

    {"id": "enes-0001", "prompt": "The cat sleeps.", "references": ["El gato duerme."]}

``id`` is optional (the line number is used), ``reference`` (one string) may stand for
``references``, and ``meta`` (an object) is kept as it is.

Each line is decoded as UTF-8 by itself (a byte-order mark at the start of the file is
allowed). Rows are rejected, with the file, the line and the field in the error, when a
field's value nests objects and arrays more than :data:`MAX_NESTING` levels deep, or when
the prompt, a reference or the id holds a lone surrogate (a ``"\\ud800"`` escape without
its pair, which JSON allows but which is not text and no tokenizer takes).
"""

import codecs
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent
SPLITS = ("train", "test", "all")
TEST_FRACTION = 0.1
# Levels of objects and arrays within one field's value (``{"meta": {"a": [1]}}``: 2).
MAX_NESTING = 100


@dataclass(frozen=True)
class Example:
    """One task example; ``references`` may be empty for tasks that need none."""

    id: str
    prompt: str
    references: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


class DatasetError(ValueError):
    """A dataset that cannot be used: missing, empty or malformed."""


def load_jsonl(path: str | Path, require_references: bool = False) -> list[Example]:
    """Read and validate a JSONL file; errors name the file, the line and the field."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"dataset file {str(path)!r} does not exist")
    examples = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{where}: not valid JSON ({err.msg})") from err
        except RecursionError:
            raise _too_deep(where, _deep_field(line)) from None
        examples.append(_to_example(row, where, f"line-{lineno}", require_references))
    if not examples:
        raise DatasetError(f"dataset file {str(path)!r} holds no examples")
    _check_unique_ids(examples, str(path))
    return examples


def _read_lines(path: Path) -> list[str]:
    """The file's lines (split as text mode does, on \\n, \\r\\n and \\r), each decoded by
    itself: a text-mode reader decodes 8 KB ahead and would blame the line it is on."""
    data = path.read_bytes()
    if data.startswith(codecs.BOM_UTF8):  # from some editors; not part of the first object
        data = data[len(codecs.BOM_UTF8) :]
    lines = []
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise DatasetError(
                f"{path}, line {lineno}: not valid UTF-8 ({err.reason} at byte {err.start + 1} "
                "of the line); save the file as UTF-8"
            ) from err
    return lines


def from_sequence(rows: Sequence[Any], require_references: bool = False) -> list[Example]:
    """Examples from Python objects: ``Example``s, dicts of the JSONL schema, or strings
    (prompts without references)."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise DatasetError(
            f"dataset must be a name, a path or a sequence of examples, got {type(rows).__name__}"
        )
    examples = []
    for index, row in enumerate(rows):
        where = f"dataset item {index}"
        if isinstance(row, Example):
            row = {
                "id": row.id,
                "prompt": row.prompt,
                "references": list(row.references),
                "meta": dict(row.meta),
            }
        elif isinstance(row, str):
            row = {"prompt": row}
        examples.append(_to_example(row, where, f"item-{index}", require_references))
    if not examples:
        raise DatasetError("dataset sequence is empty: pass at least one example")
    _check_unique_ids(examples, "dataset sequence")
    return examples


def _to_example(row: Any, where: str, default_id: str, require_references: bool) -> Example:
    if not isinstance(row, Mapping):
        raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key, value in row.items():
        if _nesting(value) > MAX_NESTING:
            raise _too_deep(where, str(key))
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DatasetError(f"{where}: field 'prompt' is missing or not a non-empty string")
    _check_text(prompt, where, "prompt")
    if "references" in row:
        refs = row["references"]
        if (
            isinstance(refs, str)
            or not isinstance(refs, Sequence)
            or not all(isinstance(r, str) for r in refs)
        ):
            raise DatasetError(f"{where}: field 'references' must be a list of strings")
    elif "reference" in row:
        if not isinstance(row["reference"], str):
            raise DatasetError(f"{where}: field 'reference' must be a string")
        refs = [row["reference"]]
    else:
        refs = []
    name = "references" if "references" in row else "reference"
    for i, ref in enumerate(refs):
        _check_text(ref, where, f"{name}[{i}]" if name == "references" else name)
    refs = tuple(r for r in refs if r.strip())
    if require_references and not refs:
        raise DatasetError(
            f"{where}: field 'references' is missing or empty; this task scores against "
            "references, so give each example at least one"
        )
    meta = row.get("meta", {})
    if not isinstance(meta, Mapping):
        raise DatasetError(f"{where}: field 'meta' must be an object")
    example_id = str(row.get("id", default_id))
    _check_text(example_id, where, "id")
    return Example(example_id, prompt, refs, dict(meta))


def _nesting(value: Any) -> int:
    """Levels of lists and objects in ``value`` (0 for a scalar), counted without recursion
    and up to one past :data:`MAX_NESTING` (so a cyclic object ends too)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_NESTING:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _too_deep(where: str, field: str) -> DatasetError:
    return DatasetError(
        f"{where}: field {field!r} nests objects and arrays more than {MAX_NESTING} levels "
        f"deep, which textgym does not read: flatten it to at most {MAX_NESTING} levels"
    )


# JSON's strings (escapes included) and the characters that open and close its values.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[][{}:]')


def _deep_field(line: str) -> str:
    """The top-level field of a JSON object whose value is the first to nest more than
    :data:`MAX_NESTING` levels (for a line too deep for ``json.loads``)."""
    depth, key, last = 0, "(the row)", ""
    for token in _JSON_TOKENS.finditer(line):
        text = token.group()
        if text in ("{", "["):
            depth += 1
            if depth > MAX_NESTING + 1:  # the row itself is the first level
                return key
        elif text in ("}", "]"):
            depth -= 1
        elif text == ":" and depth == 1 and last.startswith('"'):
            key = json.loads(last)
        last = text
    return key


def _check_text(text: str, where: str, field: str) -> None:
    """Reject a lone surrogate, which a JSON escape can make but which is not text."""
    if text.isascii():  # the common case, without a pass over the text
        return
    try:
        text.encode("utf-8")  # fails on surrogates only
    except UnicodeEncodeError as err:
        raise DatasetError(
            f"{where}: field {field!r} holds a lone surrogate, U+{ord(text[err.start]):04X}, at "
            f"character {err.start} (half of a UTF-16 pair, as a JSON escape such as "
            '"\\ud800" without its other half gives), which is not text and no tokenizer '
            "takes: fix or remove it"
        ) from None


def _check_unique_ids(examples: list[Example], where: str) -> None:
    seen: set[str] = set()
    for ex in examples:
        if ex.id in seen:
            raise DatasetError(f"{where}: id {ex.id!r} appears more than once")
        seen.add(ex.id)


def split_examples(examples: list[Example], split: str) -> list[Example]:
    """Deterministic split by a hash of each id: about 10% ``test``, the rest ``train``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "all":
        return list(examples)
    want_test = split == "test"
    return [ex for ex in examples if _is_test(ex.id) == want_test]


def _is_test(example_id: str) -> bool:
    digest = hashlib.sha256(example_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < TEST_FRACTION


def fixture(name: str, require_references: bool = False) -> list[Example]:
    """A JSONL file shipped in ``textgym/data``."""
    return load_jsonl(DATA_DIR / f"{name}.jsonl", require_references)


def _chatterbot() -> list[Example]:
    from textgym.data.chatterbot import load_chatterbot_english

    return from_sequence(load_chatterbot_english())


def _bible() -> list[Example]:
    from textgym.data.sword import load_bible_pairs

    return from_sequence(load_bible_pairs())


def _stdlib() -> list[Example]:
    from textgym.data.stdlib_docs import load_stdlib_docstrings

    return from_sequence(load_stdlib_docstrings())


# task -> dataset name -> loader. The first name of each task is its default.
DATASETS: dict[str, dict[str, Callable[[], list[Example]]]] = {
    "sentiment": {"openings": lambda: fixture("sentiment_openings")},
    "translation": {
        "original": lambda: fixture("translation_en_es", True),
        "bible": _bible,
        "original+bible": lambda: fixture("translation_en_es", True) + _bible(),
    },
    "summarization": {
        "original": lambda: fixture("summarization_original", True),
        "stdlib": _stdlib,
        "original+stdlib": lambda: fixture("summarization_original", True) + _stdlib(),
    },
    "dialogue": {
        "original+chatterbot": lambda: fixture("dialogue_original") + _chatterbot(),
        "original": lambda: fixture("dialogue_original"),
        "chatterbot": _chatterbot,
    },
}


def load_dataset(
    task: str, dataset: Any = None, split: str = "train", require_references: bool = False
) -> list[Example]:
    """Examples for ``task``: ``dataset`` is None (the task's default), a name from
    :data:`DATASETS`, a path to a JSONL file, or a sequence of examples.

    ``split`` applies to named datasets; a file or sequence you pass is used whole.
    """
    if task not in DATASETS:
        raise DatasetError(f"unknown task {task!r}: choose one of {sorted(DATASETS)}")
    names = DATASETS[task]
    if dataset is None:
        dataset = next(iter(names))
    if isinstance(dataset, str) and dataset in names:
        examples = split_examples(names[dataset](), split)
        if not examples:
            raise DatasetError(f"dataset {dataset!r} has no examples in split {split!r}")
        return examples
    if isinstance(dataset, (str, Path)):
        text = str(dataset)
        if not (text.endswith(".jsonl") or Path(text).expanduser().is_file()):
            raise DatasetError(
                f"unknown dataset {text!r} for the {task} task: use one of "
                f"{sorted(names)}, a path to a .jsonl file, or a list of examples"
            )
        return load_jsonl(dataset, require_references)
    return from_sequence(dataset, require_references)


__all__ = [
    "DATASETS",
    "DatasetError",
    "Example",
    "from_sequence",
    "load_dataset",
    "load_jsonl",
    "split_examples",
]
