"""Nomad alloc exec over a websocket, for consoles (api/allocations_exec.go, the Go client;
command/agent/alloc_endpoint.go execStream, the server; the frames' JSON tags are
plugins/drivers/proto/driver.pb.go ExecTaskStreamingRequest/Response).

    async with nomad.allocations.exec(alloc_id, "task", ["/bin/sh"], tty=True) as session:
        await session.resize(rows, cols)
        await session.send_stdin(b"echo hi\\n")
        async for event in session:          # Output(...)..., then one Exited(...)
            ...

The wire follows Nomad's Go client exactly: JSON *text* frames with snake_case keys and base64
data, stdin in chunks of at most 2048 bytes, `{"stdin":{"close":true}}` at EOF, `tty_size`
for the size, a `{}` heartbeat every 10 s, the token in `X-Nomad-Token`. Nomad omits
`exit_code` when it is 0, reports errors as close frames 1008/1011 whose reason is the message,
and drops the connection without a close frame after `exited`, so `exited` is final.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pybase64
import wsproto
from httpx_ws import (
    AsyncWebSocketSession,
    WebSocketDisconnect,
    WebSocketInvalidTypeReceived,
    WebSocketNetworkError,
    WebSocketUpgradeError,
    aconnect_ws,
)

from tapit.nomad.errors import ExecError, failure_reason
from tapit.nomad.session_events import Exited, Output
from tapit.nomad.transport import Transport, go_bool, path_id

STDIN_CHUNK = 2048  # Go api: the stdin read buffer, one frame each
HEARTBEAT_S = 10.0  # Go api heartbeatInterval; Nomad's server sends none
# Nomad sends 1024-byte chunks (~1.4 KiB of JSON); a third-party driver may send more.
MAX_FRAME_BYTES = 4 * 1024 * 1024
# On a dead link heartbeats just fill the kernel's send buffer, and nothing comes from an idle
# session, for ~15 minutes of TCP retries. TCP keepalive probes and a user timeout notice within
# ~40 s instead, whatever the server does with websocket pings (tapit's agent ignores them).
TCP_LIVENESS = [
    (level, getattr(socket, name), value)
    for level, name, value in (
        (socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
        (socket.IPPROTO_TCP, "TCP_KEEPIDLE", 10),
        (socket.IPPROTO_TCP, "TCP_KEEPINTVL", 5),
        (socket.IPPROTO_TCP, "TCP_KEEPCNT", 6),
        (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", 40_000),  # ms without an ACK for sent data
    )
    if hasattr(socket, name)  # the last three are Linux's (macOS has a subset)
]
CONNECT_TIMEOUT_S = 10.0
CLOSE_CODES = {1008: "refused", 1011: "failed"}  # ClosePolicyViolation, CloseInternalServerErr


class ExecSession:
    """One running command. Iterate it for its output; the last event is `Exited`.

    The send methods may be called from any task while another iterates. They raise ExecError
    once the connection is gone.
    """

    def __init__(self, ws, address: str):
        self._ws = ws
        self._address = address
        self.exited: Exited | None = None
        self._closed = False

    async def send_stdin(self, data: bytes) -> None:
        for start in range(0, len(data), STDIN_CHUNK):
            chunk = base64.b64encode(data[start : start + STDIN_CHUNK]).decode("ascii")
            await self._send({"stdin": {"data": chunk}})

    async def close_stdin(self) -> None:
        """End of input: the remote program reads EOF (with a TTY, send b"\\x04" instead)."""
        await self._send({"stdin": {"close": True}})

    async def resize(self, rows: int, cols: int) -> None:
        await self._send({"tty_size": {"height": rows, "width": cols}})

    async def close(self) -> None:
        """End the session from this side; an iteration in progress then raises ExecError."""
        # Not ws.close(): with a frame arriving at that moment, httpx-ws's reader stops without
        # waking a pending receive. Closing the stream under it always does (as a network error).
        self._closed = True
        try:
            await self._ws.send(wsproto.events.CloseConnection(code=1000))
        except (WebSocketNetworkError, wsproto.utilities.LocalProtocolError):
            pass  # already closed
        await self._ws.stream.aclose()

    async def _send(self, frame: dict) -> None:
        try:
            await self._ws.send_text(json.dumps(frame, separators=(",", ":")))
        except (WebSocketNetworkError, WebSocketDisconnect, OSError) as exc:
            raise ExecError(f"the exec session to Nomad at {self._address} is closed ({failure_reason(exc)})") from None

    async def heartbeats(self) -> None:
        try:
            while True:
                await asyncio.sleep(HEARTBEAT_S)
                await self._send({})
        except ExecError:
            pass  # the connection is gone: the reader reports it

    def __aiter__(self) -> AsyncIterator[Output | Exited]:
        return self._events()

    async def _events(self) -> AsyncIterator[Output | Exited]:
        while self.exited is None:
            text = await self._receive_text()
            data = _plain_output(text)
            if data is not None:
                if data[1]:
                    yield Output(*data)
                continue
            frame = self._parse(text)
            for stream in ("stdout", "stderr"):
                data = (frame.get(stream) or {}).get("data")
                if data:
                    yield Output(stream, pybase64.b64decode(data))
            if frame.get("exited"):
                result = frame.get("result") or {}
                self.exited = Exited(
                    int(result.get("exit_code") or 0), int(result.get("signal") or 0), bool(result.get("oom_killed"))
                )
                yield self.exited

    async def _receive_text(self) -> str:
        try:
            text = await self._ws.receive_text()
        except WebSocketDisconnect as exc:
            raise ExecError(close_message(exc.code, exc.reason)) from None
        except WebSocketNetworkError:
            if self._closed:
                raise ExecError("the exec session was closed by tapit") from None
            raise ExecError(f"lost the connection to Nomad at {self._address} before the command exited") from None
        except WebSocketInvalidTypeReceived:
            raise ExecError(f"Nomad at {self._address} sent a non-text exec frame") from None
        return text

    def _parse(self, text: str) -> dict:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):
            raise ExecError(f"Nomad at {self._address} sent a malformed exec frame: {text[:60]!r}")
        return frame


_PLAIN = {'{"stdout":{"data":"': "stdout", '{"stderr":{"data":"': "stderr"}
_PLAIN_HEAD = len('{"stdout":{"data":"')


def _plain_output(text: str) -> tuple[str, bytes] | None:
    """The stream and the bytes of a frame that is only output, `{"stdout":{"data":"<base64>"}}` as
    Go's encoding/json writes an ExecTaskStreamingResponseMsg (plugins/drivers/proto/driver.pb.go),
    without building a dict for it; None for any other frame, which json.loads then reads."""
    stream = _PLAIN.get(text[:_PLAIN_HEAD])
    if stream is None or not text.endswith('"}}') or text.find('"', _PLAIN_HEAD) != len(text) - 3:
        return None
    try:
        return stream, pybase64.b64decode(text[_PLAIN_HEAD:-3], validate=True)
    except ValueError:
        return None


def close_message(code: int, reason: str) -> str:
    """A close frame before `exited`, as one line: Nomad's reason is the error
    (command/agent/alloc_endpoint.go execStream closes with the error's text)."""
    if code in CLOSE_CODES:
        return f"exec {CLOSE_CODES[code]} by Nomad: {' '.join(reason.split()) or 'no reason given'}"
    return "websocket closed before receiving exit code" + (f" ({code} {reason})" if reason else f" ({code})")


async def _read_refusal(response: httpx.Response) -> None:
    """Read an error body while the response is open: httpx-ws raises after closing it."""
    if response.status_code != 101:
        await response.aread()


@asynccontextmanager
async def open_exec(
    transport: Transport, alloc_id: str, task: str, command: list[str], tty: bool
) -> AsyncIterator[ExecSession]:
    """Start `command` in the allocation's task; the session ends when the block exits.

    ExecError (one line) when Nomad cannot be reached or refuses. Heartbeats run on their own
    for as long as the block lasts. The client lives on the caller's event loop, so each
    session has its own, set up from the transport's one description of the cluster.
    """
    address, options = transport.address, transport.httpx_options()
    socket_path = transport.endpoint.socket_path
    client = httpx.AsyncClient(
        **options,
        transport=(
            httpx.AsyncHTTPTransport(uds=socket_path)
            if socket_path
            else httpx.AsyncHTTPTransport(verify=options["verify"], socket_options=TCP_LIVENESS)
        ),
        timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S),
        event_hooks={"response": [_read_refusal]},
    )
    path = f"/v1/client/allocation/{path_id(alloc_id)}/exec"
    params = {"task": task, "command": json.dumps(command), "tty": go_bool(tty)}
    ws: AsyncWebSocketSession  # aconnect_ws's session type is generic
    try:
        async with (
            client,
            aconnect_ws(
                path,
                client,
                max_message_size_bytes=MAX_FRAME_BYTES,
                keepalive_ping_interval_seconds=None,
                params=params,
                extensions=transport.sni_extensions,
            ) as ws,
        ):
            session = ExecSession(ws, address)
            heartbeats = asyncio.create_task(session.heartbeats())
            try:
                yield session
            finally:
                heartbeats.cancel()
    except WebSocketUpgradeError as exc:
        body = exc.response.content.decode(errors="replace")
        raise ExecError(
            f"Nomad at {address} refused exec (HTTP {exc.response.status_code}): "
            f"{' '.join(body.split()) or 'no reason given'}"
        ) from None
    except httpx.HTTPError as exc:
        raise ExecError(f"cannot reach Nomad at {address}: {failure_reason(exc)}") from None
    except BaseExceptionGroup as group:
        # httpx-ws runs a task group, which wraps whatever escapes the block; callers want theirs.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
