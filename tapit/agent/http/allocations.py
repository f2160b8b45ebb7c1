"""Allocations: GET /v1/allocations, GET /v1/allocation/<id> and POST /v1/allocation/<id>/stop
(command/agent/alloc_endpoint.go AllocsRequest and AllocSpecificRequest, then
nomad/alloc_endpoint.go)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from .encode import encode
from .errors import HTTPError
from .query import BLOCKING, apply_filter, blocking, in_namespace, parse_bool_param
from .routing import GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def list_allocations(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("allocs",))
    prefix = request.query.get("prefix", "")
    resources = parse_bool_param(request, "resources", False)
    task_states = parse_bool_param(request, "task_states", True)
    allocs = [a for a in agent.store.allocs() if in_namespace(request, a) and a["ID"].startswith(prefix)]
    allocs = apply_filter(
        request, sorted(allocs, key=lambda a: a["ID"], reverse=request.query.get("reverse") == "true")
    )
    return encode(request, [structs.alloc_stub(a, resources, task_states) for a in allocs], headers=headers)


async def read_allocation(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("allocs",))
    alloc = agent.store.alloc(request.match_info["alloc_id"])
    if alloc is None:
        raise HTTPError(404, "alloc not found")
    return encode(request, structs.omit_empty(alloc), headers=headers)


async def stop_allocation(agent: Agent, request: web.Request) -> web.Response:
    """allocStop, then Alloc.Stop: the allocation is marked to migrate (with the two query
    options as its DesiredTransition's NoShutdownDelay and Reschedule) and an "alloc-stop"
    evaluation, which stops it and places its replacement; structs.AllocStopResponse."""
    no_shutdown_delay = parse_bool_param(request, "no_shutdown_delay", False)
    reschedule = parse_bool_param(request, "reschedule", False)
    alloc = agent.store.alloc(request.match_info["alloc_id"])
    if alloc is None or request.match_info["alloc_id"] not in agent.store.alloc_bucket:
        raise HTTPError(404, "allocation not found")
    transition = {"NoShutdownDelay": no_shutdown_delay, "Reschedule": reschedule}
    (ev,), index = agent.scheduler.migrate([alloc], "alloc-stop", transition)
    return encode(request, {"EvalID": ev["ID"], "Index": index}, headers={"X-Nomad-Index": str(index)})


ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/allocations",
        list_allocations,
        "alloc_endpoint.go AllocsRequest",
        (*BLOCKING, "namespace", "prefix", "filter", "reverse", "resources", "task_states"),
    ),
    Endpoint(GET, "/v1/allocation/{alloc_id}", read_allocation, "alloc_endpoint.go allocGet", BLOCKING),
    Endpoint(
        WRITE,
        "/v1/allocation/{alloc_id}/stop",
        stop_allocation,
        "alloc_endpoint.go allocStop",
        ("no_shutdown_delay", "reschedule"),
    ),
)
