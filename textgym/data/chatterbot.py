"""Single-turn dialogue examples from the English part of the ``chatterbot-corpus`` package.

The pip package ``chatterbot-corpus`` ships YAML files under
``chatterbot_corpus/data/<language>/*.yml``; each has a ``conversations:`` list whose items
are lists of turns.  The package is only located (never imported, so nothing runs) and its
files are parsed with PyYAML's safe loader.  Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "corpus_dir", "load_chatterbot_english"]

#: Command that installs everything this module needs.
INSTALL_HINT = "pip install chatterbot-corpus pyyaml"


def corpus_dir(language: str = "english") -> Path:
    """Return ``chatterbot_corpus/data/<language>`` of the installed package.

    Raises ``FileNotFoundError`` (naming the pip command) if the package or the language
    directory is missing.
    """
    # find_spec on a top-level name locates the package without executing its __init__.
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the chatterbot-corpus package is not installed; install it with: {INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        directory = Path(location) / "data" / language
        if directory.is_dir():
            return directory
    raise FileNotFoundError(
        f"chatterbot-corpus has no data/{language} directory; reinstall it with: "
        f"pip install --force-reinstall chatterbot-corpus pyyaml"
    )


def _turn_text(value: object) -> str:
    # YAML 1.1 turns bare answers such as "yes", "42" or "3.14" into bool/int/float; the
    # corpus means them as text.  str() gives "True"/"42", which is what a reader would see.
    # Only the ends are stripped: coding.yml answers hold fenced code blocks whose newlines
    # and indentation matter.
    if value is None:
        return ""
    return str(value).strip()


def load_chatterbot_english() -> list[dict[str, Any]]:
    """Return one example per English conversation with at least two turns.

    Each item is ``{"id": "chatterbot-<file stem>-<index>", "prompt": turn 0,
    "references": [turn 1]}``, where ``index`` is the conversation's position in its file
    (so ids are stable even though skipped conversations leave gaps).  Non-string turns
    (YAML numbers, booleans) are converted with ``str``; turns are stripped but inner newlines
    are kept, since some answers contain code blocks.  Conversations that are not lists or
    whose first or second turn is empty are skipped.  Files are read in sorted order.
    chatterbot-corpus 1.3.3 gives 2,025 examples.

    Raises ``ImportError`` if PyYAML is missing and ``FileNotFoundError`` if the corpus is
    missing; both messages give ``pip install chatterbot-corpus pyyaml``.
    """
    directory = corpus_dir("english")
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(f"PyYAML is needed to read chatterbot-corpus: {INSTALL_HINT}") from exc
    # The C loader is several times faster on the large tech_support.yml; fall back if
    # PyYAML was built without libyaml.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    examples: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yml")):
        with path.open(encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=loader)  # a safe loader: no object tags
        conversations = document.get("conversations") if isinstance(document, dict) else None
        for index, conversation in enumerate(conversations or []):
            if not isinstance(conversation, list) or len(conversation) < 2:
                continue
            prompt, reply = _turn_text(conversation[0]), _turn_text(conversation[1])
            if not prompt or not reply:
                continue
            examples.append(
                {
                    "id": f"chatterbot-{path.stem}-{index}",
                    "prompt": prompt,
                    "references": [reply],
                }
            )
    return examples
