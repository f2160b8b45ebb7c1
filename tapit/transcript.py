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


def _plain_json_string(data: bytes) -> bytes | None:
    """The JSON string of ASCII output whose only controls are CR and LF (most bulk output), made
    from the bytes as they came, without decoding them; None for anything else."""
    if not data.isascii() or data.translate(None, _PLAIN).translate(None, b"\r\n"):
        return None
    return b'"' + data.replace(b"\r", b"\\r").replace(b"\n", b"\\n") + b'"'


# A write per event cost a bulk `cat` a system call every few KB; buffered, the file is still at
# most this far behind the screen should tapit be killed.
FLUSH_INTERVAL = 1.0


class Transcript:
    """Writes events as they happen, flushed at least every FLUSH_INTERVAL seconds of output and
    by `close()`. Output is decoded as UTF-8 across chunk boundaries, as a terminal would, with
    undecodable bytes replaced."""

    def __init__(self, path: Path, cols: int, rows: int, command: str, term: str | None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("wb", buffering=1 << 16)
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
        self._file.write(json.dumps(header).encode() + b"\n")
        self._file.flush()  # a transcript that exists says at once which console it is

    def _event(self, kind: bytes, json_string: bytes) -> None:
        now = time.monotonic()
        # json.dumps([stamp, kind, text], ensure_ascii=False), without its encoder set up per event.
        self._file.write(b'[%r, "%s", %s]\n' % (round(now - self._start, 6), kind, json_string))
        if now - self._flushed >= FLUSH_INTERVAL:
            self._file.flush()
            self._flushed = now

    def _text(self, kind: bytes, text: str) -> None:
        self._event(kind, encode_basestring(text).encode())

    def output(self, data: bytes) -> None:
        if not self._utf8.getstate()[0]:  # no character cut short by the chunk before
            plain = _plain_json_string(data)
            if plain is not None:
                self._event(b"o", plain)
                return
        text = self._utf8.decode(data)
        if text:
            self._text(b"o", text)

    def resize(self, rows: int, cols: int) -> None:
        self._text(b"r", f"{cols}x{rows}")

    def close(self) -> None:
        if not self._file.closed:
            rest = self._utf8.decode(b"", final=True)
            if rest:
                self._text(b"o", rest)
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
