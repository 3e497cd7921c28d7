"""Tests for loading, validating and splitting task data (textgym.data)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from textgym.data import (
    DATASETS,
    DatasetError,
    Example,
    from_sequence,
    load_dataset,
    load_jsonl,
    split_examples,
    stdlib_docs,
    sword,
)

REFERENCE_TASKS = ("translation", "summarization")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(**fields: object) -> str:
    return json.dumps(fields, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# load_jsonl: good files
# --------------------------------------------------------------------------------------------


def test_load_jsonl_references_and_reference_forms(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "good.jsonl",
        [
            _row(id="a", prompt="The cat sleeps.", references=["El gato duerme.", "Duerme."]),
            "",
            "   ",
            _row(prompt="Good morning.", reference="Buenos días."),
            _row(prompt="No references here.", meta={"source": "test", "n": 3}),
            _row(id=7, prompt="Numeric id.", references=["uno", "  "]),
        ],
    )
    examples = load_jsonl(path)
    assert examples == [
        Example("a", "The cat sleeps.", ("El gato duerme.", "Duerme.")),
        Example("line-4", "Good morning.", ("Buenos días.",)),
        Example("line-5", "No references here.", (), {"source": "test", "n": 3}),
        Example("7", "Numeric id.", ("uno",)),  # blank references are dropped
    ]
    assert all(isinstance(ex.references, tuple) for ex in examples)


def test_load_jsonl_default_ids_are_line_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path / "ids.jsonl", ["", _row(prompt="one"), "", _row(prompt="two")])
    assert [ex.id for ex in load_jsonl(path)] == ["line-2", "line-4"]


def test_load_jsonl_accepts_str_and_expands_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "home.jsonl", [_row(prompt="hi", references=["hola"])])
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_jsonl("~/home.jsonl", require_references=True) == [
        Example("line-1", "hi", ("hola",))
    ]


# --------------------------------------------------------------------------------------------
# load_jsonl: errors
# --------------------------------------------------------------------------------------------


def test_dataset_error_is_a_value_error() -> None:
    assert issubclass(DatasetError, ValueError)


def test_load_jsonl_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.jsonl"
    with pytest.raises(DatasetError, match=re.escape(str(missing))):
        load_jsonl(missing)
    with pytest.raises(DatasetError, match="does not exist"):
        load_jsonl(tmp_path)  # a directory is not a dataset file


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_load_jsonl_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match="holds no examples"):
        load_jsonl(path)


def test_load_jsonl_invalid_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.jsonl", [_row(prompt="ok"), '{"prompt": "oops",'])
    with pytest.raises(DatasetError, match="not valid JSON") as info:
        load_jsonl(path)
    message = str(info.value)
    assert "broken.jsonl" in message
    assert "line 2" in message
    assert isinstance(info.value.__cause__, json.JSONDecodeError)


@pytest.mark.parametrize(
    "bad_row",
    [
        _row(id="x", references=["r"]),
        _row(prompt="", references=["r"]),
        _row(prompt="   "),
        _row(prompt=42),
        _row(prompt=None),
    ],
)
def test_load_jsonl_missing_or_empty_prompt(tmp_path: Path, bad_row: str) -> None:
    path = _write(tmp_path / "prompts.jsonl", [_row(prompt="fine"), "", bad_row])
    with pytest.raises(DatasetError, match=r"line 3: field 'prompt'") as info:
        load_jsonl(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("references", "a bare string"),
        ("references", ["ok", 3]),
        ("references", [["nested"]]),
        ("references", {"a": "b"}),
        ("references", None),
        ("reference", ["a list"]),
        ("reference", 5),
    ],
)
def test_load_jsonl_references_must_be_strings(tmp_path: Path, field: str, value: object) -> None:
    path = _write(tmp_path / "refs.jsonl", [json.dumps({"prompt": "p", field: value})])
    with pytest.raises(DatasetError, match=f"line 1: field '{field}' must be"):
        load_jsonl(path)


@pytest.mark.parametrize(
    "second_row",
    [
        _row(prompt="no references"),
        _row(prompt="empty list", references=[]),
        _row(prompt="blank only", references=["", "  "]),
        _row(prompt="blank single", reference=" "),
    ],
)
def test_load_jsonl_require_references(tmp_path: Path, second_row: str) -> None:
    path = _write(tmp_path / "req.jsonl", [_row(prompt="a", references=["b"]), second_row])
    assert len(load_jsonl(path)) == 2  # fine when references are optional
    with pytest.raises(DatasetError, match=r"line 2: field 'references' is missing or empty"):
        load_jsonl(path, require_references=True)


def test_load_jsonl_duplicate_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.jsonl", [_row(id="x", prompt="a"), _row(id="x", prompt="b")])
    with pytest.raises(DatasetError, match="id 'x' appears more than once") as info:
        load_jsonl(path)
    assert str(path) in str(info.value)
    # An explicit id can also collide with a default one.
    clash = _write(tmp_path / "clash.jsonl", [_row(prompt="a"), _row(id="line-1", prompt="b")])
    with pytest.raises(DatasetError, match="'line-1' appears more than once"):
        load_jsonl(clash)


@pytest.mark.parametrize(
    ("line", "type_name"), [('["prompt", "x"]', "list"), ('"prompt"', "str"), ("3", "int")]
)
def test_load_jsonl_non_object_row(tmp_path: Path, line: str, type_name: str) -> None:
    path = _write(tmp_path / "rows.jsonl", [_row(prompt="ok"), line])
    with pytest.raises(DatasetError, match=f"line 2: expected a JSON object, got {type_name}"):
        load_jsonl(path)


def test_load_jsonl_meta_must_be_object(tmp_path: Path) -> None:
    path = _write(tmp_path / "meta.jsonl", [_row(prompt="p", meta=["x"])])
    with pytest.raises(DatasetError, match="line 1: field 'meta' must be an object"):
        load_jsonl(path)


def test_load_jsonl_bad_utf8_names_its_own_line(tmp_path: Path) -> None:
    # 499 good lines (~24 KB: past the 8 KB a text-mode reader decodes ahead), then a bad byte.
    good = [_row(prompt=f"row {i} " + "x" * 30).encode() for i in range(1, 500)]
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join([*good, b'{"prompt": "caf\xe9"}', b'{"prompt": "after"}']) + b"\n")
    with pytest.raises(
        DatasetError, match=r"line 500: not valid UTF-8 \(invalid continuation"
    ) as info:
        load_jsonl(path)
    assert str(path) in str(info.value) and "at byte 16 of the line" in str(info.value)


def test_load_jsonl_line_endings_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "endings.jsonl"
    rows = [_row(prompt="one").encode(), b"", _row(prompt="thrée").encode()]
    for ending in (b"\n", b"\r\n", b"\r"):
        path.write_bytes(b"\xef\xbb\xbf" + ending.join(rows) + ending)
        assert load_jsonl(path) == [Example("line-1", "one"), Example("line-3", "thrée")]


def _nested(levels: int) -> str:
    return "[" * (levels - 1) + "{}" + "]" * (levels - 1)  # `levels` arrays and objects


@pytest.mark.parametrize("levels", [101, 100_000])  # json.loads reads the first, not the second
@pytest.mark.parametrize("field", ["meta", "prompt", "extra"])
def test_load_jsonl_deep_nesting_names_the_field(tmp_path: Path, field: str, levels: int) -> None:
    value = _nested(levels) if field != "meta" else '{"a": ' + _nested(levels - 1) + "}"
    row = '{"id": "deep", "prompt": "p", "meta": {}, "' + field + '": ' + value + "}"
    if field == "prompt":
        row = '{"id": "deep", "prompt": ' + value + "}"
    path = _write(tmp_path / "deep.jsonl", [_row(prompt="fine"), row])
    with pytest.raises(
        DatasetError,
        match=f"line 2: field '{field}' nests objects and arrays more than 100 levels deep",
    ) as info:
        load_jsonl(path)
    assert str(path) in str(info.value)


def test_load_jsonl_nesting_up_to_the_bound_is_kept(tmp_path: Path) -> None:
    meta = json.loads('{"a": ' + _nested(99) + "}")  # 100 levels
    path = _write(tmp_path / "nested.jsonl", [_row(prompt="p", meta=meta)])
    assert load_jsonl(path)[0].meta == meta
    with pytest.raises(DatasetError, match="dataset item 0: field 'meta' nests"):
        from_sequence([{"prompt": "p", "meta": {"a": json.loads(_nested(100))}}])
    cyclic: dict = {}
    cyclic["self"] = cyclic
    with pytest.raises(DatasetError, match="dataset item 0: field 'meta' nests"):
        from_sequence([{"prompt": "p", "meta": cyclic}])


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ('{"prompt": "bad \\ud800 here"}', "prompt"),
        ('{"prompt": "p", "references": ["ok", "\\udfff"]}', "references[1]"),
        ('{"prompt": "p", "reference": "x\\udbff"}', "reference"),
        ('{"id": "\\ud800", "prompt": "p"}', "id"),
    ],
)
def test_load_jsonl_lone_surrogate_names_the_field(tmp_path: Path, row: str, field: str) -> None:
    path = _write(tmp_path / "surrogates.jsonl", [_row(prompt="fine"), row])
    with pytest.raises(
        DatasetError, match=re.escape(f"line 2: field '{field}' holds a lone surrogate, U+D")
    ) as info:
        load_jsonl(path)
    assert str(path) in str(info.value)


def test_surrogate_pairs_are_text_and_lone_ones_are_not() -> None:
    row = json.loads('{"prompt": "smile \\ud83d\\ude00"}')  # a pair: one character
    assert from_sequence([row]) == [Example("item-0", "smile \U0001f600")]
    with pytest.raises(DatasetError, match="dataset item 1: field 'prompt' holds a lone"):
        from_sequence(["fine", "caf\udce9"])  # e.g. from bytes decoded with surrogateescape


# --------------------------------------------------------------------------------------------
# from_sequence
# --------------------------------------------------------------------------------------------


def test_from_sequence_dicts() -> None:
    rows = [
        {"id": "a", "prompt": "p1", "references": ["r1"]},
        {"prompt": "p2", "reference": "r2", "meta": {"k": 1}},
    ]
    assert from_sequence(rows, require_references=True) == [
        Example("a", "p1", ("r1",)),
        Example("item-1", "p2", ("r2",), {"k": 1}),
    ]


def test_from_sequence_strings() -> None:
    assert from_sequence(("hello", "world")) == [
        Example("item-0", "hello"),
        Example("item-1", "world"),
    ]
    with pytest.raises(DatasetError, match="dataset item 0: field 'references'"):
        from_sequence(["hello"], require_references=True)


def test_from_sequence_examples_round_trip() -> None:
    originals = [Example("x", "p", ("r1", "r2"), {"m": 1}), Example("y", "q")]
    assert from_sequence(originals) == originals
    mixed = from_sequence([originals[0], "plain", {"prompt": "d"}])
    assert [ex.id for ex in mixed] == ["x", "item-1", "item-2"]


def test_from_sequence_validates_items() -> None:
    with pytest.raises(DatasetError, match="dataset item 1: field 'prompt'"):
        from_sequence(["ok", {"references": ["r"]}])
    with pytest.raises(DatasetError, match="dataset item 0: expected a JSON object, got int"):
        from_sequence([5])
    with pytest.raises(DatasetError, match="dataset sequence: id 'a' appears more than once"):
        from_sequence([{"id": "a", "prompt": "1"}, {"id": "a", "prompt": "2"}])


def test_from_sequence_empty_raises() -> None:
    with pytest.raises(DatasetError, match="dataset sequence is empty"):
        from_sequence([])


@pytest.mark.parametrize(
    ("rows", "type_name"),
    [
        ("a string", "str"),
        (b"bytes", "bytes"),
        ({"prompt": "a dict"}, "dict"),
        (42, "int"),
        ((s for s in ["a generator"]), "generator"),
    ],
)
def test_from_sequence_non_sequence_raises(rows: object, type_name: str) -> None:
    with pytest.raises(DatasetError, match=f"sequence of examples, got {type_name}"):
        from_sequence(rows)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# split_examples
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def translation_all() -> list[Example]:
    return load_dataset("translation", "original", split="all")


def test_split_disjoint_and_covering(translation_all: list[Example]) -> None:
    train = split_examples(translation_all, "train")
    test = split_examples(translation_all, "test")
    train_ids, test_ids = {ex.id for ex in train}, {ex.id for ex in test}
    assert train and test
    assert not train_ids & test_ids
    assert train_ids | test_ids == {ex.id for ex in translation_all}
    assert len(train) + len(test) == len(translation_all)
    # Each split keeps the input order.
    order = {ex.id: i for i, ex in enumerate(translation_all)}
    assert [order[ex.id] for ex in train] == sorted(order[ex.id] for ex in train)
    assert split_examples(translation_all, "all") == translation_all


def test_split_test_fraction(translation_all: list[Example]) -> None:
    fraction = len(split_examples(translation_all, "test")) / len(translation_all)
    assert 0.05 <= fraction <= 0.15


def test_split_is_deterministic(translation_all: list[Example]) -> None:
    test = split_examples(translation_all, "test")
    assert split_examples(translation_all, "test") == test
    # Membership depends only on the id, not on position or on the other examples.
    reversed_test = split_examples(list(reversed(translation_all)), "test")
    assert {ex.id for ex in reversed_test} == {ex.id for ex in test}
    for ex in translation_all[:20]:
        assert split_examples([ex], "test") == ([ex] if ex in test else [])
    assert load_dataset("translation", "original", split="test") == test


@pytest.mark.parametrize("split", ["valid", "TEST", ""])
def test_split_bad_name_raises(translation_all: list[Example], split: str) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        split_examples(translation_all, split)
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("translation", "original", split=split)


# --------------------------------------------------------------------------------------------
# load_dataset
# --------------------------------------------------------------------------------------------


def _sword_installed() -> bool:
    try:
        sword.find_module("KJV")
        sword.find_module("SpaRV")
    except FileNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def cached_corpora() -> Iterator[None]:
    """Read the Bible pairs and the stdlib harvest once for this module (each takes seconds);
    the named datasets, including the combined ones, still run their own loading code."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sword, "load_bible_pairs", functools.cache(sword.load_bible_pairs))
        mp.setattr(
            stdlib_docs,
            "load_stdlib_docstrings",
            functools.cache(stdlib_docs.load_stdlib_docstrings),
        )
        yield


