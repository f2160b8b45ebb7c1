"""What the client serves of its allocations: /v1/client/allocation/<id>/stats, /exec, /signal,
/restart and /gc (command/agent/alloc_endpoint.go ClientAllocRequest, then client/alloc_endpoint.go).
The runtime is reached through the Runner (task_handles, signal_task, collect_alloc) and the
task's driver (exec)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from .. import execsession
from ..runner import TaskNotRunning
from ..structs import gojson
from ..structs.job_validate import multierror
from .auth import PERMISSION_DENIED, check_token, request_token
from .encode import encode, no_body
from .errors import HTTPError
from .query import query_bool
from .routing import ANY, GET, WRITE, Endpoint

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
        for name, handle in agent.runner.task_handles(alloc_id).items()
        if alloc["TaskStates"][name]["State"] == "running"
    }
    return encode(request, agent.stats.alloc_usage(alloc, running, request.query.get("task", "")))


async def alloc_exec(agent: Agent, request: web.Request) -> web.WebSocketResponse:
    """In Nomad >= 2.0.3 the upgrade comes first; every later error is a close frame."""
    ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
    await ws.prepare(request)
    try:
        argv, tty, handle = await _exec_setup(agent, request, ws)
        await agent.runner.drivers[handle.task["Driver"]].exec(ws, handle, argv, tty)
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
    acl = check_token(token, agent.token, agent.acl)
    # alloc_endpoint.go allocExec: the command first, then tty (uncoded, so 500).
    try:
        argv = json.loads(q.get("command", ""))
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("json: cannot unmarshal into Go value of type []string")
    except ValueError as exc:
        raise HTTPError(500, f"failed to marshal command into json: {exc}") from exc
    tty = query_bool(request, "tty", False, code=500, prefix="tty value is not a boolean: ")
    if agent.disable_remote_exec:  # execImpl's first check, uncoded: a 500 (close 1011)
        raise HTTPError(500, PERMISSION_DENIED)
    if not argv:
        raise HTTPError(400, "command is not present")
    task = q.get("task", "")
    if not task:
        raise HTTPError(400, "must provide task name")
    alloc_id = request.match_info["alloc_id"]
    alloc = client_alloc(agent, alloc_id)
    # client/alloc_endpoint.go execImpl: alloc-exec, and alloc-node-exec for a driver without
    # filesystem isolation (raw_exec); ErrPermissionDenied is uncoded, so a 500 (close 1011).
    if acl is not None and not acl.allows(alloc["Namespace"], "alloc-exec"):
        raise HTTPError(500, PERMISSION_DENIED)
    state = task_state(alloc, task)
    if state["State"] == "pending":
        raise HTTPError(404, f'task "{task}" not started yet.')
    handle = agent.runner.task_handles(alloc_id).get(task)
    if state["State"] != "running" or handle is None:
        raise HTTPError(404, f'task "{task}" is not running.')
    if (
        acl is not None
        and handle.task["Driver"] == "raw_exec"
        and not acl.allows(alloc["Namespace"], "alloc-node-exec")
    ):
        raise HTTPError(500, PERMISSION_DENIED)
    return argv, tty, handle


_SIGNAL_REQUEST = gojson.Struct(
    "structs.AllocSignalRequest",
    {"AllocID": gojson.STRING, "Task": gojson.STRING, "Signal": gojson.STRING},
)


async def alloc_signal(agent: Agent, request: web.Request) -> web.Response:
    """allocSignal, then client Allocations.Signal and allocRunner.Signal: one task, or every
    task of the allocation, each error collected ("Failed to signal task: ...")."""
    if not request.body_exists:
        raise HTTPError(400, "Failed to decode body: Request body is empty")
    try:
        body = gojson.decode(await request.read(), _SIGNAL_REQUEST)
    except gojson.JSONError as exc:
        raise HTTPError(400, f"Failed to decode body: {exc}") from exc
    alloc_id = request.match_info["alloc_id"]
    alloc = client_alloc(agent, alloc_id)
    task, name = body.get("Task") or "", body.get("Signal") or ""
    if task:
        if task not in alloc["TaskStates"]:
            raise HTTPError(500, "Task not found")
        await _signal(agent, alloc_id, task, name)
    else:
        errors = []
        for each in alloc["TaskStates"]:
            try:
                await _signal(agent, alloc_id, each, name)
            except HTTPError as err:
                errors.append(f"Failed to signal task: {each}, err: {err}")
        if errors:
            raise HTTPError(500, multierror(errors))
    return encode(request, {"Index": 0})


async def _signal(agent: Agent, alloc_id: str, task: str, name: str) -> None:
    try:
        await agent.runner.signal_task(alloc_id, task, name)
    except (TaskNotRunning, ValueError, OSError) as exc:
        raise HTTPError(500, str(exc)) from exc


_RESTART_REQUEST = gojson.Struct("allocRestart reqBody", {"TaskName": gojson.STRING, "AllTasks": gojson.BOOL})


async def alloc_restart(agent: Agent, request: web.Request) -> web.Response:
    """allocRestart, then client Allocations.Restart and Client.RestartAllocation: the body's
    TaskName or AllTasks (an empty body is no error: io.EOF), the tasks restarted in place, the
    reply once each has exited ("Restart Signaled", "Terminated", "Restarting", then "Started")."""
    body: dict = {}
    raw = await request.read()
    if raw.strip():
        try:
            body = gojson.decode(raw, _RESTART_REQUEST)
        except gojson.JSONError as exc:  # returned uncoded: a 500
            raise HTTPError(500, str(exc)) from exc
    alloc_id = request.match_info["alloc_id"]
    client_alloc(agent, alloc_id)
    try:
        errors = await agent.runner.restart_alloc(alloc_id, body.get("TaskName") or "", bool(body.get("AllTasks")))
    except KeyError as exc:  # getAllocRunner: structs.NewErrUnknownAllocation, coded 404
        raise HTTPError(404, f'Unknown allocation "{alloc_id}"') from exc
    except (TaskNotRunning, ValueError) as exc:
        raise HTTPError(500, str(exc)) from exc
    if errors:
        raise HTTPError(500, multierror(errors))
    return encode(request, {"Index": 0})


async def alloc_gc(agent: Agent, request: web.Request) -> web.Response:
    """allocGC, then client Allocations.GarbageCollect (any method: allocGC checks none)."""
    alloc_id = request.match_info["alloc_id"]
    client_alloc(agent, alloc_id)
    if not agent.runner.collect_alloc(alloc_id):
        raise HTTPError(500, "No such allocation on client, or allocation not eligible for GC")
    return no_body(request, 0)


ENDPOINTS = (
    Endpoint(GET, "/v1/client/allocation/{alloc_id}/stats", alloc_stats, "alloc_endpoint.go allocStats", ("task",)),
    Endpoint(WRITE, "/v1/client/allocation/{alloc_id}/signal", alloc_signal, "alloc_endpoint.go allocSignal"),
    Endpoint(ANY, "/v1/client/allocation/{alloc_id}/restart", alloc_restart, "alloc_endpoint.go allocRestart"),
    Endpoint(ANY, "/v1/client/allocation/{alloc_id}/gc", alloc_gc, "alloc_endpoint.go allocGC"),
    Endpoint(
        GET,
        "/v1/client/allocation/{alloc_id}/exec",
        alloc_exec,
        "alloc_endpoint.go allocExec",
        ("task", "command", "tty", "ws_handshake"),
        token_in_first_frame=True,
    ),
)
