"""Tests for the corpus readers in textgym.data (SWORD Bibles, stdlib docstrings, chatterbot)."""

from __future__ import annotations

import re
import struct
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest

from textgym.data import chatterbot, stdlib_docs, sword

SWORD_ROOT = Path("/usr/share/sword")


def _assert_well_formed(items: list[dict[str, Any]]) -> None:
    assert all(set(item) == {"id", "prompt", "references"} for item in items)
    assert all(isinstance(item["id"], str) and item["id"] for item in items)
    assert all(isinstance(item["prompt"], str) and item["prompt"].strip() for item in items)
    assert all(
        isinstance(item["references"], list)
        and len(item["references"]) == 1
        and isinstance(item["references"][0], str)
        and item["references"][0].strip()
        for item in items
    )
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------------------------
# SWORD zText
# --------------------------------------------------------------------------------------------


def _write_testament(directory: Path, prefix: str, blocks: list[list[bytes | None]]) -> None:
    """Write ``prefix.bzs/.bzv/.bzz``; each block is a list of verse payloads (None = empty)."""
    bzs, bzv, bzz = bytearray(), bytearray(), bytearray()
    for block_no, verses in enumerate(blocks):
        plain = bytearray()
        for verse in verses:
            if verse is None:
                bzv += struct.pack("<IIH", 0, 0, 0)
            else:
                bzv += struct.pack("<IIH", block_no, len(plain), len(verse))
                plain += verse
        compressed = zlib.compress(bytes(plain))
        bzs += struct.pack("<III", len(bzz), len(compressed), len(plain))
        bzz += compressed
    for ext, data in (("bzs", bzs), ("bzv", bzv), ("bzz", bzz)):
        (directory / f"{prefix}.{ext}").write_bytes(bytes(data))


def _make_module(
    root: Path,
    name: str,
    ot: list[list[bytes | None]],
    nt: list[list[bytes | None]],
    *,
    abbreviation: str,
    encoding: str | None = "UTF-8",
) -> Path:
    data = root / "modules" / "texts" / "ztext" / name.lower()
    data.mkdir(parents=True)
    _write_testament(data, "ot", ot)
    _write_testament(data, "nt", nt)
    (root / "mods.d").mkdir(exist_ok=True)
    lines = [
        f"[{name}]",
        "# a comment",
        f"DataPath=./modules/texts/ztext/{name.lower()}/",
        "ModDrv=zText",
        "CompressType=ZIP",
        f"Abbreviation={abbreviation}",
        "Versification=KJV",
        "About=first line \\",
        "  continued line",
    ]
    if encoding:
        lines.append(f"Encoding={encoding}")
    (root / "mods.d" / f"{name.lower()}.conf").write_text("\n".join(lines) + "\n")
    return data


ENGLISH_OT = [
    [None, b'<milestone type="x-importer"/>'],  # module + testament headings
    [
        b'<div osisID="Gen" type="book"/><title type="main">Genesis</title>',  # book intro
        b'<chapter n="1" osisID="Gen.1"/> ',  # chapter intro
        b'In the <w lemma="strong:H7225">beginning</w> God created the heaven '
        b'<transChange type="added">and</transChange> the earth.'
        b'<note placement="foot"><reference>1.1</reference>Heb. note text</note> ',
        b'<title canonical="true" type="psalm">A Psalm.</title> <l level="1"/>Praise'
        b"<lb/>ye &amp; sing\xc2\xb6  <divineName>Lord</divineName>;",
        b"Only <w>give</w>n in English.",
    ],
]
SPANISH_OT = [
    [None, b"<milestone/>"],
    [
        b'<title type="main">G\xc3\xa9nesis</title>',
        b"<chapter/>",
        b'<w lemma="strong:H7225">EN el principio</w> cri\xc3\xb3 Dios.',
        b"<w>all\xc3\xad</w><transChange>tambi\xc3\xa9n</transChange><w>S\xc3\xadsara</w> "
        b"<w>s\xc3\xa1ca</w><transChange>lo</transChange><w>hijo</w><transChange>Dios</transChange>",
        None,
    ],
]
ENGLISH_NT = [[None, b"", b"Jesus wept."]]
SPANISH_NT = [[None, b"", b"Jes\xc3\xbas llor\xc3\xb3."]]


