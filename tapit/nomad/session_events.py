"""What an exec session yields, as the CLI and the TUI read it: kept apart from the websocket
client (tapit/nomad/exec.py) so that importing them costs nothing (httpx-ws, wsproto and httpx
load only when a console opens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    stream: str  # "stdout" or "stderr"; with a TTY everything arrives on stdout
    data: bytes


@dataclass(frozen=True)
class Exited:
    exit_code: int
    signal: int = 0
    oom_killed: bool = False
