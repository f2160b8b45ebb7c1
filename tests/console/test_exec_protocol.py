"""The exec websocket client against a stand-in server that speaks Nomad's exec frames
(command/agent/alloc_endpoint.go execStream, plugins/drivers/proto/driver.pb.go) frame for frame."""

import asyncio
import base64
import json

import pytest
from aiohttp import WSCloseCode, web

from tapit.nomad import exec as nomad_exec
from tapit.nomad.exec import ExecError, Exited, Output, open_exec
from tapit.nomad.settings import NomadSettings
from tapit.nomad.transport import Transport


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def serve(script):
    """An aiohttp server whose exec handler runs `script(ws, request, received)`; returns (runner, url, received)."""
    received = []

    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await script(ws, request, received)
        return ws

    runner, address = await serve_handler(handler)
    return runner, address, received


async def serve_handler(handler):
    app = web.Application()
    app.router.add_get("/v1/client/allocation/{alloc}/exec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def session_events(script, send=None, token="secret", tty=True):
    runner, address, received = await serve(script)
    settings = NomadSettings(address=address, token=token)
    events = []
    try:
        async with open_exec(Transport(settings), "a1b2", "task", ["/bin/sh", "-c", "echo hi"], tty) as session:
            if send:
                await send(session)
            async for event in session:
                events.append(event)
    finally:
        await runner.cleanup()
    return events, received


async def read_frames(ws, received, until):
    async for message in ws:
        assert message.type.name == "TEXT", "the client must send text frames"
        frame = json.loads(message.data)
        received.append(frame)
        if until(frame):
            return


def test_output_then_exit_code_zero_when_omitted():
    async def script(ws, request, received):
        received.append(
            {
                "query": dict(request.query),
                "token": request.headers.get("X-Nomad-Token"),
                "origin": request.headers.get("Origin"),
            }
        )
        await ws.send_str(json.dumps({"stdout": {"data": b64(b"hi\r\n")}}))
        await ws.send_str(json.dumps({"stderr": {"data": b64(b"warn\n")}}))
        await ws.send_str("{}")  # a server heartbeat is tolerated
        await ws.send_str(json.dumps({"stdout": {"close": True}}))
        await ws.send_str(json.dumps({"exited": True, "result": {}}))
        # Nomad then drops the connection without a close frame.
        request.transport.close()

    events, received = asyncio.run(session_events(script))
    assert events == [Output("stdout", b"hi\r\n"), Output("stderr", b"warn\n"), Exited(0)]
    request = received[0]
    assert request["query"] == {
        "task": "task",
        "command": '["/bin/sh", "-c", "echo hi"]',
        "tty": "true",
        "namespace": "default",
    }
    assert request["token"] == "secret"
    assert request["origin"] is None  # gorilla's CheckOrigin would refuse a foreign one


def test_nonzero_exit_code_and_client_frames():
    async def script(ws, request, received):
        await read_frames(ws, received, lambda f: f.get("stdin", {}).get("close"))
        await ws.send_str(json.dumps({"exited": True, "result": {"exit_code": 5}}))

    async def send(session):
        await session.resize(40, 120)
        await session.send_stdin(b"x" * 5000)
        await session.close_stdin()

    events, received = asyncio.run(session_events(script, send, tty=False))
    assert events == [Exited(5)]
    assert received[0] == {"tty_size": {"height": 40, "width": 120}}
    chunks = [base64.b64decode(f["stdin"]["data"]) for f in received[1:4]]
    assert [len(c) for c in chunks] == [2048, 2048, 904]
    assert received[4] == {"stdin": {"close": True}}


def test_heartbeat_every_interval(monkeypatch):
    monkeypatch.setattr(nomad_exec, "HEARTBEAT_S", 0.05)

    async def script(ws, request, received):
        await read_frames(ws, received, lambda f: len(received) >= 2)
        await ws.send_str(json.dumps({"exited": True, "result": {}}))

    events, received = asyncio.run(session_events(script))
    assert received == [{}, {}]
    assert events == [Exited(0)]


@pytest.mark.parametrize(
    "code, words",
    [
        (WSCloseCode.POLICY_VIOLATION, "exec refused by Nomad: Permission denied"),
        (WSCloseCode.INTERNAL_ERROR, "exec failed by Nomad: Permission denied"),
    ],
)
def test_close_frame_is_a_one_line_error(code, words):
    async def script(ws, request, received):
        await ws.close(code=code, message=b"Permission\ndenied")

    with pytest.raises(ExecError) as caught:
        asyncio.run(session_events(script))
    assert str(caught.value) == words


def test_dropped_before_exit_is_an_error():
    async def script(ws, request, received):
        await ws.send_str(json.dumps({"stdout": {"data": b64(b"partial")}}))
        request.transport.close()

    with pytest.raises(
        ExecError, match="lost the connection to Nomad at http://127.0.0.1:[0-9]+ before the command exited"
    ):
        asyncio.run(session_events(script))


def test_http_refusal_before_upgrade():
    async def main():
        async def handler(request):
            return web.Response(status=404, text='task "task" is not running.')

        runner, address = await serve_handler(handler)
        try:
            async with open_exec(Transport(NomadSettings(address=address)), "a", "task", ["sh"], True):
                pass
        finally:
            await runner.cleanup()

    with pytest.raises(ExecError, match=r'refused exec \(HTTP 404\): task "task" is not running.'):
        asyncio.run(main())


def test_unreachable():
    async def main():
        async with open_exec(Transport(NomadSettings(address="http://127.0.0.1:9")), "a", "task", ["sh"], True):
            pass

    with pytest.raises(ExecError, match="cannot reach Nomad at http://127.0.0.1:9: connection refused"):
        asyncio.run(main())


def test_caller_exceptions_are_not_wrapped():
    async def script(ws, request, received):
        await read_frames(ws, received, lambda f: False)

    async def send(session):
        raise KeyError("mine")

    with pytest.raises(KeyError):
        asyncio.run(session_events(script, send))
