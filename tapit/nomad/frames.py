"""Decoder for Nomad's framed log stream (client/fs_endpoint.go logs, api/fs.go StreamFrame).

`GET /v1/client/fs/logs/:alloc` (plain=false) sends StreamFrame objects as concatenated JSON
with no delimiter, e.g. `{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}{}`,
and the network splits that anywhere, even inside a UTF-8 sequence. Pure: no I/O.
"""

import codecs
import json
import re
from typing import NamedTuple

import pybase64

# A frame's Data is at most 64 KiB (base64: ~88 KiB) plus a short path; a buffer this large
# that still holds no complete object means the peer is not sending frames.
MAX_PENDING_CHARS = 1024 * 1024

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON insignificant whitespace
# How Go encodes a data frame, field by field in api.StreamFrame's order: parsed with plain string
# searches, several times faster than a JSON scan of 88 KiB of base64. Anything else (escapes, a
# FileEvent, other whitespace) goes to the JSON decoder.
_DATA_HEAD = re.compile(r'\{"Offset":(0|[1-9][0-9]*),"Data":"')
_DATA_TAIL = re.compile(r'","File":"([^"\\\x00-\x1f]*)"\}')
_INCOMPLETE = object()


class FrameDecoder:
    """Incremental decoder: feed it chunks, get back every frame completed so far."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._json = json.JSONDecoder()
        self._text = ""

    def feed(self, chunk: bytes) -> list[dict]:
        """Frames completed by `chunk`, in order. ValueError if the stream is not frames."""
        self._text += self._utf8.decode(chunk)
        frames = []
        pos = _WHITESPACE.match(self._text).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        while pos < len(self._text):
            if self._text[pos] != "{":
                raise ValueError(f"log stream: expected a JSON object at {self._text[pos : pos + 20]!r}")
            found = _data_frame_at(self._text, pos)
            if found is _INCOMPLETE:
                break
            if found is not None:
                frame, pos = found
                frames.append(frame)
                pos = _WHITESPACE.match(self._text, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
                continue
            try:
                frame, pos = self._json.raw_decode(self._text, pos)
            except json.JSONDecodeError:
                # raw_decode cannot tell "truncated" from "malformed": wait for more data,
                # bounded so that garbage cannot grow the buffer for ever.
                if len(self._text) - pos > MAX_PENDING_CHARS:
                    raise ValueError("log stream: no complete frame in 1 MiB of data") from None
                break
            frames.append(frame)
            pos = _WHITESPACE.match(self._text, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        self._text = self._text[pos:]
        return frames

    @property
    def pending(self) -> bool:
        """True when a partial frame is buffered (a stream ending now was cut mid-frame)."""
        return bool(self._text) or bool(self._utf8.getstate()[0])


def _data_frame_at(text: str, pos: int):
    """(frame, end) for a data frame in Go's exact encoding at `pos`; _INCOMPLETE when one has
    begun but not arrived whole; None when the JSON decoder has to tell."""
    head = _DATA_HEAD.match(text, pos)
    if head is None:
        return None
    start = head.end()
    quote = text.find('"', start)
    if quote < 0 or text.find("}", quote) < 0:
        return _INCOMPLETE if len(text) - pos <= MAX_PENDING_CHARS else None
    if text.find("\\", start, quote) >= 0:
        return None
    tail = _DATA_TAIL.match(text, quote)
    if tail is None:
        return None
    return {"Offset": int(head.group(1)), "Data": text[start:quote], "File": tail.group(1)}, tail.end()


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
