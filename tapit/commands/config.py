"""`tapit config`: the effective configuration and where each value came from."""

from __future__ import annotations

import dataclasses
import os

from tapit.commands import task_service
from tapit.commands.usage import form
from tapit.errors import UsageError


def config_command(words: list[str]) -> int:
    if words:
        raise UsageError(f"unexpected argument {words[0]!r}; use {form('config')}")
    from tapit.config import load_config

    config = load_config()
    fields = [f.name for f in dataclasses.fields(config) if f.name != "sources"]
    width = max(len(name) for name in fields)
    for name in fields:
        value = getattr(config, name)
        source = config.sources.get(name, "default")
        if name == "mhz_per_vcpu" and value is None:
            value, source = _derived_mhz_per_vcpu()
        shown = "-" if value is None else (", ".join(value) if isinstance(value, tuple) else value)
        print(f"{name:<{width}}  {shown!s:<24}  ({source})")
    return 0


def _derived_mhz_per_vcpu() -> tuple[int | None, str]:
    """mhz_per_vcpu as a task created now would get it (tapit/service/vcpu.py). `tapit config`
    starts nothing: without NOMAD_ADDR it asks the embedded agent only if one runs."""
    from tapit.errors import TapitError
    from tapit.service.connection import embedded_agent_running

    if not os.environ.get("NOMAD_ADDR") and not embedded_agent_running():
        return None, "unset: derived from the embedded agent's node when a task is created"

    service = task_service()
    try:
        found = service.vcpu_mhz()
    except TapitError as exc:
        return None, f"unset: derived from the nodes when a task is created; not now: {exc}"
    finally:
        service.close()
    return found.mhz, found.source
