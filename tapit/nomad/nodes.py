"""Client nodes: list them and read one (api/nodes.go, command/agent/node_endpoint.go)."""

from __future__ import annotations

import nomad.api

from tapit.nomad.transport import Transport, path_id

NODE_READ = 'node policy "read"'  # acl/policy.go NodePolicy


class Nodes:
    def __init__(self, transport: Transport):
        self._t = transport
        self._nodes = transport.python_nomad(nomad.api.Nodes)
        self._node = transport.python_nomad(nomad.api.Node)

    def list(self) -> list[dict]:
        """NodeListStubs (with Drivers, Datacenter, NodePool, Status...)."""
        return self._t.rest(lambda: self._nodes.get_nodes(), NODE_READ)

    def info(self, node_id: str) -> dict:
        return self._t.rest(lambda: self._node.get_node(path_id(node_id)), NODE_READ, lookup=True)
