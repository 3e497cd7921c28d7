"""Summarisation pairs harvested from the docstrings of the installed Python standard library.

Many stdlib docstrings follow PEP 257: a one-line summary, a blank line, then a longer
description.  The description is a natural "document" and the summary line its reference
summary.  Source files are parsed with :mod:`ast` and never imported, because importing
arbitrary stdlib modules can have side effects (``antigravity`` opens a browser, ``this``
prints, ``tkinter`` needs a display).  Nothing is downloaded; the corpus depends only on the
running interpreter, so counts differ a little between Python versions.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import sysconfig
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["SKIP_DIRS", "load_stdlib_docstrings", "split_docstring"]

#: Directory names never searched: tests (docstrings are test descriptions), GUI/IDE code and
#: deprecated packages whose style differs, third-party packages, and bytecode caches.
SKIP_DIRS = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "lib2to3",
        "site-packages",
        "dist-packages",
        "__pycache__",
    }
)

_MIN_SUMMARY_WORDS = 4
_MAX_SUMMARY_WORDS = 30
# A sentence break inside the summary ("Do X. Returns Y.") means it is not one sentence.
_INNER_SENTENCE_END = re.compile(r"[.!?]\s")
# reST directives (".. versionadded:: 3.2", ".. note::") and comments/targets (".. _x:").
_DIRECTIVE = re.compile(r"^\s*\.\.(\s|$)")

# Bodies that are structured reference material rather than prose: Google/NumPy-style
# sections ("Args:", "Returns:"), "name -- meaning" definition lists, literal blocks ("::")
# and bullet lists.  Their summaries are fine but the text is not something to summarise.
_STRUCTURED = re.compile(
    r"^\s*(?:Args|Arguments|Parameters|Returns?|Raises|Yields?|Examples?|Attributes|Usage|Notes?"
    r"|Keyword [Aa]rguments)\s*:|^-{3,}\s*$| -- |::\s*$|^\s*[-*+] ",
    re.MULTILINE,
)

_Definition = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def split_docstring(docstring: str) -> tuple[str, str] | None:
    """Split a cleaned docstring into ``(summary, raw_body)`` if it has PEP 257 shape.

    The summary is the first line; the second line must be blank and the body is everything
    after it.  Returns ``None`` when there is no blank line or no body.
    """
    lines = docstring.strip().splitlines()
    if len(lines) < 3 or lines[1].strip():
        return None
    body = "\n".join(lines[2:]).strip()
    return (lines[0].strip(), body) if body else None


def _is_summary(line: str) -> bool:
    words = line.split()
    return (
        line.endswith(".")
        and not line.endswith("..")  # "..." trails off, and ".." is reST
        and _MIN_SUMMARY_WORDS <= len(words) <= _MAX_SUMMARY_WORDS
        and not _INNER_SENTENCE_END.search(line)
    )


def _is_prose(body: str) -> bool:
    # Indented lines are literal/code blocks, tables or definition lists in PEP 257 bodies.
    if any(line[:1] in {" ", "\t"} for line in body.splitlines()):
        return False
    return not _STRUCTURED.search(body)


def _is_public(module: str, qualname: str) -> bool:
    # Private helpers (and their modules, e.g. _pyio) carry maintainer notes, not API docs;
    # dunder methods such as __init__ are public.
    parts = [*module.split("."), *qualname.split(".")] if qualname else module.split(".")
    return all(
        not part.startswith("_") or (part.startswith("__") and part.endswith("__"))
        for part in parts
    )


def _clean_body(body: str) -> str:
    """Drop doctest blocks and reST directives, then collapse whitespace to single spaces."""
    kept: list[str] = []
    skip_indent: int | None = None  # indentation of the directive whose content is skipped
    in_doctest = False
    for line in body.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if in_doctest:
            # A doctest example runs from ">>>" through its expected output up to a blank line.
            if stripped:
                continue
            in_doctest = False
        if skip_indent is not None:
            # Directive content is the following block indented deeper than the directive.
            if not stripped or indent > skip_indent:
                continue
            skip_indent = None
        if stripped.startswith(">>>"):
            in_doctest = True
            continue
        if _DIRECTIVE.match(line):
            skip_indent = indent
            continue
        kept.append(stripped)
    return " ".join(" ".join(kept).split())


def _module_name(path: Path, stdlib: Path) -> str:
    parts = list(path.relative_to(stdlib).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _iter_sources(stdlib: Path) -> Iterator[Path]:
    # os.walk with in-place pruning avoids descending into site-packages and test/ at all;
    # sorting directories and files makes the order (and id de-duplication) deterministic.
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and d.isidentifier())
        for filename in sorted(filenames):
            # Skip names that are not importable modules (e.g. scripts with dashes).
            if filename.endswith(".py") and filename[:-3].isidentifier():
                yield Path(dirpath, filename)


def _parse(path: Path) -> ast.Module | None:
    try:
        # tokenize.open honours PEP 263 coding cookies.
        with tokenize.open(path) as handle:
            return ast.parse(handle.read(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return None


def _definitions(node: _Definition, qualname: str) -> Iterator[tuple[str, _Definition]]:
    """Yield ``(qualname, node)`` for ``node`` and the classes/functions defined in its scope.

    Function bodies are not entered: definitions local to a function are private.
    """
    yield qualname, node
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return
    # Walk nested statements (not only the direct body) so that definitions under
    # if/try/with at module or class level, e.g. platform-specific functions, are found too.
    stack: list[ast.AST] = list(reversed(node.body))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _definitions(child, f"{qualname}.{child.name}" if qualname else child.name)
        elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
            stack.extend(reversed(list(ast.iter_child_nodes(child))))


def load_stdlib_docstrings(min_words: int = 40, max_words: int = 400) -> list[dict[str, Any]]:
    """Return ``(body -> summary)`` pairs from stdlib module, class and function docstrings.

    Each item is ``{"id": "stdlib-<module>[.<qualname>]", "prompt": body,
    "references": [summary]}``.  A docstring qualifies when:

    * it belongs to a public module, class or function (no ``_private`` name component, not
      local to a function; dunder methods count as public);
    * its first line is a single sentence of 4-30 words ending in ``"."`` and the second
      line is blank;
    * the rest is prose: no indented lines (literal blocks, tables), no ``Args:``/
      ``Returns:``-style sections, ``name -- meaning`` lists, ``::`` blocks or bullets;
    * that rest, with doctest examples and reST directives removed and whitespace
      collapsed, has between ``min_words`` and ``max_words`` words (inclusive).

    Items are sorted by id.  When an id or a body occurs twice (alternative definitions
    under ``if``, copied docstrings) only the first in source order is kept.  On CPython
    3.11.7 the defaults give 334 pairs (about 2 s); other versions differ somewhat.

    Raises ``FileNotFoundError`` if the interpreter's stdlib sources are missing (minimal
    installs can ship bytecode only); the message names the Debian/Ubuntu package to install.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if not (stdlib / "os.py").is_file():
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        raise FileNotFoundError(
            f"no Python standard library sources in {stdlib}; install them with: "
            f"apt-get install libpython{version}-stdlib"
        )
    pairs: list[dict[str, Any]] = []
    seen: set[str] = set()
    seen_bodies: set[str] = set()
    for path in _iter_sources(stdlib):
        tree = _parse(path)
        if tree is None:
            continue
        module = _module_name(path, stdlib)
        for qualname, node in _definitions(tree, ""):
            if not _is_public(module, qualname):
                continue
            docstring = ast.get_docstring(node, clean=True)
            if not docstring:
                continue
            split = split_docstring(docstring)
            if split is None or not _is_summary(split[0]) or not _is_prose(split[1]):
                continue
            body = _clean_body(split[1])
            if not min_words <= len(body.split()) <= max_words:
                continue
            item_id = f"stdlib-{module}.{qualname}" if qualname else f"stdlib-{module}"
            # Copied docstrings (overrides, aliases) would put one document in the data twice.
            if item_id in seen or body in seen_bodies:
                continue
            seen.add(item_id)
            seen_bodies.add(body)
            pairs.append({"id": item_id, "prompt": body, "references": [split[0]]})
    return sorted(pairs, key=lambda item: item["id"])