@pytest.fixture
def synthetic_library(tmp_path: Path) -> Path:
    _make_module(tmp_path, "engTEST", ENGLISH_OT, ENGLISH_NT, abbreviation="TE")
    _make_module(tmp_path, "spaTEST1909", SPANISH_OT, SPANISH_NT, abbreviation="TS")
    return tmp_path


def test_read_ztext_decodes_and_strips_markup(synthetic_library: Path) -> None:
    verses = sword.read_ztext(synthetic_library / "modules/texts/ztext/engtest")
    assert verses == [
        "",
        "",
        "",
        "",
        "In the beginning God created the heaven and the earth.",
        "A Psalm. Praise ye & sing Lord;",
        "Only given in English.",
        "",
        "",
        "Jesus wept.",
    ]
    spanish = sword.read_ztext(synthetic_library / "modules/texts/ztext/spatest1909")
    # Missing spaces around <transChange> in the source are restored, but not before an
    # enclitic pronoun ("sácalo").
    assert spanish[4:6] == ["EN el principio crió Dios.", "allí también Sísara sácalo hijo Dios"]
    assert len(spanish) == len(verses)


def test_read_ztext_latin1_and_missing(tmp_path: Path) -> None:
    data = _make_module(
        tmp_path, "latin", [[b"Ni\xf1o <w>peque\xf1o</w>."]], [], abbreviation="L", encoding=None
    )
    module = sword.list_modules(tmp_path)[0]
    assert module.encoding == "latin-1"
    assert module.config["About"] == "first line\ncontinued line"
    assert sword.read_ztext(data, encoding=module.encoding) == ["Niño pequeño."]
    assert sword.read_ztext(data) == ["Niño pequeño."]  # falls back when not UTF-8
    with pytest.raises(FileNotFoundError, match="apt-get install sword-text-kjv sword-text-sparv"):
        sword.read_ztext(tmp_path / "nowhere")


def test_find_module_by_name_abbreviation_and_prefix(synthetic_library: Path) -> None:
    english = synthetic_library / "modules/texts/ztext/engtest"
    assert sword.find_module("engtest", root=synthetic_library) == english.resolve()
    assert sword.find_module("te", root=synthetic_library) == english.resolve()
    spanish = (synthetic_library / "modules/texts/ztext/spatest1909").resolve()
    assert sword.find_module("SpaTest", root=synthetic_library) == spanish
    with pytest.raises(FileNotFoundError, match="apt-get install sword-text-kjv sword-text-sparv"):
        sword.find_module("KJV", root=synthetic_library)
    with pytest.raises(FileNotFoundError, match="apt-get install sword-text-kjv sword-text-sparv"):
        sword.find_module("KJV", root=synthetic_library / "empty")


def test_load_bible_pairs_aligns_non_empty_verses(synthetic_library: Path) -> None:
    pairs = sword.load_bible_pairs("TE", "spaTEST", root=synthetic_library)
    assert pairs == [
        {
            "id": "te-spatest-4",
            "prompt": "In the beginning God created the heaven and the earth.",
            "references": ["EN el principio crió Dios."],
        },
        {
            "id": "te-spatest-5",
            "prompt": "A Psalm. Praise ye & sing Lord;",
            "references": ["allí también Sísara sácalo hijo Dios"],
        },
        {"id": "te-spatest-9", "prompt": "Jesus wept.", "references": ["Jesús lloró."]},
    ]


def test_real_kjv_sparv_pairs() -> None:
    try:
        sword.find_module("KJV", SWORD_ROOT)
        sword.find_module("SpaRV", SWORD_ROOT)
    except FileNotFoundError:
        pytest.skip("SWORD modules not installed: apt-get install sword-text-kjv sword-text-sparv")
    pairs = sword.load_bible_pairs()
    assert len(pairs) == 31_084
    _assert_well_formed(pairs)
    by_id = {pair["id"]: pair for pair in pairs}
    genesis = by_id["kjv-sparv-4"]  # index 4: module, testament, book, chapter headings first
    assert genesis["prompt"] == "In the beginning God created the heaven and the earth."
    assert genesis["references"] == ["EN el principio crió Dios los cielos y la tierra."]
    assert pairs[-1]["prompt"] == "The grace of our Lord Jesus Christ be with you all. Amen."
    leftovers = re.compile(r"[<>\u00b6]|strong:[GH]\d|lemma=|\s\s|^\s|\s$")
    assert not any(
        leftovers.search(text) for pair in pairs for text in (pair["prompt"], *pair["references"])
    )


