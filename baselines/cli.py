"""Command-line configs from dataclasses: one ``--field-name`` flag per field, the field's
docstring (the string literal after it) as its help text.

Shared by the Stable-Baselines3 agents (:mod:`baselines.sb3_common`) and the token-level
PPO trainer (:mod:`baselines.ppo`).
"""

import argparse
import ast
import dataclasses
import inspect
import json
import types
from pathlib import Path
from typing import Any


def field_docstrings(cls: type) -> dict[str, str]:
    """Each dataclass field's docstring (the string literal after it), subclasses first."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(inspect.getsource(klass).lstrip())
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = after.value.value.strip()
    return docs


def _arg_type(annotation: Any) -> tuple[Any, bool]:
    """The argparse type of a field's annotation and whether None is allowed."""
    if isinstance(annotation, types.UnionType):
        args = [a for a in annotation.__args__ if a is not type(None)]
        return args[0], len(args) < len(annotation.__args__)
    return annotation, False


def parse_config(cls: type, argv: list[str] | None = None) -> Any:
    """``cls`` (a dataclass) from command-line arguments: one
    ``--field-name`` per field, its docstring as the help text."""
    docs = field_docstrings(cls)
    parser = argparse.ArgumentParser(
        description=(inspect.getmodule(cls).__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for field in dataclasses.fields(cls):
        kind, optional = _arg_type(field.type)
        flag = "--" + field.name.replace("_", "-")
        help_text = docs.get(field.name, "").replace("%", "%%")  # argparse formats help
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=field.default, help=help_text
            )
            continue

        def convert(text: str, kind: Any = kind, optional: bool = optional) -> Any:
            return None if optional and text.lower() == "none" else kind(text)

        convert.__name__ = kind.__name__  # argparse names the type in its error messages
        parser.add_argument(flag, type=convert, default=field.default, help=help_text)
    return cls(**vars(parser.parse_args(argv)))


def _convert(text: str, kind: Any, optional: bool, name: str) -> Any:
    if optional and text.lower() == "none":
        return None
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}={text!r}: a bool field takes true or false")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: expected a {kind.__name__}") from None


def apply_overrides(config: Any, pairs: list[str]) -> Any:
    """Set fields of the dataclass ``config`` from ``name=value`` strings (the value
    converted to the field's type; ``none`` for optional fields); returns ``config``.
    An unknown name or a malformed value raises ``ValueError`` naming it and the fix."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"override {pair!r} is not name=value (e.g. learning_rate=3e-3)")
        if name not in fields:
            raise ValueError(
                f"{type(config).__name__} has no field {name!r}: use one of "
                f"{', '.join(sorted(fields))}"
            )
        kind, optional = _arg_type(fields[name].type)
        setattr(config, name, _convert(text.strip(), kind, optional, name))
    if hasattr(config, "__post_init__"):
        config.__post_init__()
    return config


def load_config(cls: type, path: str | Path) -> Any:
    """A config saved as ``config.json`` by :func:`train`."""
    saved = json.loads(Path(path).read_text())
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in saved.items() if k in names})
