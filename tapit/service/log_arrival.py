"""The order in which a followed task's two streams arrived, kept beside its archive.

Each stream is archived to its own file (tapit/service/history.py ArchiveWriter); the order the
frames of both arrived in is only known while they are followed, so it is written then, as an
"arrival" file of (stream, length) entries. Replaying a finished task then interleaves the two
archives as they were seen live (the TUI's "Both" view, `tapit show logs`), as the log store's
chunks do for what the archivist shipped (tapit/trail/logstore.py LogStore.records).

Replay reads every byte of both archives exactly once, in pieces: an arrival file that does not
match them (an older one, two processes archiving at once) only changes the order of what follows.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tapit.service.history import ArchiveWriter, History

ARRIVAL = "arrival"
_ENTRY = struct.Struct(">BI")  # the stream's index in `streams`, the frame's length in bytes
_READ = 64 * 1024


class Arrival:
    """Notes every frame's stream and length as it is archived; put in place once every stream
    has been committed, thrown away with any of them."""

    def __init__(self, writer: ArchiveWriter, streams: tuple[str, ...]):
        self._writer, self._streams = writer, streams
        self._lock = threading.Lock()
        self._uncommitted = len(streams)

    def archive(self, stream_writer: ArchiveWriter, stream: str) -> NotedArchive:
        return NotedArchive(stream_writer, self, self._streams.index(stream))

    def note(self, index: int, length: int) -> None:
        with self._lock:
            self._writer.write(_ENTRY.pack(index, length))

    def stream_committed(self) -> None:
        with self._lock:
            self._uncommitted -= 1
            if self._uncommitted == 0:
                self._writer.commit()

    def discard(self) -> None:
        with self._lock:
            if self._uncommitted:
                self._writer.discard()


class NotedArchive:
    """One stream's ArchiveWriter that tells the Arrival of every frame written to it."""

    def __init__(self, writer: ArchiveWriter, arrival: Arrival, index: int):
        self._writer, self._arrival, self._index = writer, arrival, index

    def write(self, data: bytes) -> None:
        self._writer.write(data)
        if data:
            self._arrival.note(self._index, len(data))

    def commit(self) -> None:
        self._writer.commit()
        self._arrival.stream_committed()

    def discard(self) -> None:
        self._writer.discard()
        self._arrival.discard()


def replay(history: History, task_id: str, streams: tuple[str, ...], sink: Callable[[str, bytes], None]) -> None:
    """Both archives into the sink: in arrival order as far as the arrival file says, then
    whatever remains of each stream (all of it, stream by stream, when there is no such file)."""
    files = {}
    try:
        for stream in streams:
            try:
                files[stream] = open(history.log_path(task_id, stream), "rb")
            except FileNotFoundError:
                continue
        for index, length in _entries(history, task_id):
            if index < len(streams) and streams[index] in files:
                _copy(files[streams[index]], streams[index], length, sink)
        for stream, handle in files.items():
            _copy(handle, stream, None, sink)
    finally:
        for handle in files.values():
            handle.close()


def _copy(handle, stream: str, length: int | None, sink: Callable[[str, bytes], None]) -> None:
    while length is None or length > 0:
        data = handle.read(_READ if length is None else min(_READ, length))
        if not data:
            return
        sink(stream, data)
        if length is not None:
            length -= len(data)


def _entries(history: History, task_id: str) -> Iterator[tuple[int, int]]:
    pending = b""
    for chunk in history.archived_chunks(task_id, ARRIVAL):
        pending += chunk
        whole = len(pending) - len(pending) % _ENTRY.size
        yield from _ENTRY.iter_unpack(pending[:whole])
        pending = pending[whole:]
