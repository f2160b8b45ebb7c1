"""The system endpoints: PUT /v1/system/gc and /v1/system/reconcile/summaries
(command/agent/system_endpoint.go, then nomad/system_endpoint.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .encode import no_body
from .routing import Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def garbage_collect(agent: Agent, request: web.Request) -> web.Response:
    """System.GarbageCollect: the core scheduler's forced job GC, at once (Scheduler.collect_garbage)."""
    agent.scheduler.collect_garbage()
    return no_body(request, agent.store.index)


async def reconcile_summaries(agent: Agent, request: web.Request) -> web.Response:
    """System.ReconcileJobSummaries: the agent counts its summaries from the allocations at every
    read (Store.summary), so they never need reconciling."""
    return no_body(request, agent.store.index)


PUT = ("PUT",)  # these two handlers take PUT only
ENDPOINTS = (
    Endpoint(PUT, "/v1/system/gc", garbage_collect, "system_endpoint.go GarbageCollectRequest"),
    Endpoint(PUT, "/v1/system/reconcile/summaries", reconcile_summaries, "system_endpoint.go ReconcileJobSummaries"),
)
