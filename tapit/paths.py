"""Where tapit keeps its state: TAPIT_HOME, else the XDG state directory."""

import os
from pathlib import Path


def state_dir() -> Path:
    """The directory holding the history, archived logs and the embedded agent's state."""
    home = os.environ.get("TAPIT_HOME")
    if home:
        path = Path(home)
    else:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        path = Path(xdg) / "tapit"
    path.mkdir(parents=True, exist_ok=True)
    return path


def agent_dir() -> Path:
    """The embedded agent's own directory: its token, address file, state and allocation dirs."""
    path = state_dir() / "agent"
    path.mkdir(parents=True, exist_ok=True)
    return path
