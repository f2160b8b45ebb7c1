"""Shipping one task's logs to the log store as they are produced, by (file, offset).

Both streams are copied out of Nomad by LogCopy (tapit/service/logcopy.py), byte-exact across
rotation; what they deliver is gathered in arrival order and written as numbered chunks
(tapit/trail/logformat.py), each saying where both copies stood at its end. So:

* a shipper that starts (a restarted archivist, another one) resumes at the last chunk in the
  store: every byte after it is read again from Nomad, none before it, so nothing is lost or
  written twice, whatever killed the previous one;
* a chunk is created only if its number is free: two archivists shipping one task cannot both
  extend it, and the one that loses stops (ShipConflict) and leaves the task to the winner;
* memory holds one chunk (CHUNK_BYTES) per task: a store that fails keeps what it has and holds
  the copies back (Nomad still has the bytes on disk) until it answers again.

Once the task has ended and both copies reached the end of its logs, each stream is written
whole (stdout, stderr), then the manifest.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from tapit.nomad.client import NomadClient
from tapit.service.logcopy import LogCopy, Position, Resume
from tapit.trail import logformat
from tapit.trail.logformat import STREAMS
from tapit.trail.logstore import LogStore, LogStoreError
from tapit.translate.jobspec import TASK_NAME

CHUNK_BYTES = 1024 * 1024
# While the store fails, this much more may wait in memory before the copies are held back.
MAX_BUFFER_BYTES = 16 * CHUNK_BYTES
STORE_RETRY_S = 2.0
# The record keeps the last of the output; tapit/trail/records.py trims it further to fit 64 KiB.
TAIL_BYTES = 8192


class ShipConflict(Exception):
    """Another writer created the chunk this shipper was about to: the task is theirs now."""


@dataclass(frozen=True)
class Shipped:
    """What the store holds of a task's logs once shipped: the record's logs_* fields."""

    url: str
    sha256: str  # of the manifest, which holds each stream's own
    total_bytes: int
    lost_bytes: dict[str, int]
    complete: bool
    tail: str


class LogShipper:
    def __init__(
        self, store: LogStore, nomad: NomadClient, namespace: str, task_id: str, alloc_id: str, file_size: int
    ):
        self.store, self.namespace, self.task_id = store, namespace, task_id
        self.seq, self.states = store.resume_point(namespace, task_id)
        self.error: LogStoreError | None = None  # the store's last failure, until a write succeeds
        self.conflict = False
        self._records: list[tuple[str, bytes]] = []
        self._buffered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.copies: list[LogCopy] = []
        for stream in STREAMS:
            feed = _Feed(self, stream)
            feed.copy = LogCopy(nomad, alloc_id, TASK_NAME, stream, file_size, None, feed, resume=self._resume(stream))
            self.copies.append(feed.copy)

    def _resume(self, stream: str) -> Resume:
        state = self.states[stream]
        return Resume(Position(state.file, state.offset), state.sizes, state.lost_bytes)

    # --- while the task runs -------------------------------------------------------------------

    def follow(self) -> None:
        for copy in self.copies:
            copy.follow()

    def take(self, stream: str, copy: LogCopy, data: bytes) -> None:
        """One frame, with where its copy stands after it (called in the copy's thread)."""
        with self._lock:
            if self.conflict:
                raise ShipConflict(self.task_id)
            state = self.states[stream]
            state.file, state.offset = copy.position
            state.sizes[copy.position.file] = copy.position.offset
            state.lost_bytes = copy.lost_bytes
            state.total += len(data)
            self._records.append((stream, data))
            self._buffered += len(data)
            if self._buffered >= CHUNK_BYTES:
                self._flush_or_hold()

    def flush(self) -> None:
        """Write what has arrived as a chunk (the archivist calls it every few seconds, so a
        slow writer's output reaches the store soon); a store failure is kept in `error`, a
        conflict in `conflict`."""
        with self._lock:
            try:
                self._flush_or_hold(hold=False)
            except ShipConflict:
                pass  # self.conflict says it

    def _flush_or_hold(self, hold: bool = True) -> None:
        while True:
            try:
                self._write_chunk()
                return
            except LogStoreError as exc:
                self.error = exc
                if not hold or self._buffered < MAX_BUFFER_BYTES:
                    return
            if self._stop.wait(STORE_RETRY_S):
                return

    def _write_chunk(self) -> None:
        if not self._records:
            return
        parts = logformat.encode_chunk(self.seq, self.states, self._records)
        if not self.store.put_chunk(self.namespace, self.task_id, self.seq, parts):
            self.conflict = True
            raise ShipConflict(self.task_id)
        self.seq += 1
        self._records, self._buffered, self.error = [], 0, None

    # --- once it has ended ---------------------------------------------------------------------

    def finish(self, lost_why: str | None = None) -> Shipped:
        """Read both logs to their end (unless `lost_why` says they cannot be), ship the rest,
        write each stream whole and the manifest. LogStoreError when the store fails: what is
        buffered stays, and finish() can be called again."""
        try:
            if lost_why is None:
                for copy in self.copies:
                    copy.finish()
        finally:
            for copy in self.copies:
                copy.close()
        self.flush()
        if self.conflict:
            raise ShipConflict(self.task_id)
        if self.error is not None:
            raise self.error
        return self.complete(lost_why)

    def complete(self, lost_why: str | None) -> Shipped:
        """Each stream whole, then the manifest: `lost_why` says why the copy could not reach
        the end of the logs (Nomad no longer has them), and the manifest is then not complete."""
        tail = _Tail()
        digests = {stream: hashlib.sha256() for stream in STREAMS}
        sizes = dict.fromkeys(STREAMS, 0)

        def records():  # every chunk read once: both streams are written from the same pass
            for stream, data in self.store.records(self.namespace, self.task_id):
                tail.add(data)
                digests[stream].update(data)
                sizes[stream] += len(data)
                yield stream, data

        self.store.put_streams(self.namespace, self.task_id, records())
        streams: dict[str, dict] = {  # each stream's bytes, sha256 and lost_bytes: encode_manifest
            stream: {
                "bytes": sizes[stream],
                "sha256": digests[stream].hexdigest(),
                "lost_bytes": self.states[stream].lost_bytes,
            }
            for stream in STREAMS
        }
        manifest = logformat.encode_manifest(self.namespace, self.task_id, self.seq, streams, lost_why)
        self.store.put_manifest(self.namespace, self.task_id, manifest)
        return Shipped(
            url=self.store.where(self.namespace, self.task_id),
            sha256=hashlib.sha256(manifest).hexdigest(),
            total_bytes=sum(s["bytes"] for s in streams.values()),
            lost_bytes={s: v["lost_bytes"] for s, v in streams.items() if v["lost_bytes"]},
            complete=lost_why is None,
            tail=tail.text(),
        )

    def close(self) -> None:
        """Stop following and stop waiting for the store (the archivist is stopping)."""
        self._stop.set()
        for copy in self.copies:
            copy.close()


class _Feed:
    """LogCopy's archive for one stream: every frame goes to the shipper with its position."""

    def __init__(self, shipper: LogShipper, stream: str):
        self.shipper, self.stream = shipper, stream
        self.copy: LogCopy | None = None

    def write(self, data: bytes) -> None:
        assert self.copy is not None, "LogShipper hands the feed its copy before the copy follows"
        self.shipper.take(self.stream, self.copy, data)

    def commit(self) -> None:
        pass  # every chunk is committed as it is written

    def discard(self) -> None:
        pass  # what reached the store stays there: a later shipper resumes after it


class _Tail:
    """The last TAIL_BYTES of the output, kept as it streams by."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._size = 0

    def add(self, data: memoryview) -> None:
        piece = bytes(data[-TAIL_BYTES:])
        self._pieces.append(piece)
        self._size += len(piece)
        while self._size - len(self._pieces[0]) >= TAIL_BYTES:
            self._size -= len(self._pieces.pop(0))

    def text(self) -> str:
        return b"".join(self._pieces)[-TAIL_BYTES:].decode("utf-8", "replace")