NAMED = [(task, name) for task, names in DATASETS.items() for name in names]


@pytest.mark.parametrize(("task", "name"), NAMED, ids=[f"{t}-{n}" for t, n in NAMED])
def test_every_named_dataset_loads(task: str, name: str, cached_corpora: None) -> None:
    if "bible" in name and not _sword_installed():
        pytest.skip("SWORD modules not installed: apt-get install sword-text-kjv sword-text-sparv")
    everything = load_dataset(task, name, split="all")
    test = load_dataset(task, name, split="test")
    assert test == split_examples(everything, "test")
    assert test and len(test) < len(everything)
    assert all(isinstance(ex, Example) for ex in everything)
    assert all(ex.prompt.strip() for ex in everything)
    assert len({ex.id for ex in everything}) == len(everything)
    if task in REFERENCE_TASKS or task == "dialogue":
        assert all(ex.references and all(r.strip() for r in ex.references) for ex in everything)
    if "+" in name:
        parts = [load_dataset(task, part, split="all") for part in name.split("+")]
        assert everything == [ex for part in parts for ex in part]


def test_default_dataset_is_the_first_name() -> None:
    assert load_dataset("translation") == load_dataset("translation", "original")
    assert load_dataset("sentiment", split="all") == load_dataset("sentiment", "openings", "all")


