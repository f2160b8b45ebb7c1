"""Whether an archivist keeps the cluster's trail, and the one notice a user gets when none does.

Each archivist writes `tapit/archivist/<instance>` in every namespace with tapit tasks at every
sweep (tapit/service/archivist.py), and removes it when it stops. A CLI that finds none written
lately says once per cluster what then holds and what does not, and how to deploy one.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time

from tapit.errors import TapitError, nomad_errors
from tapit.nomad.client import NomadClient
from tapit.paths import state_dir, write_private

PREFIX = "tapit/archivist/"
# An archivist beats every sweep (30 s); one silent for this long (a clock apart, too) is gone.
FRESH_S = 600
NOTICE_FILE = "archivist-notice.json"
NOTICE = (
    "note: no archivist keeps this cluster's trail. Records are still written by tapit itself, but a task "
    "nobody follows to its end may lose its logs once Nomad collects its job, and max_hours holds only on "
    "Nomad >= 2.0.3 or while a tapit watches; deploy one with jobs/tapit-archivist.nomad.hcl (README: The trail)"
)


def instance_name() -> str:
    """This archivist's name: its Nomad allocation, else host and pid (a variable path component)."""
    name = os.environ.get("NOMAD_ALLOC_ID") or f"{socket.gethostname()}-{os.getpid()}"
    return re.sub(r"[^a-zA-Z0-9_~-]", "-", name)[:64]


def path_for(instance: str) -> str:
    return PREFIX + instance


def archivist_seen(nomad: NomadClient) -> bool:
    with nomad_errors():
        beats, _ = nomad.variables.list(PREFIX)
    now_ns = time.time_ns()
    return any(now_ns - beat.modify_time < FRESH_S * 1_000_000_000 for beat in beats)


def notice_once(nomad: NomadClient) -> str | None:
    """The notice, the first time this machine finds no archivist at this cluster; None otherwise
    (and when the cluster cannot be asked: the command's own errors say why)."""
    path = state_dir() / NOTICE_FILE
    address = nomad.settings.address
    try:
        told = set(json.loads(path.read_text()))
    except (OSError, ValueError):
        told = set()
    if address in told:
        return None
    try:
        if archivist_seen(nomad):
            return None
    except TapitError:
        return None
    try:
        write_private(path, json.dumps(sorted(told | {address})).encode())
    except OSError:
        pass  # said again next time: better than never
    return NOTICE
