"""GET /v1/client/allocation/:id/exec — Nomad's alloc exec websocket (command/agent/alloc_endpoint.go
allocExec and execStreamImpl; the frames are api/allocations_exec.go's ExecStreamingInput/Output).

Frames are JSON text messages with snake_case keys and base64 data.  With tty=true the command
gets a real pseudo-terminal (stderr merged into stdout, resized with TIOCSWINSZ); otherwise
three pipes.  The command runs with the task's environment, working directory and cgroup.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import termios

import pybase64
from aiohttp import WSMsgType, web

from .supervisor import default_signals

READ_SIZE = 64 * 1024


class ExecError(Exception):
    """Sent to the client as a close frame: 1011 for a 500, 1008 for anything else (toWsCode)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


async def close_with_error(ws: web.WebSocketResponse, err: ExecError) -> None:
    await ws.close(code=1011 if err.code == 500 else 1008, message=str(err).encode()[:123])


def _frame(key: str, **body) -> str:
    return json.dumps({key: body}, separators=(",", ":"))


def _data_frame(name: str, data: bytes) -> str:
    """`{"stdout":{"data":"<base64>"}}`, byte for byte what `_frame(name, data=...)` gives: the JSON
    of ExecTaskStreamingResponseMsg (plugins/drivers/proto/driver.pb.go; a []byte field is base64 in
    Go's encoding/json, which needs no escaping), built without json.dumps scanning the base64 again."""
    return '{"%s":{"data":"%s"}}' % (name, pybase64.b64encode_as_string(data))


