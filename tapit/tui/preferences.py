"""What the TUI remembers between runs (the theme), kept beside the history as `tui.json`.

A file that is missing, unreadable or not what we wrote is the same as no preferences:
a preference is never worth refusing to start over."""

from __future__ import annotations

import json
from pathlib import Path

from tapit.paths import write_private

FILE = "tui.json"


def load(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / FILE).read_text())
    except (OSError, ValueError):
        return {}
    return (
        {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}
    )


def remember(directory: Path, name: str, value: str) -> None:
    """Keep one preference; a directory that cannot be written loses it, silently, as it would lose none."""
    try:
        write_private(directory / FILE, json.dumps(load(directory) | {name: value}).encode())
    except OSError:
        pass
