"""What the client serves of its allocations: /v1/client/allocation/<id>/stats and /exec
(command/agent/alloc_endpoint.go ClientAllocRequest, then client/alloc_endpoint.go)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from .. import engine, execsession
from .auth import check_token, request_token
from .encode import encode
from .errors import HTTPError
from .query import query_bool
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


def client_alloc(agent: Agent, alloc_id: str) -> dict:
    """The allocation as the client knows it (structs.NewErrUnknownAllocation, coded 404)."""
    alloc = agent.store.alloc(alloc_id)
    if alloc is None:
        raise HTTPError(404, f'Unknown allocation "{alloc_id}"')
    return alloc


def task_state(alloc: dict, task: str) -> dict:
    if task not in alloc["TaskStates"]:
        raise HTTPError(400, f'unknown task name "{task}"')
    return alloc["TaskStates"][task]


async def alloc_stats(agent: Agent, request: web.Request) -> web.Response:
    alloc_id = request.match_info["alloc_id"]
    alloc = client_alloc(agent, alloc_id)
    # client/alloc_endpoint.go Stats -> allocRunner.LatestAllocStats: an alloc the client still
    # has answers, running or not; tasks that are not running contribute their last sample.
    running = {
        name: handle
        for name, handle in agent.runner.handles.get(alloc_id, {}).items()
        if alloc["TaskStates"][name]["State"] == "running"
    }
    return encode(request, agent.stats.alloc_usage(alloc, running, request.query.get("task", "")))


async def alloc_exec(agent: Agent, request: web.Request) -> web.WebSocketResponse:
    """In Nomad >= 2.0.3 the upgrade comes first; every later error is a close frame."""
    ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
    await ws.prepare(request)
    try:
        argv, tty, handle = await _exec_setup(agent, request, ws)
        if handle.task["Driver"] == "docker":
            await execsession.run_in_container(
                ws, argv, tty, agent.node.engine, engine.container_name(handle.name, handle.alloc_id)
            )
        else:
            if handle.task["Driver"] == "exec":
                try:
                    argv = agent.runner.in_task_namespaces(handle, argv)
                except ProcessLookupError as err:
                    raise execsession.ExecError(500, str(err)) from err
            await execsession.run(ws, argv, tty, handle.env, handle.cwd, handle.cgroup.procs if handle.cgroup else [])
    except HTTPError as err:
        await execsession.close_with_error(ws, execsession.ExecError(err.code, str(err)))
    except execsession.ExecError as err:
        await execsession.close_with_error(ws, err)
    # Nomad drops the connection after `exited` without a close frame.
    if not ws.closed and request.transport:
        request.transport.close()
    return ws


async def _exec_setup(agent: Agent, request: web.Request, ws: web.WebSocketResponse):
    q = request.query
    header_token = request_token(request)
    token = header_token
    # websockets.go readWsHandshake: a bad value is an uncoded error, sent with toWsCode(400).
    if query_bool(request, "ws_handshake", False, prefix="ws_handshake value is not a boolean: "):
        msg = await ws.receive_json()
        if msg.get("version") != 1:
            raise HTTPError(400, f"unexpected handshake value: {msg.get('version')}")
        if header_token and msg.get("auth_token", "") != header_token:
            raise HTTPError(400, "handshake auth token mismatched auth header token")
        token = header_token or msg.get("auth_token", "")
    check_token(token, agent.token)
    # alloc_endpoint.go allocExec: the command first, then tty (uncoded, so 500).
    try:
        argv = json.loads(q.get("command", ""))
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("json: cannot unmarshal into Go value of type []string")
    except ValueError as exc:
        raise HTTPError(500, f"failed to marshal command into json: {exc}") from exc
    tty = query_bool(request, "tty", False, code=500, prefix="tty value is not a boolean: ")
    if not argv:
        raise HTTPError(400, "command is not present")
    task = q.get("task", "")
    if not task:
        raise HTTPError(400, "must provide task name")
    alloc_id = request.match_info["alloc_id"]
    state = task_state(client_alloc(agent, alloc_id), task)
    if state["State"] == "pending":
        raise HTTPError(404, f'task "{task}" not started yet.')
    handle = agent.runner.handles.get(alloc_id, {}).get(task)
    if state["State"] != "running" or handle is None:
        raise HTTPError(404, f'task "{task}" is not running.')
    return argv, tty, handle


ENDPOINTS = (
    Endpoint(GET, "/v1/client/allocation/{alloc_id}/stats", alloc_stats, "alloc_endpoint.go allocStats", ("task",)),
    Endpoint(
        GET,
        "/v1/client/allocation/{alloc_id}/exec",
        alloc_exec,
        "alloc_endpoint.go allocExec",
        ("task", "command", "tty", "ws_handshake"),
        token_in_first_frame=True,
    ),
)