async def _ready(fd: int, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
    add(fd, ready.set_result, None)
    try:
        await ready
    finally:
        remove(fd)


async def _read(fd: int, buffer: bytearray | None = None) -> bytes:
    """What a non-blocking fd has ready, up to READ_SIZE, once it is readable; b"" at EOF (EIO on a closed pty).

    A pty hands out at most 4 KB per read (the line discipline's buffer); gathering what is already
    there into one frame cuts the per-frame cost that dominates bulk output (a `cat` of a large
    file) and adds no latency. Nomad sends one frame per read of its own 4 KiB buffer
    (drivers/shared/executor/exec_utils.go handleStdout), 1 KiB for other drivers
    (plugins/drivers/execstreaming.go): the frame is the same JSON, only larger (the client reads
    any size up to its 4 MiB cap), and against a cluster a `cat` is slower than here.  The reads go into one buffer (`os.readv`), not a new 64 KB bytes
    object per read joined to the last.
    """
    view = memoryview(buffer if buffer is not None else bytearray(READ_SIZE))
    while True:
        try:
            size = os.readv(fd, [view])
            break
        except BlockingIOError:
            await _ready(fd, writable=False)
        except OSError:
            return b""
    while size and size < READ_SIZE:
        try:
            more = os.readv(fd, [view[size:]])
        except OSError:  # BlockingIOError among them: nothing more for now
            break
        if not more:
            break
        size += more
    return bytes(view[:size])


async def _write_all(fd: int, data: bytes) -> None:
    """Write without blocking the loop when the command does not read its input fast enough."""
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            await _ready(fd, writable=True)
        except OSError:
            return  # the command closed its input or exited


async def _feed(ws: web.WebSocketResponse, tty: bool, write, close_stdin, resize) -> None:
    """The client's frames to the command: stdin data, the end of stdin, the terminal's size."""
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        frame = json.loads(msg.data)
        stdin_frame = frame.get("stdin") or {}
        if stdin_frame.get("data"):
            await write(base64.b64decode(stdin_frame["data"]))
        if stdin_frame.get("close"):
            if tty:
                await write(b"\x04")  # EOF at the start of a line, as a terminal would
            else:
                close_stdin()
        size = frame.get("tty_size")
        if tty and size:
            await resize(size.get("height", 0), size.get("width", 0))


async def _send_exit(ws: web.WebSocketResponse, result: dict) -> None:
    """Both outputs closed, then the exit frame (a client that left gets nothing)."""
    if ws.closed:
        return
    await ws.send_str(_frame("stdout", close=True))
    await ws.send_str(_frame("stderr", close=True))
    await ws.send_str(json.dumps({"exited": True, "result": result}, separators=(",", ":")))


async def run(ws: web.WebSocketResponse, argv: list[str], tty: bool, env: dict, cwd: str, procs: list[str]) -> None:
    loop = asyncio.get_running_loop()

    def prepare_child() -> None:  # runs in the child between fork and exec
        default_signals()  # the agent's own dispositions (SIGPIPE, SIGXFSZ ignored) are not the task's
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for path in procs:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        if tty:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    if tty:
        master, slave = pty.openpty()
        stdin = stdout = stderr = slave
    else:
        stdin = stdout = stderr = subprocess.PIPE
    try:
        proc = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=prepare_child,
        )
    except OSError as exc:
        if tty:
            os.close(master)
            os.close(slave)
        raise ExecError(500, f"failed to start command: {exc}") from exc
    if tty:
        os.close(slave)
        outputs = {"stdout": master}
        stdin_fd = master
    else:
        assert proc.stdin and proc.stdout and proc.stderr  # opened with PIPE, each of them
        outputs = {"stdout": proc.stdout.fileno(), "stderr": proc.stderr.fileno()}
        stdin_fd = proc.stdin.fileno()
    for fd in (*outputs.values(), stdin_fd):
        os.set_blocking(fd, False)

    async def pump(name: str, fd: int) -> None:
        buffer = bytearray(READ_SIZE)
        while data := await _read(fd, buffer):
            await ws.send_str(_data_frame(name, data))

    async def resize(height: int, width: int) -> None:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    pumps = [loop.create_task(pump(name, fd)) for name, fd in outputs.items()]
    feeder = loop.create_task(
        _feed(ws, tty, lambda data: _write_all(stdin_fd, data), lambda: proc.stdin and proc.stdin.close(), resize)
    )
    exited = loop.create_future()
    pidfd = os.pidfd_open(proc.pid)

    def on_exit() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_exit)
    try:
        await asyncio.wait([exited, feeder], return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():  # the client went away first: the command goes too
            os.killpg(proc.pid, signal.SIGKILL)
            await exited
        status = proc.wait()
        if tty:
            # The pty's output ends when its last holder exits; don't wait on escaped children.
            await asyncio.wait(pumps, timeout=0.5)
        else:
            await asyncio.gather(*pumps)
        result = {}
        if status < 0:
            result = {"exit_code": 128 - status, "signal": -status}
        elif status:
            result = {"exit_code": status}
        await _send_exit(ws, result)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        feeder.cancel()
        for task in pumps:
            task.cancel()
        if tty:
            os.close(master)
        else:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None and not stream.closed:
                    stream.close()


async def run_in_container(ws: web.WebSocketResponse, argv: list[str], tty: bool, engine, container: str) -> None:
    """The docker driver's exec (taskHandle.Exec through the engine's exec API): the same frames,
    with the engine's hijacked stream in place of a local pty or pipes."""
    import aiodocker

    async with engine.client() as docker:
        try:
            execution = await docker.containers.container(container).exec(argv, stdin=True, tty=tty)
        except aiodocker.DockerError as err:
            raise ExecError(500, f"failed to create exec: {err.message}") from err
        async with execution.start(detach=False) as stream:

            async def pump() -> None:
                while (message := await stream.read_out()) is not None:
                    name = "stderr" if message.stream == 2 else "stdout"
                    await ws.send_str(_data_frame(name, message.data))

            async def resize(height: int, width: int) -> None:
                await execution.resize(h=height, w=width)

            output = asyncio.get_running_loop().create_task(pump())
            feeder = asyncio.get_running_loop().create_task(
                _feed(ws, tty, stream.write_in, lambda: _close_stdin(stream), resize)
            )
            try:
                await asyncio.wait([output, feeder], return_when=asyncio.FIRST_COMPLETED)
                if not output.done():  # the client went away first: the command goes too
                    return
                code = (await execution.inspect())["ExitCode"] or 0
            finally:
                feeder.cancel()
                output.cancel()
        await _send_exit(ws, {"exit_code": code} if code else {})


def _close_stdin(stream) -> None:
    """Half-close the hijacked connection, which the engine reads as the end of stdin.  aiodocker's
    Stream.close() would also drop the output still to come, so this reaches its transport."""
    transport = stream._resp.connection.transport if stream._resp and stream._resp.connection else None
    if transport and transport.can_write_eof():
        transport.write_eof()
