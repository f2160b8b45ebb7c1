"""Whether an archivist keeps the cluster's trail, and the one notice a user gets when none does.

An archivist is deployed as the Nomad service job `tapit-archivist` (jobs/tapit-archivist.nomad.hcl),
or runs inside tapit's embedded agent, whose node then says so (attribute tapit.archivist). A CLI
that finds neither, in its namespace or in "default", says once per cluster what then holds and
what does not, and how to deploy one. Read-only: looking writes nothing to the
cluster (an archivist run by hand outside Nomad is not seen, and the notice is then said once).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tapit.errors import TapitError, nomad_errors
from tapit.paths import state_dir, write_private

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient

JOB_ID = "tapit-archivist"
NOTICE_FILE = "archivist-notice.json"
NOTICE = (
    "note: no archivist keeps this cluster's trail. Records are still written by tapit itself, but a task "
    "nobody follows to its end may lose its logs once Nomad collects its job, and max_hours holds only on "
    "Nomad >= 2.0.3 or while a tapit watches; deploy one with jobs/tapit-archivist.nomad.hcl (README: The archivist)"
)


# tapit/agent/daemon.py ARCHIVIST_ATTRIBUTE (not imported: the service never loads the agent).
AGENT_ATTRIBUTE = "tapit.archivist"


def archivist_running(clients: list[NomadClient]) -> bool:
    with nomad_errors():
        if any((nomad.jobs.info(JOB_ID) or {}).get("Status") == "running" for nomad in clients):
            return True
    try:
        with nomad_errors():
            nodes = clients[0].nodes.list()
            # The embedded agent is one node; on a cluster, one node's answer is as good as any.
            return bool(nodes) and bool(
                clients[0].nodes.info(nodes[0]["ID"]).get("Attributes", {}).get(AGENT_ATTRIBUTE)
            )
    except TapitError:
        return False  # a token that may not read nodes: no tapit agent can be told apart


def notice_once(clients: list[NomadClient]) -> str | None:
    """The notice, the first time this machine finds no archivist at this cluster; None otherwise
    (and when the cluster cannot be asked: the command's own errors say why)."""
    path = state_dir() / NOTICE_FILE
    address = clients[0].settings.address
    try:
        told = set(json.loads(path.read_text()))
    except (OSError, ValueError):
        told = set()
    if address in told:
        return None
    try:
        if archivist_running(clients):
            return None
    except TapitError:
        return None
    try:
        write_private(path, json.dumps(sorted(told | {address})).encode())
    except OSError:
        pass  # said again next time: better than never
    return NOTICE
