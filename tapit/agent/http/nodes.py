"""The node: GET /v1/nodes and GET /v1/node/<id> (command/agent/node_endpoint.go), the one node
this agent is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .encode import encode
from .errors import HTTPError
from .query import BLOCKING, blocking
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def list_nodes(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("nodes",))
    return encode(request, [agent.node.stub(agent.store.index)], headers=headers)


async def read_node(agent: Agent, request: web.Request) -> web.Response:
    if request.match_info["node_id"] != agent.node.id:
        raise HTTPError(404, "node not found")
    headers = await blocking(agent.store, request, ("nodes",))
    return encode(request, agent.node.as_dict(agent.store.index), headers=headers)


ENDPOINTS = (
    Endpoint(GET, "/v1/nodes", list_nodes, "node_endpoint.go NodesRequest", BLOCKING),
    Endpoint(GET, "/v1/node/{node_id}", read_node, "node_endpoint.go nodeQuery", BLOCKING),
)
