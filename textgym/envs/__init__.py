"""The registered environments, one per file (see ``textgym/__init__.py`` for the ids)."""
