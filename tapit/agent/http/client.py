"""The client's own endpoints: /v1/client/stats and /v1/client/gc (command/agent/stats_endpoint.go
ClientStatsRequest and alloc_endpoint.go ClientGCRequest, then client/client_stats_endpoint.go
and client/alloc_endpoint.go GarbageCollectAll).  Neither handler checks the method.  A node_id
naming another node goes to the server, which knows no such node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .encode import encode, no_body
from .errors import HTTPError
from .routing import ANY, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


def _local(agent: Agent, request: web.Request) -> bool:
    """rpcHandlerForNode: the local client serves its own node, or no node named."""
    node_id = request.query.get("node_id", "")
    return node_id in ("", agent.node.id)


async def client_stats(agent: Agent, request: web.Request) -> web.Response:
    if not _local(agent, request):  # getNodeForRpc's error, which the handler codes 404
        raise HTTPError(404, f"Unknown node {request.query['node_id']}")
    return encode(request, agent.host_stats.collect())


async def client_gc(agent: Agent, request: web.Request) -> web.Response:
    """Client.CollectAllAllocs: every terminal allocation's directory goes."""
    if not _local(agent, request):
        raise HTTPError(500, f"Unknown node {request.query['node_id']}")
    for alloc in list(agent.store.allocs()):
        agent.runner.collect_alloc(alloc["ID"])
    return no_body(request, 0)


ENDPOINTS = (
    Endpoint(ANY, "/v1/client/stats", client_stats, "stats_endpoint.go ClientStatsRequest", ("node_id",)),
    Endpoint(ANY, "/v1/client/gc", client_gc, "alloc_endpoint.go ClientGCRequest", ("node_id",)),
)
