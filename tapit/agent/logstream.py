"""GET /v1/client/fs/logs/:alloc_id — Nomad's log streaming (client/fs_endpoint.go logsImpl).

Framed mode writes concatenated StreamFrame JSON objects (no delimiter), base64 Data of at most
64 KiB, batched for 200 ms, with an empty `{}` heartbeat every second.  Plain mode writes the raw
bytes only.  With follow the stream never ends on its own, as in Nomad: it waits for more data
or the next rotated file until the client goes away.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from pathlib import Path

from aiohttp import web

FRAME_SIZE = 64 * 1024
BATCH_WINDOW = 0.2
HEARTBEAT = 1.0
POLL = 0.05


class LogError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def log_files(log_dir: Path, task: str, log_type: str) -> list[int]:
    pattern = re.compile(rf"^{re.escape(task)}\.{log_type}\.(\d+)$")
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        return []
    return sorted(int(m.group(1)) for m in map(pattern.match, names) if m)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def find_start(log_dir: Path, task: str, log_type: str, indexes: list[int], offset: int, origin: str):
    """findClosest: the (file index, offset in it) `offset` bytes from the start or the end."""
    files = [(i, _size(log_dir / f"{task}.{log_type}.{i}")) for i in indexes]
    if origin == "start":
        for index, size in files:
            if offset < size or index == files[-1][0]:
                return index, min(offset, size)
            offset -= size
    for index, size in reversed(files):
        if offset <= size or index == files[0][0]:
            return index, max(0, size - offset)
        offset -= size
    return files[0][0], 0


class Framer:
    """Batches data into StreamFrames and emits heartbeats (client/lib/streamframer)."""

    def __init__(self, resp: web.StreamResponse, plain: bool):
        self.resp = resp
        self.plain = plain
        self.file = ""
        self.data = bytearray()
        self.end_offset = 0
        self.first_at = 0.0
        self.last_sent = asyncio.get_running_loop().time()

    async def add(self, file: str, data: bytes, end_offset: int) -> None:
        if file != self.file:
            await self.flush()
            self.file = file
        if not self.data:
            self.first_at = asyncio.get_running_loop().time()
        self.data += data
        self.end_offset = end_offset
        while len(self.data) >= FRAME_SIZE:
            await self._send(bytes(self.data[:FRAME_SIZE]), self.end_offset - len(self.data) + FRAME_SIZE)
            del self.data[:FRAME_SIZE]

    async def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        if self.data and now - self.first_at >= BATCH_WINDOW:
            await self.flush()
        elif not self.plain and now - self.last_sent >= HEARTBEAT:
            await self.resp.write(b"{}")
            self.last_sent = now

    async def flush(self) -> None:
        if self.data:
            await self._send(bytes(self.data), self.end_offset)
            self.data.clear()

    async def _send(self, data: bytes, offset: int) -> None:
        if self.plain:
            await self.resp.write(data)
        else:
            frame = {"Offset": offset, "Data": base64.b64encode(data).decode(), "File": self.file}
            await self.resp.write(json.dumps(frame, separators=(",", ":")).encode())
        self.last_sent = asyncio.get_running_loop().time()


async def stream(
    request: web.Request, alloc_dir: Path, task: str, log_type: str, follow: bool, offset: int, origin: str, plain: bool
) -> web.StreamResponse:
    log_dir = alloc_dir / "alloc" / "logs"
    indexes = log_files(log_dir, task, log_type)
    if not indexes:
        raise LogError(404, f'log entry for task "{task}" and log type "{log_type}" not found')
    index, position = find_start(log_dir, task, log_type, indexes, offset, origin)
    last_index = indexes[-1]

    resp = web.StreamResponse()
    resp.content_type = "text/plain" if plain else "application/json"
    await resp.prepare(request)
    framer = Framer(resp, plain)
    handle = None
    try:
        while True:
            path = log_dir / f"{task}.{log_type}.{index}"
            if handle is None:
                try:
                    handle = open(path, "rb")
                    handle.seek(position)
                except FileNotFoundError:
                    handle = None
            chunk = handle.read(FRAME_SIZE) if handle else b""
            if chunk:
                position += len(chunk)
                await framer.add(f"alloc/logs/{task}.{log_type}.{index}", chunk, position)
                await framer.tick()
                continue
            later = [i for i in log_files(log_dir, task, log_type) if i > index]
            if later and (follow or later[0] <= last_index):
                # The file was rotated: what remains is in the next one (blockUntilNextLog).
                if handle:
                    handle.close()
                handle, index, position = None, later[0], 0
                continue
            if not follow:
                await framer.flush()
                break
            await framer.tick()
            await asyncio.sleep(POLL)
    except ConnectionResetError:
        pass  # the client went away: the only way a followed stream ends
    finally:
        if handle:
            handle.close()
    return resp