# --------------------------------------------------------------------------------------------
# stdlib docstrings
# --------------------------------------------------------------------------------------------

LONG_PROSE = " ".join(["This sentence explains the behaviour in some detail."] * 6)
OTHER_PROSE = " ".join(["Another sentence describes what the class is for."] * 6)


def test_stdlib_filters_on_a_fake_stdlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "os.py").write_text('"""Too short."""\n')
    (tmp_path / "good.py").write_text(
        textwrap.dedent(
            f'''
            """Provide a small fake module for the tests.

            {LONG_PROSE}

            >>> 1 + 1
            2

            .. versionadded:: 3.99
            """

            class Thing:
                """Represent one thing with a long description.

                {OTHER_PROSE}
                """

            class Copy:
                """Represent a copy of the thing with a long description.

                {OTHER_PROSE}
                """

                def method(self):
                    """Do one thing and then another thing. Then stop.

                    {LONG_PROSE}
                    """

                def _private(self):
                    """Do a private thing for the tests.

                    {LONG_PROSE}
                    """

            def code_example():
                """Show an example with an indented block.

                {LONG_PROSE}

                    x = 1
                """
            '''
        )
    )
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "skipped.py").write_text((tmp_path / "good.py").read_text())
    (tmp_path / "broken.py").write_text("def (:\n")
    monkeypatch.setattr(stdlib_docs.sysconfig, "get_paths", lambda: {"stdlib": str(tmp_path)})

    pairs = stdlib_docs.load_stdlib_docstrings()
    assert [pair["id"] for pair in pairs] == ["stdlib-good", "stdlib-good.Thing"]
    assert pairs[0]["prompt"] == LONG_PROSE  # doctest and directive removed
    assert pairs[0]["references"] == ["Provide a small fake module for the tests."]
    assert pairs[1]["prompt"] == OTHER_PROSE  # and Copy, with the same body, is dropped
    assert stdlib_docs.load_stdlib_docstrings(min_words=len(LONG_PROSE.split()) + 1) == []


def test_stdlib_real_harvest() -> None:
    pairs = stdlib_docs.load_stdlib_docstrings()
    assert len(pairs) >= 100
    _assert_well_formed(pairs)
    assert all(pair["id"].startswith("stdlib-") for pair in pairs)
    assert [pair["id"] for pair in pairs] == sorted(pair["id"] for pair in pairs)
    for pair in pairs:
        summary = pair["references"][0]
        assert summary.endswith(".") and 4 <= len(summary.split()) <= 30
        assert 40 <= len(pair["prompt"].split()) <= 400
        assert ">>>" not in pair["prompt"] and not re.search(r"\.\. [\w-]+::", pair["prompt"])
        assert "\n" not in pair["prompt"]
    assert stdlib_docs.load_stdlib_docstrings() == pairs  # deterministic


# --------------------------------------------------------------------------------------------
# chatterbot-corpus
# --------------------------------------------------------------------------------------------


def test_chatterbot_english() -> None:
    examples = chatterbot.load_chatterbot_english()
    assert len(examples) >= 1000
    _assert_well_formed(examples)
    assert all(example["id"].startswith("chatterbot-") for example in examples)
    first = examples[0]
    assert first["id"] == "chatterbot-ai-0"
    assert first["prompt"] == "What is AI?"


def test_chatterbot_converts_non_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    english = tmp_path / "chatterbot_corpus" / "data" / "english"
    english.mkdir(parents=True)
    (tmp_path / "chatterbot_corpus" / "__init__.py").write_text("")
    (english / "numbers.yml").write_text(
        textwrap.dedent(
            """
            categories: [test]
            conversations:
            - - How many?
              - 42
            - - yes
              - 3.5
            - - only one turn
            - - ''
              - empty prompt
            - - Fine?
              - ' '
            - - Hello
              - Hi
              - extra turn
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert chatterbot.load_chatterbot_english() == [
        {"id": "chatterbot-numbers-0", "prompt": "How many?", "references": ["42"]},
        {"id": "chatterbot-numbers-1", "prompt": "True", "references": ["3.5"]},
        {"id": "chatterbot-numbers-5", "prompt": "Hello", "references": ["Hi"]},
    ]


def test_chatterbot_missing_package_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatterbot.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install chatterbot-corpus pyyaml"):
        chatterbot.load_chatterbot_english()
