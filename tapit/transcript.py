"""A console's transcript as an asciicast v2 file: what the terminal showed, with timings.

Format (asciinema's v2): a JSON header line, then one JSON array per event,
`[seconds since start, "o", text]` for output and `[seconds, "r", "COLSxROWS"]` for a resize.
Input ("i") events are never written: keystrokes can be passwords, and what the user typed
is in the transcript anyway as the terminal's echo.
"""

from __future__ import annotations

import codecs
import json
import time
from collections.abc import Iterator
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str
from pathlib import Path

CAST_NAME = "console.cast"
# The ASCII bytes json.dumps writes as they are (everything but controls, '"' and '\\').
_PLAIN = bytes(b for b in range(0x20, 0x80) if b not in b'"\\')


def _json_string(text: str) -> str:
    """encode_basestring(text), exactly; for plain text whose only controls are CR and LF (most bulk
    output) without its per-character loop, which costs a bulk `cat` more than all of its framing."""
    if text.isascii() and not text.encode("ascii").translate(None, _PLAIN).translate(None, b"\r\n"):
        return '"' + text.replace("\r", "\\r").replace("\n", "\\n") + '"'
    return encode_basestring(text)


# A write per event cost a bulk `cat` a system call every few KB; buffered, the file is still at
# most this far behind the screen should tapit be killed.
FLUSH_INTERVAL = 1.0


class Transcript:
    """Writes events as they happen, flushed at least every FLUSH_INTERVAL seconds of output and
    by `close()`. Output is decoded as UTF-8 across chunk boundaries, as a terminal would, with
    undecodable bytes replaced."""

    def __init__(self, path: Path, cols: int, rows: int, command: str, term: str | None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w", encoding="utf-8", buffering=1 << 16)
        self._start = self._flushed = time.monotonic()
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        header = {
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": int(time.time()),
            "command": command,
            "env": {"TERM": term} if term else {},
        }
        self._file.write(json.dumps(header) + "\n")
        self._file.flush()  # a transcript that exists says at once which console it is

    def _event(self, kind: str, text: str) -> None:
        now = time.monotonic()
        # json.dumps([stamp, kind, text], ensure_ascii=False), without its encoder set up per event.
        self._file.write(f'[{round(now - self._start, 6)!r}, "{kind}", {_json_string(text)}]\n')
        if now - self._flushed >= FLUSH_INTERVAL:
            self._file.flush()
            self._flushed = now

    def output(self, data: bytes) -> None:
        text = self._utf8.decode(data)
        if text:
            self._event("o", text)

    def resize(self, rows: int, cols: int) -> None:
        self._event("r", f"{cols}x{rows}")

    def close(self) -> None:
        if not self._file.closed:
            rest = self._utf8.decode(b"", final=True)
            if rest:
                self._event("o", rest)
            self._file.close()


def read_cast(path: Path) -> tuple[dict, Iterator[tuple[float, str, str]]]:
    """The header and the events of a cast file, read lazily (a transcript can be large)."""
    handle = path.open(encoding="utf-8")
    header = json.loads(handle.readline())

    def events() -> Iterator[tuple[float, str, str]]:
        with handle:
            for line in handle:
                if line.strip():
                    stamp, kind, text = json.loads(line)
                    yield float(stamp), kind, text

    return header, events()
