"""GET /v1/client/fs/logs/:alloc_id — Nomad's log streaming (client/fs_endpoint.go logsImpl).

Framed mode writes concatenated StreamFrame JSON objects (no delimiter), base64 Data of at most
64 KiB, batched for 200 ms, with an empty `{}` heartbeat every second.  Plain mode writes the raw
bytes only.  With follow the stream never ends on its own, as in Nomad: it waits for more data
or the next rotated file until the client goes away.

Offsets count over the rotated files still on disk, as findClosest does: `origin=start` walks
forward from the oldest file present, `origin=end` back from the newest.  A file rotated away
before it was opened is skipped for the next one present, silently, as in Nomad: a client sees
the gap in the frames' File names (client/fs_endpoint.go logsImpl, `os.IsNotExist → continue`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pybase64
from aiohttp import web

from tapit import heap

FRAME_SIZE = 64 * 1024  # streamFrameSize
BATCH_WINDOW = 0.2  # streamBatchWindow
HEARTBEAT = 1.0  # streamHeartbeatRate
POLL = 0.05  # how often a file at its end is looked at again (Nomad watches it for changes)
NEXT_LOG_CHECK = 0.1  # nextLogCheckRate: how often blockUntilNextLog lists the directory
READ_SIZE = 16 * FRAME_SIZE  # fewer, larger reads; the framer cuts them into frames
LAST = sys.maxsize  # math.MaxInt64: origin=end starts from the newest file


class LogError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def log_files(log_dir: Path, task: str, log_type: str) -> list[tuple[int, int]]:
    """logIndexes: (index, size) of every `<task>.<type>.<n>` file, oldest first."""
    pattern = re.compile(rf"^{re.escape(task)}\.{log_type}\.(\d+)$")
    found = []
    try:
        with os.scandir(log_dir) as entries:
            for entry in entries:
                match = pattern.match(entry.name)
                if match:
                    try:
                        found.append((int(match.group(1)), entry.stat().st_size))
                    except FileNotFoundError:
                        pass  # rotated away while listing
    except FileNotFoundError:
        pass
    return sorted(found)


def find_closest(files: list[tuple[int, int]], desired_index: int, desired_offset: int) -> tuple[int, int]:
    """findClosest: the (index, offset in it) of the first file at or after `desired_index` (the
    newest if none), moved `desired_offset` bytes forward, or back when negative, across files.

    As in Nomad an offset of exactly a file's size stays at that file's end, and an offset of 0 is
    the start of the chosen file — so `origin=end, offset=0` streams the whole newest file."""
    i = next((n for n, (index, _) in enumerate(files) if index >= desired_index), len(files) - 1)
    offset = desired_offset
    while True:
        size = files[i][1]
        if offset == 0:
            break
        if offset < 0:
            if size + offset >= 0:
                offset += size
                break
            if i == 0:
                offset = 0
                break
            offset += size
            i -= 1
        else:
            if offset <= size:
                break
            if i == len(files) - 1:
                offset = size
                break
            offset -= size
            i += 1
    return files[i][0], offset


class Framer:
    """Batches data into StreamFrames and sends heartbeats (client/lib/streamframer).

    A frame's Offset is where its Data ends in its File, as Nomad's api.FrameReader reads it."""

    def __init__(self, resp: web.StreamResponse, plain: bool):
        self.resp = resp
        self.plain = plain
        self.file = ""
        self._file_json = b'""'
        self.data = bytearray()
        self.end_offset = 0
        self.first_at = 0.0
        loop = asyncio.get_running_loop()
        self.next_heartbeat = loop.time() + HEARTBEAT

    async def add(self, file: str, data: bytes, end_offset: int) -> None:
        if file != self.file:
            await self.flush()  # a frame never spans two files
            self.file, self._file_json = file, json.dumps(file).encode()
        # Every full frame at once, in one write: far fewer writes (and chunks) for a fast log.
        # The frames are encoded from views of the read: nothing is copied but the pending tail.
        view = memoryview(data)
        frames: list[bytes] = []
        pos = 0
        start = end_offset - len(data) - len(self.data)  # where the pending data begins in the file
        if self.data:
            pos = min(FRAME_SIZE - len(self.data), len(data))
            self.data += view[:pos]
            if len(self.data) == FRAME_SIZE:
                start += FRAME_SIZE
                frames += self._frame(self.data, start)
                self.data.clear()
        while len(data) - pos >= FRAME_SIZE:
            start += FRAME_SIZE
            frames += self._frame(view[pos : pos + FRAME_SIZE], start)
            pos += FRAME_SIZE
        if pos < len(data):
            if not self.data:
                self.first_at = asyncio.get_running_loop().time()
            self.data += view[pos:]
        self.end_offset = end_offset
        if frames:
            await self.resp.write(b"".join(frames))

    async def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        if self.data and now - self.first_at >= BATCH_WINDOW:
            await self.flush()
        if now >= self.next_heartbeat:
            # The heartbeat ticker fires every second whatever was sent; plain mode drops it (an
            # empty payload), as client/fs_endpoint.go logs does.
            self.next_heartbeat = now + HEARTBEAT
            if not self.plain:
                await self.resp.write(b"{}")

    async def event(self, file: str, event: str, offset: int) -> None:
        """A frame that carries a FileEvent ("file deleted", "file truncated") and no data."""
        await self.flush()
        if not self.plain:
            frame = {"Offset": offset, "File": file, "FileEvent": event}
            await self.resp.write(json.dumps(frame, separators=(",", ":")).encode())

    async def flush(self) -> None:
        if self.data:
            await self.resp.write(b"".join(self._frame(self.data, self.end_offset)))
            self.data.clear()

    def _frame(self, data: bytes | bytearray | memoryview, offset: int) -> tuple[bytes, ...]:
        """The frame's pieces, joined by the caller with its neighbours' in one copy."""
        if self.plain:
            return (bytes(data),)
        # api.StreamFrame's JSON: Offset, Data (standard base64), File, every one omitempty.
        return b'{"Offset":%d,"Data":"' % offset, pybase64.b64encode(data), b'","File":%s}' % self._file_json


async def stream_file(log_dir: Path, name: str, offset: int, framer: Framer, follow: bool, next_exists) -> None:
    """streamFile: from `offset` to the end of the file; following, until a later file exists
    (then one more read, so nothing written before the rotation is dropped). The file is kept
    open: one rotated away while it is read is still read to its end, as an open Go file is.
    FileNotFoundError when it is gone before it could be opened."""
    path = f"alloc/logs/{name}"
    with open(log_dir / name, "rb") as handle:
        handle.seek(offset)
        cancel_received = not follow
        next_check = 0.0
        loop = asyncio.get_running_loop()
        while True:
            chunk = handle.read(READ_SIZE)
            if chunk:
                if len(chunk) >= heap.LARGE_READ_BYTES:
                    heap.keep_freed_memory()  # each read's frames are reused heap, not fresh pages
                offset += len(chunk)
                await framer.add(path, chunk, offset)
                await framer.tick()
                continue
            if cancel_received:
                return
            now = loop.time()
            if now >= next_check:
                next_check = now + NEXT_LOG_CHECK
                if next_exists():
                    cancel_received = True  # "try to read one more frame to avoid dropped entries"
                    continue
            await framer.tick()
            await asyncio.sleep(POLL)


async def stream(
    request: web.Request, alloc_dir: Path, task: str, log_type: str, follow: bool, offset: int, origin: str, plain: bool
) -> web.StreamResponse:
    log_dir = alloc_dir / "alloc" / "logs"
    files = log_files(log_dir, task, log_type)
    if not files:
        raise LogError(404, f'log entry for task "{task}" and log type "{log_type}" not found')
    next_index = 0 if origin == "start" else LAST
    if origin == "end":
        offset = -offset

    resp = web.StreamResponse()
    resp.content_type = "text/plain" if plain else "application/json"
    await resp.prepare(request)
    framer = Framer(resp, plain)
    try:
        while True:
            # 1) list the files, 2) pick the one closest to the wanted index, 3) open it at the
            # offset; 3b) gone since the listing (rotated away): list again.
            files = files or log_files(log_dir, task, log_type)
            if not files:
                break  # every file went away: nothing is left to send
            # Not following, the stream ends with the file that is the newest when it is reached.
            index, open_offset = find_closest(files, next_index, offset)
            last = not follow and index == files[-1][0]
            files = []

            def next_exists(index=index) -> bool:
                return any(i > index for i, _ in log_files(log_dir, task, log_type))

            try:
                await stream_file(log_dir, f"{task}.{log_type}.{index}", open_offset, framer, follow, next_exists)
            except FileNotFoundError:
                continue
            if last:
                break
            offset, next_index = 0, index + 1
        await framer.flush()
    except ConnectionResetError:
        pass  # the client went away: the only way a followed stream ends
    return resp
