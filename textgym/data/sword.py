"""Minimal reader for SWORD ``zText`` Bible modules, and an English/Spanish verse-pair loader.

SWORD (https://crosswire.org/sword/) modules are installed by Debian packages such as
``sword-text-kjv`` and ``sword-text-sparv`` under ``/usr/share/sword``.  Each module has a
``mods.d/<name>.conf`` file (INI-like) whose ``DataPath=`` key points, relative to the library
root, at a directory holding the compressed text.  A ``zText`` module stores each testament in
three files (``ot.*`` for the Old Testament, ``nt.*`` for the New Testament):

* ``.bzs`` -- block index, 12 bytes per block: little-endian uint32 offset into ``.bzz``,
  compressed size, uncompressed size;
* ``.bzv`` -- verse index, 10 bytes per entry: uint32 block number, uint32 byte offset inside
  the *decompressed* block, uint16 byte length;
* ``.bzz`` -- the compressed blocks, concatenated.

The verse index follows the module's versification and also contains non-verse slots (module
and testament headings, book and chapter introductions).  Those slots normally hold only
markup, so after markup stripping they come out as ``""``; modules sharing a versification
therefore line up index by index, which is what :func:`load_bible_pairs` relies on.

Only the Python standard library is used; nothing is downloaded.
"""

from __future__ import annotations

import bz2
import html
import lzma
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_ROOT",
    "INSTALL_HINT",
    "SwordModule",
    "find_module",
    "list_modules",
    "load_bible_pairs",
    "read_ztext",
    "strip_markup",
]

DEFAULT_ROOT = Path("/usr/share/sword")

#: Command that installs the two modules :func:`load_bible_pairs` uses by default.
INSTALL_HINT = "apt-get install sword-text-kjv sword-text-sparv"

_BLOCK_RECORD = struct.Struct("<III")  # offset, compressed size, uncompressed size
_VERSE_RECORD = struct.Struct("<IIH")  # block number, offset in block, size (zText)
_VERSE_RECORD4 = struct.Struct("<III")  # zText4 widens the size field to uint32

# Footnotes (and their nested <reference> markers) are editorial, not scripture: drop the content.
_NOTE_RE = re.compile(r"<note\b[^>]*?(?<!/)>.*?</note\s*>", re.DOTALL)
# Titles: canonical ones (Psalm superscriptions) are part of the text -- other translations such
# as the Spanish RV1909 print them inside verse 1 -- so keep their words; other titles (book
# names, section headings) are editorial and are dropped with their content.
_TITLE_RE = re.compile(r"<title\b([^>]*?)(?<!/)>(.*?)</title\s*>", re.DOTALL)
_CANONICAL_RE = re.compile(r"""\bcanonical\s*=\s*["']true["']""")
# Structural elements separate words, so they become a space; everything else (<w>,
# <transChange>, <divineName>, <q>, ...) wraps words inline and is removed without a space, so
# that "darkness</w>." does not turn into "darkness .".
_BLOCK_TAG_RE = re.compile(
    r"</?(?:div|p|l|lg|lb|br|chapter|verse|milestone|title|list|item|table|row|cell|head)\b[^>]*>",
    re.IGNORECASE,
)
_ANY_TAG_RE = re.compile(r"(?:<[^>]*>)+")


@dataclass(frozen=True)
class SwordModule:
    """A module found through its ``.conf`` file.

    ``name`` is the ``[section]`` name (e.g. ``engKJV2006eb``), ``path`` the absolute data
    directory, and ``config`` the raw key/value pairs (repeated keys keep their last value).
    """

    name: str
    path: Path
    config: dict[str, str]

    @property
    def encoding(self) -> str:
        """Python codec for the module text; SWORD's default, when no key is given, is Latin-1."""
        value = self.config.get("Encoding", "").strip().upper().replace("_", "-")
        return "utf-8" if value in {"UTF-8", "UTF8"} else "latin-1"


