"""Log lines as they arrive and as they are shown: the buffer behind the log viewer.

Lines of both streams are kept raw, in arrival order, with their display widths, so
ingest is a list append; colours are parsed only when a line is drawn (log_text).
"""

from __future__ import annotations

import codecs
import re

from rich.cells import cell_len
from rich.text import Text

from tapit.output import printable

STREAMS = ("stdout", "stderr")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Colours and text styles (SGR) are the only sequences a log line may use; they become styles.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def strip_ansi(line: str) -> str:
    return _ANSI.sub("", line) if "\x1b" in line else line


def shown(line: str) -> str:
    """The line as the view shows it: colours taken out, every other control sequence made visible."""
    return line if line.isprintable() else printable(_SGR.sub("", line))


def log_text(line: str) -> Text:
    """A log line as styled text. Only its colours are obeyed: a title, a cursor move or a
    screen clear is shown as the escapes it is made of, never sent to the terminal."""
    if line.isprintable():
        return Text(line, no_wrap=True, end="")
    pieces, start = [], 0
    for match in _SGR.finditer(line):
        pieces += [printable(line[start : match.start()]), match.group()]
        start = match.end()
    pieces.append(printable(line[start:]))
    return Text.from_ansi("".join(pieces), no_wrap=True, end="")


def clean(line: str) -> str:
    """What a terminal would leave on the line: text after the last carriage return, tabs expanded."""
    if "\r" in line:
        line = line.rstrip("\r")
        line = line[line.rfind("\r") + 1 :]
    return line.expandtabs() if "\t" in line else line


def width_of(line: str) -> int:
    if line.isascii() and line.isprintable():
        return len(line)
    return cell_len(shown(line))


class LogBuffer:
    """Lines of both streams in arrival order; partial lines wait for their newline."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.streams = bytearray()  # 0 stdout, 1 stderr, one per line
        self.widths: list[int] = []
        self.max_width = 0
        self.chars = 0  # of the lines kept: what a size window counts
        self.dropped = 0  # lines let go by a size window
        self._decoders = [codecs.getincrementaldecoder("utf-8")("replace") for _ in STREAMS]
        self._partial = ["", ""]

    def feed(self, stream: int, data: bytes) -> int:
        """Add output; returns how many complete lines it made."""
        text = self._partial[stream] + self._decoders[stream].decode(data)
        parts = text.split("\n")
        self._partial[stream] = parts.pop()
        self._extend(stream, parts)
        return len(parts)

    def flush(self) -> None:
        """The output ended: its unterminated last lines become lines."""
        for stream, tail in enumerate(self._partial):
            if tail:
                self._extend(stream, [tail])
        self._partial = ["", ""]

    def _extend(self, stream: int, parts: list[str]) -> None:
        if not parts:
            return
        parts = [clean(p) for p in parts]
        widths = [width_of(p) for p in parts]
        self.lines.extend(parts)
        self.widths.extend(widths)
        self.chars += sum(map(len, parts)) + len(parts)
        self.streams.extend(bytes((stream,)) * len(parts))
        self.max_width = max(self.max_width, max(widths))

    def keep_last(self, chars: int) -> bool:
        """Let go of the oldest lines until at most `chars` are kept; whether any went."""
        if self.chars <= chars:
            return False
        over, drop = self.chars - chars, 0
        while over > 0 and drop < len(self.lines):
            over -= len(self.lines[drop]) + 1
            drop += 1
        self.chars -= sum(map(len, self.lines[:drop])) + drop
        del self.lines[:drop], self.widths[:drop], self.streams[:drop]
        self.max_width = max(self.widths, default=0)
        self.dropped += drop
        return True

    def snapshot(self) -> tuple[list[str], bytes]:
        """A copy of the lines and their streams, safe to read from another thread."""
        return self.lines[:], bytes(self.streams)


def plain_text(lines: list[str], streams: bytes, stream: int | None) -> str:
    """The text with colours removed, of one stream or both."""
    picked = (line for line, s in zip(lines, streams) if stream is None or s == stream)
    return "".join(strip_ansi(line) + "\n" for line in picked)