@pytest.mark.parametrize(
    ("task", "name", "minimum"),
    [
        ("sentiment", "openings", 200),
        ("translation", "original", 300),
        ("summarization", "original", 100),
    ],
)
def test_shipped_fixture_sizes(task: str, name: str, minimum: int) -> None:
    assert len(load_dataset(task, name, split="all")) >= minimum


def test_shipped_sentiment_openings_have_no_references() -> None:
    assert all(ex.references == () for ex in load_dataset("sentiment", "openings", split="all"))


@pytest.mark.parametrize("task", list(DATASETS))
def test_unknown_dataset_name_lists_known_names(
    task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # so the name cannot resolve to a real path
    with pytest.raises(DatasetError, match="unknown dataset 'no-such-set'") as info:
        load_dataset(task, "no-such-set")
    assert str(sorted(DATASETS[task])) in str(info.value)


def test_load_dataset_from_jsonl_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mine.jsonl",
        [_row(id=f"ex-{i}", prompt=f"sentence {i}", references=[f"frase {i}"]) for i in range(30)],
    )
    expected = load_jsonl(path)
    # A file is used whole, whatever the split.
    assert load_dataset("translation", path, split="test") == expected
    assert load_dataset("translation", str(path), require_references=True) == expected
    assert len(expected) == 30
    bare = _write(tmp_path / "bare.jsonl", [_row(prompt="no reference")])
    assert load_dataset("translation", bare) == [Example("line-1", "no reference")]
    with pytest.raises(DatasetError, match="line 1: field 'references'"):
        load_dataset("translation", bare, require_references=True)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("translation", tmp_path / "missing.jsonl")


def test_load_dataset_from_sequence() -> None:
    rows = [{"prompt": "a", "references": ["b"]}, "c"]
    assert load_dataset("dialogue", rows, split="test") == from_sequence(rows)
    with pytest.raises(DatasetError, match="dataset item 1: field 'references'"):
        load_dataset("translation", rows, require_references=True)
