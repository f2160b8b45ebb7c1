"""The client's file system as far as tapit reads it: GET /v1/client/fs/logs/<alloc>
(command/agent/fs_endpoint.go Logs, then client/fs_endpoint.go logs, in their order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import logstream, structs
from .client_allocations import client_alloc, task_state
from .errors import HTTPError
from .query import query_bool
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def logs(agent: Agent, request: web.Request) -> web.StreamResponse:
    q = request.query
    task = q.get("task", "")
    if not task:
        raise HTTPError(400, "must provide task name")
    follow = query_bool(request, "follow", False, prefix="failed to parse follow field to boolean: ")
    plain = query_bool(request, "plain", False, prefix="failed to parse plain field to boolean: ")
    log_type = q.get("type", "")
    if log_type not in ("stdout", "stderr"):
        raise HTTPError(400, "must provide log type (stdout/stderr)")
    try:
        offset = int(q.get("offset", "0"))
    except ValueError as exc:
        raise HTTPError(
            400, f'error parsing offset: strconv.ParseInt: parsing "{q["offset"]}": invalid syntax'
        ) from exc
    origin = q.get("origin", "start")
    if origin not in ("start", "end"):
        raise HTTPError(400, "origin must be start or end")
    alloc_id = request.match_info["alloc_id"]
    alloc = client_alloc(agent, alloc_id)
    alloc_dir = agent.runner.alloc_dir(alloc_id)
    if not alloc_dir.exists():
        raise HTTPError(404, f"state for allocation {alloc_id} not found on client")
    state = task_state(alloc, task)
    if state["StartedAt"] == structs.ZERO_TIME:  # client/fs_endpoint.go: taskState.StartedAt.IsZero()
        raise HTTPError(404, f'task "{task}" not started yet. No logs available')
    try:
        return await logstream.stream(request, alloc_dir, task, log_type, follow, offset, origin, plain)
    except logstream.LogError as err:
        raise HTTPError(err.code, str(err)) from err


ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/client/fs/logs/{alloc_id}",
        logs,
        "fs_endpoint.go Logs",
        ("task", "follow", "plain", "type", "offset", "origin"),
    ),
)
