"""Task data: examples, the JSONL schema, named datasets and deterministic splits.

An example is one episode's task: a ``prompt`` (the text the environment builds its
context from: an opening to continue, a sentence to translate, a document, a user's first
message) and ``references`` (zero or more target texts). JSONL files hold one object per
line::

    {"id": "enes-0001", "prompt": "The cat sleeps.", "references": ["El gato duerme."]}

``id`` is optional (the line number is used), ``reference`` (one string) may stand for
``references``, and ``meta`` (an object) is kept as it is.
"""

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent
SPLITS = ("train", "test", "all")
TEST_FRACTION = 0.1


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
    # utf-8-sig: a byte-order mark from some editors is not part of the first JSON object.
    with path.open(encoding="utf-8-sig", errors="strict") as handle:
        lines = _read_lines(handle, path)
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetError(f"{where}: not valid JSON ({err.msg})") from err
            examples.append(_to_example(row, where, f"line-{lineno}", require_references))
    if not examples:
        raise DatasetError(f"dataset file {str(path)!r} holds no examples")
    _check_unique_ids(examples, str(path))
    return examples


def _read_lines(handle: Any, path: Path) -> list[str]:
    lines = []
    while True:
        try:
            line = handle.readline()
        except UnicodeDecodeError as err:
            raise DatasetError(
                f"{path}, line {len(lines) + 1}: not valid UTF-8 ({err.reason}); save the file "
                "as UTF-8"
            ) from err
        if not line:
            return lines
        lines.append(line)


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
    prompt = row.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DatasetError(f"{where}: field 'prompt' is missing or not a non-empty string")
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
    refs = tuple(r for r in refs if r.strip())
    if require_references and not refs:
        raise DatasetError(
            f"{where}: field 'references' is missing or empty; this task scores against "
            "references, so give each example at least one"
        )
    meta = row.get("meta", {})
    if not isinstance(meta, Mapping):
        raise DatasetError(f"{where}: field 'meta' must be an object")
    return Example(str(row.get("id", default_id)), prompt, refs, dict(meta))


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
