"""The client's file system: /v1/client/fs/ls, stat, readat, cat, stream and logs (command/agent/
fs_endpoint.go FsRequest, then client/fs_endpoint.go, in their order).  The paths are read
through allocfs (client/allocdir); readat and cat answer the bytes as they are, stream and logs
in StreamFrames (logstream.Framer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

import asyncio
import os

from .. import allocfs, logstream, structs
from .client_allocations import client_alloc, task_state
from .encode import encode
from .errors import HTTPError
from .query import query_bool
from .routing import ANY, GET, Endpoint

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
        async with agent.runner.log_readers.reading(alloc_id):
            return await logstream.stream(request, alloc_dir, task, log_type, follow, offset, origin, plain)
    except logstream.LogError as err:
        raise HTTPError(err.code, str(err)) from err


def _alloc_dir(agent: Agent, request: web.Request):
    """The allocation's directory, as the client has it (GetAllocFS)."""
    alloc_id = request.match_info["alloc_id"]
    client_alloc(agent, alloc_id)
    alloc_dir = agent.runner.alloc_dir(alloc_id)
    if not alloc_dir.exists():
        raise HTTPError(404, f"state for allocation {alloc_id} not found on client")
    return alloc_dir


def _fs_error(err: allocfs.FsError, missing_code: int) -> HTTPError:
    """IsErrNoSuchFileOrDirectory is coded (404 for ls and stat, 400 in a stream); the rest is 500."""
    return HTTPError(missing_code if err.missing else 500, str(err))


def _file_name(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise HTTPError(400, "must provide a file name")
    return path


async def list_files(agent: Agent, request: web.Request) -> web.Response:
    """DirectoryListRequest, then FileSystem.List: []AllocFileInfo."""
    alloc_dir = _alloc_dir(agent, request)
    try:
        files = allocfs.list_dir(alloc_dir, request.query.get("path") or "/")
    except allocfs.FsError as err:
        raise _fs_error(err, 404) from err
    return encode(request, files)


async def stat_file(agent: Agent, request: web.Request) -> web.Response:
    """FileStatRequest, then FileSystem.Stat: AllocFileInfo."""
    path = _file_name(request)
    alloc_dir = _alloc_dir(agent, request)
    try:
        return encode(request, allocfs.stat_path(alloc_dir, path))
    except allocfs.FsError as err:
        raise _fs_error(err, 404) from err


def _parse_int(request: web.Request, name: str, text: str) -> int:
    try:
        return int(text, 10)
    except ValueError as exc:  # strconv.ParseInt's error, uncoded
        raise HTTPError(500, f'error parsing {name}: strconv.ParseInt: parsing "{text}": invalid syntax') from exc


async def read_at(agent: Agent, request: web.Request) -> web.StreamResponse:
    """FileReadAtRequest: the bytes from offset, at most limit of them, plain."""
    path = _file_name(request)
    offset = _parse_int(request, "offset", request.query.get("offset", ""))
    raw_limit = request.query.get("limit", "")
    limit = _parse_int(request, "limit", raw_limit) if raw_limit else 0
    return await _stream(agent, request, path, offset, "start", limit, follow=False, plain=True)


async def cat_file(agent: Agent, request: web.Request) -> web.StreamResponse:
    """FileCatRequest: the whole file, plain."""
    path = _file_name(request)
    return await _stream(agent, request, path, 0, "start", 0, follow=False, plain=True)


async def stream_file(agent: Agent, request: web.Request) -> web.StreamResponse:
    """Stream: StreamFrames of the file from offset (from its end with origin=end), following it
    unless follow=false."""
    path = _file_name(request)
    follow = query_bool(request, "follow", True, code=500, prefix="failed to parse follow field to boolean: ")
    raw_offset = request.query.get("offset", "")
    offset = _parse_int(request, "offset", raw_offset) if raw_offset else 0
    origin = request.query.get("origin") or "start"
    if origin not in ("start", "end"):
        raise HTTPError(400, "origin must be start or end")
    return await _stream(agent, request, path, offset, origin, 0, follow=follow, plain=False)


async def _stream(
    agent: Agent, request: web.Request, path: str, offset: int, origin: str, limit: int, follow: bool, plain: bool
) -> web.StreamResponse:
    """client/fs_endpoint.go stream and streamFile.  Every error before the first byte is an HTTP
    status: a path that does not exist, or a directory, is a 400."""
    alloc_dir = _alloc_dir(agent, request)
    try:
        info = allocfs.stat_path(alloc_dir, path)
    except allocfs.FsError as err:
        raise _fs_error(err, 400) from err
    if info["IsDir"]:
        raise HTTPError(400, f'file "{path}" is a directory')
    if origin == "end":
        offset = max(info["Size"] - offset, 0)
    try:
        handle = allocfs.open_at(alloc_dir, path, offset)
    except allocfs.FsError as err:
        raise _fs_error(err, 500) from err
    full = allocfs.resolve(alloc_dir, path)
    with handle:
        first = handle.read(min(limit, logstream.READ_SIZE) if limit else logstream.READ_SIZE)
        resp = web.StreamResponse()
        # Nothing sets a Content-Type: net/http sniffs the first bytes written (frames are text);
        # cat and readat go through noxssrw, which answers active content as text/plain.
        sniffed = allocfs.sniff(first) if plain and first else "text/plain; charset=utf-8"
        if sniffed.startswith(("text/html", "text/xml")):
            sniffed = "text/plain; charset=utf-8"
        resp.headers["Content-Type"] = sniffed
        await resp.prepare(request)
        framer = logstream.Framer(resp, plain)
        remaining = limit - len(first) if limit else None
        try:
            chunk = first
            while True:
                if chunk:
                    offset += len(chunk)
                    await framer.add(path, chunk, offset)
                    await framer.tick()
                elif not follow or remaining == 0:
                    break
                elif not os.path.exists(full):
                    await framer.event(path, "file deleted", offset)
                    break
                elif os.path.getsize(full) < offset:  # truncated: from its start again
                    handle.seek(0)
                    offset = 0
                    await framer.event(path, "file truncated", offset)
                else:
                    await framer.tick()
                    await asyncio.sleep(logstream.POLL)
                if remaining == 0:
                    break
                size = min(remaining, logstream.READ_SIZE) if remaining else logstream.READ_SIZE
                chunk = handle.read(size)
                if remaining is not None:
                    remaining -= len(chunk)
            await framer.flush()
        except ConnectionResetError:
            pass  # the client went away
    return resp


ENDPOINTS = (
    Endpoint(ANY, "/v1/client/fs/ls/{alloc_id}", list_files, "fs_endpoint.go DirectoryListRequest", ("path",)),
    Endpoint(ANY, "/v1/client/fs/stat/{alloc_id}", stat_file, "fs_endpoint.go FileStatRequest", ("path",)),
    Endpoint(
        ANY, "/v1/client/fs/readat/{alloc_id}", read_at, "fs_endpoint.go FileReadAtRequest", ("path", "offset", "limit")
    ),
    Endpoint(ANY, "/v1/client/fs/cat/{alloc_id}", cat_file, "fs_endpoint.go FileCatRequest", ("path",)),
    Endpoint(
        ANY,
        "/v1/client/fs/stream/{alloc_id}",
        stream_file,
        "fs_endpoint.go Stream",
        ("path", "follow", "offset", "origin"),
    ),
    Endpoint(
        GET,
        "/v1/client/fs/logs/{alloc_id}",
        logs,
        "fs_endpoint.go Logs",
        ("task", "follow", "plain", "type", "offset", "origin"),
    ),
)