def strip_markup(text: str) -> str:
    """Turn one raw OSIS/ThML/GBF verse entry into plain text.

    Footnotes and non-canonical titles are removed together with their content, every other
    tag is removed (structural ones leave a space), entities are unescaped, pilcrows (KJV
    paragraph marks) are removed and whitespace is collapsed.  Returns ``""`` for entries that
    hold only markup.

    Inline tags that touch letters on both sides are word-internal in KJV ("give</w>n"), but
    RV1909 also omits spaces around translator-added ``<transChange>`` words; those become a
    space, except for Spanish enclitic pronouns after a verb-like word ("sácalo").  That
    heuristic is right for all but a handful of the ~450 affected RV1909 spots.
    """
    text = _NOTE_RE.sub(" ", text)
    text = _TITLE_RE.sub(
        lambda m: f" {m.group(2)} " if _CANONICAL_RE.search(m.group(1)) else " ", text
    )
    text = _BLOCK_TAG_RE.sub(" ", text)
    text = _ANY_TAG_RE.sub(_inline_tag_replacement, text)
    text = html.unescape(text).replace("\u00b6", " ").replace("\x00", " ")
    return " ".join(text.split())


def _inline_tag_replacement(match: re.Match[str]) -> str:
    """Replace a run of inline tags by "" (same word) or " " (word boundary)."""
    text = match.string
    before = text[match.start() - 1] if match.start() > 0 else ""
    after = text[match.end()] if match.end() < len(text) else ""
    if not (before.isalpha() and after.isalpha()):
        return ""  # whitespace or punctuation already separates (or ends) the words
    # Some modules (e.g. RV1909) omit the space between adjacent elements:
    # "ejército</w><transChange>se llamaba</transChange><w>Sísara".  A lowercase letter
    # followed directly by a capital across a tag boundary is then two words.
    if before.islower() and after.isupper():
        return " "
    tags = match.group(0)
    if "transChange" not in tags:
        # KJV splits single words across <w> elements ("give</w>n"): keep them joined.
        return ""
    # Translator-added words (<transChange>) are normally separate words...
    prev_word = _WORD_BEFORE_RE.search(text, 0, match.start())
    next_word = _WORD_AFTER_RE.match(text, match.end())
    if (
        prev_word is not None
        and next_word is not None
        and next_word.group(0).lower() in _ENCLITICS
        and _looks_like_verb(prev_word.group(0))
    ):
        # ...except Spanish enclitic pronouns attached to a verb, on either side of the added
        # part: "sáca</w><transChange>lo", "haber</transChange><w>lo".
        return ""
    return " "


# Spanish object pronouns that RV1909 attaches to verbs ("sácalo", "díjole", "dadme").
_ENCLITICS = frozenset({"lo", "la", "los", "las", "le", "les", "me", "te", "se", "nos", "os"})
_WORD_BEFORE_RE = re.compile(r"\w+$")
_WORD_AFTER_RE = re.compile(r"\w+")
_ACCENTED = frozenset("áéíóú")


def _looks_like_verb(word: str) -> bool:
    # Infinitives and plural imperatives end in -r/-d ("pagar", "alabad"); with an enclitic,
    # other verb forms carry a written accent ("sáca", "adorándo", "plantó").  Capitalised
    # words with a final accent are names ("Jehová", "Josué"), which take no enclitic.
    if word[-1] in "rd":
        return True
    if word[0].isupper() and word[-1] in _ACCENTED:
        return False
    return any(char in _ACCENTED for char in word)


def _decompressor(compress_type: str) -> Callable[[bytes], bytes]:
    kind = compress_type.strip().upper() or "ZIP"
    if kind == "ZIP":
        return zlib.decompress
    if kind == "BZIP2":
        return bz2.decompress
    if kind == "XZ":
        return lzma.decompress
    # LZSS is SWORD's own legacy format; no module we target uses it.
    raise ValueError(
        f"unsupported SWORD CompressType {compress_type!r} (supported: ZIP, BZIP2, XZ)"
    )


