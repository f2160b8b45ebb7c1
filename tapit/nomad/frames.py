"""Decoder for Nomad's framed log stream (client/fs_endpoint.go logs, api/fs.go StreamFrame).

`GET /v1/client/fs/logs/:alloc` (plain=false) sends StreamFrame objects as concatenated JSON
with no delimiter, e.g. `{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}{}`,
and the network splits that anywhere, even inside a UTF-8 sequence. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

import pybase64

# A frame's Data is at most 64 KiB (base64: ~88 KiB) plus a short path; a buffer this large
# that still holds no complete object means the peer is not sending frames.
MAX_PENDING_CHARS = 1024 * 1024

_WHITESPACE = re.compile(rb"[ \t\n\r]*")  # JSON insignificant whitespace
# How Go encodes a data frame, field by field in api.StreamFrame's order: parsed with plain byte
# searches on the bytes as they came, several times faster than a JSON scan of 88 KiB of base64,
# and the base64 decoded in place, never made a str. Anything else (escapes, a FileEvent, other
# whitespace) goes to the JSON decoder.
_DATA_HEAD = re.compile(rb'\{"Offset":(0|[1-9][0-9]*),"Data":"')
_DATA_TAIL = re.compile(rb'","File":"([^"\\\x00-\x1f]*)"\}')
_HEARTBEAT = b"{}"  # Go StreamFrame.IsHeartbeat, once a second
_INCOMPLETE = object()


class _Data(NamedTuple):
    """A data frame in Go's exact encoding, its base64 still a view of the received bytes."""

    offset: int
    data: memoryview
    file: str


class FrameDecoder:
    """Incremental decoder: feed it chunks, get back every frame completed so far."""

    def __init__(self) -> None:
        self._json = json.JSONDecoder()
        self._buf = b""

    def feed(self, chunk: bytes) -> list[dict]:
        """Frames completed by `chunk`, in order, as JSON objects. ValueError if the stream is
        not frames."""
        return [
            {"Offset": f.offset, "Data": f.data.tobytes().decode("ascii"), "File": f.file} if type(f) is _Data else f
            for f in self._frames(chunk)
        ]

    def feed_logs(self, chunk: bytes) -> list[LogFrame]:
        """The data frames completed by `chunk`, decoded (data_frame); heartbeats and file events
        dropped. ValueError if the stream is not frames."""
        logs = []
        for f in self._frames(chunk):
            log = (
                LogFrame(f.file, f.offset, pybase64.b64decode(f.data, validate=True))
                if type(f) is _Data
                else data_frame(f)
            )
            if log is not None:
                logs.append(log)
        return logs

    def _frames(self, chunk: bytes) -> list:
        buf = self._buf + chunk if self._buf else bytes(chunk)
        view = memoryview(buf)
        frames: list = []
        pos = _WHITESPACE.match(buf).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        while pos < len(buf):
            if buf[pos] != 0x7B:  # "{"
                raise ValueError(f"log stream: expected a JSON object at {buf[pos : pos + 20]!r}")
            if buf.startswith(_HEARTBEAT, pos):
                frames.append({})
                pos += len(_HEARTBEAT)
            else:
                found = _data_frame_at(buf, view, pos)
                if found is _INCOMPLETE:
                    break
                if found is None:
                    found = self._json_at(buf, pos)
                    if found is None:
                        break
                frame, pos = found
                frames.append(frame)
            pos = _WHITESPACE.match(buf, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        self._buf = buf[pos:]
        return frames

    def _json_at(self, buf: bytes, pos: int) -> tuple[dict, int] | None:
        """(object, end) by the JSON decoder; None while it has not arrived whole."""
        # A multi-byte sequence cut by the end of the buffer decodes to lone surrogates, which
        # can only lie after an object that is whole, or in one that is not (then: wait).
        text = buf[pos : pos + MAX_PENDING_CHARS + 1].decode("utf-8", "surrogateescape")
        try:
            frame, end = self._json.raw_decode(text)
        except json.JSONDecodeError:
            # raw_decode cannot tell "truncated" from "malformed": wait for more data,
            # bounded so that garbage cannot grow the buffer for ever.
            if len(buf) - pos > MAX_PENDING_CHARS:
                raise ValueError("log stream: no complete frame in 1 MiB of data") from None
            return None
        return frame, pos + len(text[:end].encode("utf-8"))  # UnicodeEncodeError (a ValueError): not UTF-8

    @property
    def pending(self) -> bool:
        """True when a partial frame is buffered (a stream ending now was cut mid-frame)."""
        return bool(self._buf)


def _data_frame_at(buf: bytes, view: memoryview, pos: int):
    """(frame, end) for a data frame in Go's exact encoding at `pos`; _INCOMPLETE when one has
    begun but not arrived whole; None when the JSON decoder has to tell."""
    head = _DATA_HEAD.match(buf, pos)
    if head is None:
        return None
    start = head.end()
    quote = buf.find(b'"', start)
    if quote < 0 or buf.find(b"}", quote) < 0:
        return _INCOMPLETE if len(buf) - pos <= MAX_PENDING_CHARS else None
    if buf.find(b"\\", start, quote) >= 0:
        return None
    tail = _DATA_TAIL.match(buf, quote)
    if tail is None:
        return None
    try:
        file = tail.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None  # the JSON decoder says what is wrong
    return _Data(int(head.group(1)), view[start:quote], file), tail.end()


class LogFrame(NamedTuple):
    """One data frame: `data` read from the rotated log file `file` (alloc/logs/<task>.<type>.<n>),
    ending at byte `offset` of it (api/fs.go FrameReader: "the total offset into the file")."""

    file: str
    offset: int
    data: bytes


_LOG_INDEX = re.compile(r"\.(\d+)$")


def log_index(file: str) -> int:
    """The rotation index n of `alloc/logs/<task>.<type>.<n>` (client/fs_endpoint.go logIndexes).
    ValueError for a name that has none."""
    match = _LOG_INDEX.search(file)
    if match is None:
        raise ValueError(f"log stream: a frame from {file!r}, which is not a rotated log file")
    return int(match.group(1))


def data_frame(frame: dict) -> LogFrame | None:
    """The frame's data with where it comes from; None for a frame without data (a heartbeat,
    Go StreamFrame.IsHeartbeat, or a bare FileEvent). ValueError for a malformed one."""
    data = frame.get("Data")
    if not data:
        return None
    file, offset = frame.get("File"), frame.get("Offset", 0)
    if not isinstance(data, str) or not isinstance(file, str) or type(offset) is not int:
        raise ValueError(f"log stream: a malformed frame {str(frame)[:80]!r}")
    return LogFrame(file, offset, pybase64.b64decode(data, validate=True))
