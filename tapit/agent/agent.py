"""The embedded agent: a Nomad server and client in one process (command/agent/agent.go), made
of the state store, the node, the alloc runner, the scheduler, the variables endpoint and the
stats tracker, and looking for a container engine for the docker driver.  It serves the HTTP API
of http/."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from . import engine, structs
from .acl import AclStore
from .cgroups import Cgroups
from .drainer import Drainer
from .hoststats import HostStats
from .http import server as http_server
from .node import Node
from .runner import Runner
from .scheduler import Scheduler
from .state.store import Store
from .stats import StatsTracker
from .variables import Variables

log = logging.getLogger("tapit.agent")


class Agent:
    def __init__(self, root: Path, token: str):
        self.root = root
        self.token = token
        self.acl = AclStore(root / "acl.json")
        self.disable_remote_exec = False  # the client's disable_remote_exec
        self.store = Store(root)
        self.cgroups = Cgroups()
        node_id = self.store.meta.get("NodeID") or structs.new_id()
        self.node = Node(node_id, self.cgroups.unenforced(), self.cgroups.version, str(root), "http://127.0.0.1:0")
        self.store.set_meta("NodeID", node_id)
        self.runner = Runner(self.store, self.node, self.cgroups, root)
        self.scheduler = Scheduler(self.store, self.node, self.runner)
        self.drainer = Drainer(self.store, self.node, self.scheduler)
        saved = self.store.meta.get("Node")
        if saved:
            self.node.restore(saved)
        else:  # the state store's UpsertNode: the node's first event
            self.node.add_event(self.node.create_index, "Node registered", "Cluster")
            self.store.set_meta("Node", self.node.persisted())
        self.variables = Variables(self.store)
        self.stats = StatsTracker(self.node.mhz_per_core)
        self.host_stats = HostStats(str(self.runner.alloc_root), self.node.mhz_per_core)
        # Kept: a task nobody holds may be collected.
        self._engine_version: asyncio.Task | None = None
        self._engine_watch: asyncio.Task | None = None

    def app(self) -> web.Application:
        return http_server.app(self)

    async def find_engine(self) -> None:
        """Offer the docker driver while a Docker or Podman engine answers; look again every
        FINGERPRINT_PERIOD, as Nomad's docker driver does, so that an engine started (or
        stopped) after the agent is noticed."""
        await self._fingerprint_engine()
        self._engine_watch = asyncio.get_running_loop().create_task(self._watch_engine())

    async def _watch_engine(self) -> None:
        while True:
            await asyncio.sleep(engine.FINGERPRINT_PERIOD_S)
            await self._fingerprint_engine()

    async def _fingerprint_engine(self) -> None:
        url = engine.engine_url()
        found = await engine.fingerprint(url) if url else None
        if found and (found != self.node.engine or not self.node.drivers["docker"]):
            self.node.add_docker(found)
            # The release number is slow to come from Podman: fetched while the agent serves.
            self._engine_version = asyncio.get_running_loop().create_task(self._fetch_engine_version(found))
        elif not found and self.node.drivers["docker"]:
            log.warning("the container engine at %s stopped answering", self.node.engine.url)
            self.node.lose_docker()

    async def _fetch_engine_version(self, found: engine.Engine) -> None:
        try:
            self.node.set_docker_version(await found.version())
        except Exception:
            log.warning("the container engine at %s did not say its version", found.url)

    def set_address(self, address: str) -> None:
        self.node.http_addr = address
        self.node.attributes["nomad.advertise.address"] = address.partition("://")[2]