def _decode(raw: bytes, encoding: str | None) -> str:
    if encoding is not None:
        return raw.decode(encoding, errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Modules without an Encoding= key are Latin-1 by SWORD convention.
        return raw.decode("latin-1")


def _read_testament(
    module_dir: Path,
    prefix: str,
    encoding: str | None,
    decompress: Callable[[bytes], bytes],
    wide_sizes: bool,
) -> list[str] | None:
    files = [module_dir / f"{prefix}.{ext}" for ext in ("bzs", "bzv", "bzz")]
    if not all(f.is_file() for f in files):
        return None
    bzs, bzv, bzz = (f.read_bytes() for f in files)
    blocks = [
        _BLOCK_RECORD.unpack_from(bzs, pos)
        for pos in range(0, len(bzs) - _BLOCK_RECORD.size + 1, _BLOCK_RECORD.size)
    ]
    record = _VERSE_RECORD4 if wide_sizes else _VERSE_RECORD
    cache: dict[int, bytes] = {}
    verses: list[str] = []
    for pos in range(0, len(bzv) - record.size + 1, record.size):
        block_no, offset, size = record.unpack_from(bzv, pos)
        if size == 0 or block_no >= len(blocks):
            verses.append("")
            continue
        if block_no not in cache:
            start, compressed_size, _ = blocks[block_no]
            # Blocks are decompressed lazily and kept: a block holds a whole book, so every
            # block is needed anyway and each is inflated exactly once.
            cache[block_no] = decompress(bzz[start : start + compressed_size])
        raw = cache[block_no][offset : offset + size]
        verses.append(strip_markup(_decode(raw, encoding)))
    return verses


def read_ztext(
    module_dir: str | Path,
    *,
    encoding: str | None = None,
    compress_type: str = "ZIP",
    wide_sizes: bool = False,
) -> list[str]:
    """Return every entry of a zText module as plain text, in index order.

    Old Testament entries come first, then New Testament ones; empty and heading-only slots
    are kept as ``""`` so that indices align between modules with the same versification.
    A testament whose three files are absent is skipped (e.g. NT-only modules).

    ``encoding`` is a Python codec (``None``: UTF-8, falling back to Latin-1 per entry);
    ``compress_type`` is the ``CompressType=`` value of the ``.conf`` (ZIP, BZIP2 or XZ);
    ``wide_sizes=True`` reads ``zText4`` modules, whose verse sizes are uint32.

    Raises ``FileNotFoundError`` if neither testament is present in ``module_dir``.
    """
    module_dir = Path(module_dir)
    decompress = _decompressor(compress_type)
    verses: list[str] = []
    found = False
    for prefix in ("ot", "nt"):
        part = _read_testament(module_dir, prefix, encoding, decompress, wide_sizes)
        if part is not None:
            found = True
            verses.extend(part)
    if not found:
        raise FileNotFoundError(
            f"no zText data (ot.bzs/bzv/bzz or nt.bzs/bzv/bzz) in {module_dir}; "
            f"install modules with: {INSTALL_HINT}"
        )
    return verses


def _parse_conf(path: Path) -> tuple[str, dict[str, str]]:
    # .conf files are INI-like but not configparser-compatible (repeated keys, "\" line
    # continuations, RTF in values), so parse them by hand.  Latin-1 never fails to decode and
    # the keys we need are ASCII.
    name = path.stem
    config: dict[str, str] = {}
    key: str | None = None
    for line in path.read_text(encoding="latin-1").splitlines():
        stripped = line.strip()
        if key is not None:  # continuation of the previous value
            config[key] += "\n" + stripped.rstrip("\\")
            key = key if stripped.endswith("\\") else None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            name = stripped[1:-1].strip()
            continue
        if "=" in stripped:
            k, _, v = stripped.partition("=")
            config[k.strip()] = v.strip().rstrip("\\").strip()
            key = k.strip() if v.rstrip().endswith("\\") else None
    return name, config


def list_modules(root: str | Path = DEFAULT_ROOT) -> list[SwordModule]:
    """Return the modules described by ``root/mods.d/*.conf`` (sorted by file name).

    Raises ``FileNotFoundError`` (with the install command) if ``root/mods.d`` is missing.
    """
    root = Path(root)
    mods_d = root / "mods.d"
    if not mods_d.is_dir():
        raise FileNotFoundError(
            f"no SWORD module library at {root} (missing {mods_d}); install with: {INSTALL_HINT}"
        )
    modules = []
    for conf in sorted(mods_d.glob("*.conf")):
        name, config = _parse_conf(conf)
        data_path = config.get("DataPath", "").strip()
        if not data_path:
            continue
        modules.append(SwordModule(name, (root / data_path).resolve(), config))
    return modules


def _module_aliases(module: SwordModule) -> set[str]:
    names = {module.name, module.config.get("Abbreviation", "")}
    names.update(module.config.get("Obsoletes", "").split())
    return {n.lower() for n in names if n}


def _find(name: str, root: Path) -> SwordModule:
    modules = list_modules(root)
    wanted = name.lower()
    exact = [m for m in modules if wanted in _module_aliases(m)]
    if not exact:
        # Debian still calls the Spanish package "sparv" while the module is now named
        # "spaRV1909eb": accept an unambiguous prefix of the module name.
        exact = [m for m in modules if m.name.lower().startswith(wanted)]
    if len(exact) != 1:
        available = (
            ", ".join(f"{m.name} ({m.config.get('Abbreviation', '-')})" for m in modules) or "none"
        )
        problem = "is ambiguous" if exact else "was not found"
        raise FileNotFoundError(
            f"SWORD module {name!r} {problem} under {root} (available: {available}); "
            f"install with: {INSTALL_HINT}"
        )
    return exact[0]


def find_module(name: str, root: Path = DEFAULT_ROOT) -> Path:
    """Return the data directory of the module called ``name`` (case-insensitive).

    ``name`` may be the ``.conf`` section name (``engKJV2006eb``), its ``Abbreviation``
    (``KJV``, ``RV1909``), an ``Obsoletes`` name, or an unambiguous prefix of the section name
    (``SpaRV`` matches ``spaRV1909eb``).  Raises ``FileNotFoundError`` naming the apt command
    when the library or the module is missing.
    """
    return _find(name, Path(root)).path


def _read_module(module: SwordModule) -> list[str]:
    driver = module.config.get("ModDrv", "zText").strip().lower()
    if driver not in {"ztext", "ztext4"}:
        raise ValueError(f"SWORD module {module.name} uses driver {driver!r}, not zText")
    return read_ztext(
        module.path,
        encoding=module.encoding,
        compress_type=module.config.get("CompressType", "ZIP"),
        wide_sizes=driver == "ztext4",
    )


def load_bible_pairs(
    source: str = "KJV", target: str = "SpaRV", root: str | Path = DEFAULT_ROOT
) -> list[dict[str, Any]]:
    """Return verse-aligned translation pairs between two installed SWORD Bibles.

    Each item is ``{"id": f"{source}-{target}-{index}" (lower-cased), "prompt": source verse,
    "references": [target verse]}`` where ``index`` is the position in the modules' shared
    verse index (stable across runs).  Only slots where both verses are non-empty are kept;
    with the defaults (Debian ``sword-text-kjv`` 14.3 and ``sword-text-sparv`` 2.60) that is
    31,084 pairs with ids ``kjv-sparv-<index>``.

    Raises ``FileNotFoundError`` naming ``apt-get install sword-text-kjv sword-text-sparv``
    if a module is missing, and ``ValueError`` if the two versifications differ.
    """
    root = Path(root)
    src_mod, tgt_mod = _find(source, root), _find(target, root)
    src_v11n = src_mod.config.get("Versification", "KJV")
    tgt_v11n = tgt_mod.config.get("Versification", "KJV")
    if src_v11n != tgt_v11n:
        raise ValueError(
            f"cannot align {src_mod.name} ({src_v11n}) with {tgt_mod.name} ({tgt_v11n}): "
            "different versifications"
        )
    src, tgt = _read_module(src_mod), _read_module(tgt_mod)
    if len(src) != len(tgt):
        raise ValueError(
            f"{src_mod.name} has {len(src)} index entries but {tgt_mod.name} has {len(tgt)}"
        )
    prefix = f"{source.lower()}-{target.lower()}"
    return [
        {"id": f"{prefix}-{i}", "prompt": s, "references": [t]}
        for i, (s, t) in enumerate(zip(src, tgt, strict=True))
        if s and t
    ]
