"""Decoder for Nomad's framed log stream (reference §5.1).

`GET /v1/client/fs/logs/:alloc` (plain=false) sends StreamFrame objects as concatenated JSON
with no delimiter, e.g. `{"Offset":5,"Data":"aGVsbG8K","File":"alloc/logs/main.stdout.0"}{}`,
and the network splits that anywhere, even inside a UTF-8 sequence. Pure: no I/O.
"""

import base64
import codecs
import json
import re

# A frame's Data is at most 64 KiB (base64: ~88 KiB) plus a short path; a buffer this large
# that still holds no complete object means the peer is not sending frames.
MAX_PENDING_CHARS = 1024 * 1024

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON insignificant whitespace


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
        pos = _WHITESPACE.match(self._text).end()
        while pos < len(self._text):
            if self._text[pos] != "{":
                raise ValueError(f"log stream: expected a JSON object at {self._text[pos : pos + 20]!r}")
            try:
                frame, pos = self._json.raw_decode(self._text, pos)
            except json.JSONDecodeError:
                # raw_decode cannot tell "truncated" from "malformed": wait for more data,
                # bounded so that garbage cannot grow the buffer for ever.
                if len(self._text) - pos > MAX_PENDING_CHARS:
                    raise ValueError("log stream: no complete frame in 1 MiB of data") from None
                break
            frames.append(frame)
            pos = _WHITESPACE.match(self._text, pos).end()
        self._text = self._text[pos:]
        return frames

    @property
    def pending(self) -> bool:
        """True when a partial frame is buffered (a stream ending now was cut mid-frame)."""
        return bool(self._text) or bool(self._utf8.getstate()[0])


def frame_data(frame: dict) -> bytes:
    """The frame's bytes: `Data` is standard base64 with padding, absent when empty."""
    data = frame.get("Data")
    return base64.b64decode(data, validate=True) if data else b""


def is_heartbeat(frame: dict) -> bool:
    """Go StreamFrame.IsHeartbeat: no Data, no FileEvent, no File and Offset 0."""
    return not frame.get("Data") and not frame.get("FileEvent") and not frame.get("File") and not frame.get("Offset")
