"""The embedded agent: a Nomad server and client in one process (command/agent/agent.go), made
of the state store, the node, the alloc runner, the scheduler, the variables endpoint and the
stats tracker.  It serves the HTTP API of http/."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from . import structs
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
        self.acl.bootstrapped_with(token, structs.rfc3339nano(structs.now_ns()))
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
        self.stats = StatsTracker(self.node.mhz_per_core, self.runner.task_stats)
        self.host_stats = HostStats(str(self.runner.alloc_root), self.node.mhz_per_core)

    def app(self) -> web.Application:
        return http_server.app(self)

    def set_address(self, address: str) -> None:
        self.node.http_addr = address
        self.node.attributes["nomad.advertise.address"] = address.partition("://")[2]
