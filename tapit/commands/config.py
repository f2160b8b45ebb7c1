"""`tapit config`: the effective configuration and where each value came from."""

from __future__ import annotations

import dataclasses

from tapit.errors import UsageError


def config_command(words: list[str]) -> int:
    if words:
        raise UsageError(f"unexpected argument {words[0]!r}; use tapit config")
    from tapit.config import load_config

    config = load_config()
    fields = [f.name for f in dataclasses.fields(config) if f.name != "sources"]
    width = max(len(name) for name in fields)
    for name in fields:
        value = getattr(config, name)
        shown = "-" if value is None else (", ".join(value) if isinstance(value, tuple) else value)
        print(f"{name:<{width}}  {shown!s:<24}  ({config.sources.get(name, 'default')})")
    return 0
