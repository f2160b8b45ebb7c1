"""The audit trail: every task tapit starts, in TinyDB, safe across processes.

Every read-modify-write happens under a file lock, and each write replaces the
file atomically, so concurrent tapit processes never lose or corrupt a record
and a reader never sees half a file. Archived logs live beside it.

Reading never needs to write: a history tapit cannot write (a read-only or
immutable file or directory) still lists and shows; a write to it fails with
one line naming the file.

Beside the history, every write leaves its newest records (and every unfinished one) in a small
file stamped with the history's version: `list` reads that, not all of a history of 100,000.
The history file itself holds only those (and a few hundred more): older finished records move
out to closed segments (history_segments), so that no write rewrites all of a long history.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from tapit.errors import TapitError, TaskNotFound
from tapit.model import TERMINAL, TaskRecord
from tapit.paths import temporaries, write_private
from tapit.service.history_segments import (
    RECENT_KEPT,
    HistoryUnwritable,
    SegmentWriter,
    Segments,
    holds,
    id_list,
    manifest,
    read_json,
)

LOCK_TIMEOUT_S = 30
PARTIAL_SUFFIX = ".partial"  # a log being archived, named .<log type>.<pid>.<random>.partial
READ_CHUNK = 1024 * 1024


class AtomicJSONStorage:
    """TinyDB's storage (the interface of tinydb.storages.Storage): it writes a temporary file and
    renames it over the old one. TinyDB itself is imported only to write."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.written: dict | None = None  # what it last wrote

    def read(self):
        return read_json(self.path)

    def write(self, data) -> None:
        try:
            write_private(self.path, json.dumps(data, separators=(",", ":")).encode(), durable=True)
        except OSError as exc:
            raise HistoryUnwritable(self.path, exc) from None
        self.written = data

    def close(self) -> None:
        pass


def recent_path(history_path: Path) -> Path:
    return history_path.with_name("history.recent.json")


def file_version(path: Path) -> tuple[int, int, int]:
    """The file's identity: every write replaces the history (a new inode), whoever makes it."""
    stat = os.stat(path)
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def write_recent(path: Path, version: tuple[int, int, int], documents: dict, stamps: dict[str, str]) -> None:
    """The newest RECENT_KEPT of the live records and every unfinished one, in insertion order,
    stamped with the version of the history they were taken from and the segments it named. Not
    durable: a crash leaves it stale or gone, and a stale one is never used."""
    newest = sorted(documents, key=lambda key: documents[key].get("created_at") or "", reverse=True)
    kept = set(newest[:RECENT_KEPT])
    kept.update(key for key, doc in documents.items() if doc.get("status") not in TERMINAL)
    recent = {key: doc for key, doc in documents.items() if key in kept}
    # Every live task's id too, and the segments' in their index: whether the history holds a
    # task is then answered without reading it.
    ids = [doc.get("id") for doc in documents.values()]
    body = {"version": list(version), "tasks": recent, "ids": ids, "segments": stamps}
    write_private(path, json.dumps(body, separators=(",", ":")).encode())


class ArchiveWriter:
    """One log being archived as it arrives: appended to a partial file of this process, put in
    place whole by commit(), removed by discard(). Never more than a buffer of it in memory."""

    def __init__(self, directory: Path, log_type: str):
        self.path = directory / log_type
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, self._partial = tempfile.mkstemp(
                dir=directory, prefix=f".{log_type}.{os.getpid()}.", suffix=PARTIAL_SUFFIX
            )
        except OSError as exc:
            raise HistoryUnwritable(self.path, exc) from None
        self._file = os.fdopen(fd, "wb", buffering=READ_CHUNK)
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise HistoryUnwritable(self.path, exc) from None
        self.size += len(data)

    def commit(self) -> None:
        """The archive replaces any earlier one whole: two processes (or the TUI's threads) may
        archive the same task at once."""
        try:
            self._file.close()
            os.replace(self._partial, self.path)
        except OSError as exc:
            self.discard()
            raise HistoryUnwritable(self.path, exc) from None

    def discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # what it could not flush is being thrown away anyway
        Path(self._partial).unlink(missing_ok=True)


def _sweep_partials(directory: Path) -> None:
    """Remove the partial archives of processes that are gone (a CLI killed while following)."""
    try:
        names = [n for n in os.listdir(directory) if n.endswith(PARTIAL_SUFFIX)]
    except OSError:
        return
    for name in names:
        try:
            pid = int(name.split(".")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            (directory / name).unlink(missing_ok=True)
        except (ValueError, IndexError, OSError):
            pass  # not one of ours, or a live process of another user: leave it


class History:
    def __init__(self, directory: Path, on_notice: Callable[[str], None] = lambda message: None):
        self.directory = directory
        self.on_notice = on_notice  # what the user is told while a write takes long
        self.path = directory / "history.json"
        self.logs_dir = directory / "logs"
        self._lock_path = directory / "history.lock"
        self._segments = Segments(self.path)
        # (file version, live documents, segment stamps, every document or None until read)
        self._cache: tuple[tuple[int, int, int], dict, dict[str, str], list | None] | None = None
        self._pending: dict[str, dict] | None = None  # {task id: changes} while batched
        self._index: tuple[dict, dict] | None = None  # (the live documents, them by task id)

    @contextmanager
    def _writing(self) -> Iterator[tuple[Any, SegmentWriter]]:
        """The live tasks table and the segments' writer, under the lock: what the body changes
        in the live file is written once, when it ends (moving the oldest finished records out
        first, when there are enough of them), and the recent file after it."""
        from tinydb import TinyDB
        from tinydb.middlewares import CachingMiddleware

        with self._locked():
            storage = CachingMiddleware(AtomicJSONStorage)
            db = TinyDB(str(self.path), storage=storage)
            live, segments = db.table("tasks"), SegmentWriter(self._segments, db.table("segments"), AtomicJSONStorage)
            try:
                yield live, segments
                segments.move_out(live, self.on_notice)
            finally:
                try:
                    db.close()
                finally:
                    # A write and a read within one tick of the file system's clock could otherwise
                    # see the old version, should the new file get the old one's inode and size.
                    self._cache = None
                    inner = storage.storage
                    if isinstance(inner, AtomicJSONStorage) and (data := inner.written) is not None:
                        try:
                            version = file_version(self.path)
                            write_recent(recent_path(self.path), version, data.get("tasks") or {}, manifest(data))
                        except OSError:
                            pass  # a reader finds it stale, or missing, and reads the whole history instead

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Imported here: filelock is slow to import and read-only commands never need it.
        from filelock import FileLock, Timeout

        lock = FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except Timeout:
            raise TapitError(
                f"the history at {self.path} stayed locked for {LOCK_TIMEOUT_S} s ({self._lock_path}); "
                "another tapit is writing it"
            ) from None
        except OSError as exc:
            raise HistoryUnwritable(self.path, exc) from None
        try:
            # Every writer holds the lock, so any temporary copy left now is a killed writer's.
            for stale in temporaries(self.path) + temporaries(recent_path(self.path)):
                try:
                    stale.unlink()
                except OSError:
                    pass  # the write that follows says why the directory refuses changes
            try:
                self._segments.sweep()
            except OSError:
                pass
            yield
        finally:
            lock.release()

    def add(self, *records: TaskRecord) -> None:
        with self._writing() as (live, _):
            live.insert_multiple(record.to_dict() for record in records)

    def _live(self) -> tuple[tuple[int, int, int], dict, dict[str, str], list | None] | None:
        """The live file's records as TinyDB keeps them ({doc id: record}, in insertion order) and
        the segments it names, parsed once per version of the file. The TUI reads a record each
        time the selection moves: over 10,000 tasks that was a 4 MB parse each time."""
        try:
            version = file_version(self.path)
        except FileNotFoundError:
            return None
        cached = self._cache
        if cached is None or cached[0] != version:
            data = read_json(self.path) or {}
            cached = self._cache = (version, data.get("tasks") or {}, manifest(data), None)
        return cached

    def _documents(self) -> list:
        """Every record: the segments' (oldest first), then the live file's. The live file is read
        first: a record moving out is in a segment before the live file stops holding it."""
        cached = self._live()
        if cached is None:
            return []
        if cached[3] is None:
            version, live, stamps, _ = cached
            documents = [doc for name in sorted(stamps) for doc in self._segments.documents(name)]
            seen = {doc.get("id") for doc in live.values()}
            documents = [doc for doc in documents if doc.get("id") not in seen] + list(live.values())
            cached = self._cache = (version, live, stamps, documents)
        return cached[3] or []

    def recent(self) -> tuple[list[TaskRecord], set[str]]:
        """At least the newest RECENT_KEPT records and every unfinished one, in insertion order,
        and the ids of every record the history holds, without reading the whole history when its
        recent file is of the same version (and the segments' index of the segments it names).
        Without them (a history written before there were any), the whole history, and a recent
        file is left for the next reader if the directory takes it."""
        try:
            version = file_version(self.path)
        except FileNotFoundError:
            return [], set()
        try:
            recent = json.loads(recent_path(self.path).read_bytes())
        except (OSError, ValueError):
            recent = None
        if isinstance(recent, dict) and recent.get("version") == list(version):
            stamps = recent.get("segments") or {}
            index = self._segments.index(stamps) if stamps else {}
            if index is not None:
                ids = set(recent.get("ids", ()))
                for segment_ids in index.values():
                    ids.update(id_list(segment_ids))
                return [self._record(doc) for doc in recent.get("tasks", {}).values()], ids
        cached = self._live()
        if cached is None:
            return [], set()
        documents = self._documents()
        try:
            write_recent(recent_path(self.path), cached[0], cached[1], cached[2])
        except OSError:
            pass  # a history that cannot be written still lists, from the whole of it
        records = [self._record(doc) for doc in documents]
        return records, {r.id for r in records}

    def _record(self, doc: dict) -> TaskRecord:
        # Its own copy of the one mutable field: the parsed documents are shared by every read.
        pending = self._pending.get(doc["id"], {}) if self._pending else {}
        return TaskRecord.from_dict({**doc, "logs_lost_bytes": dict(doc.get("logs_lost_bytes") or {}), **pending})

    def add_missing(self, *records: TaskRecord) -> None:
        """Add those of the records it lacks: another tapit may have cached the same ones from the
        trail since this one looked."""
        with self._writing() as (live, segments):
            have = {doc["id"] for doc in live.all()}
            held = segments.holding(r.id for r in records if r.id not in have)
            have.update(task_id for hit in held.values() for task_id in hit)
            live.insert_multiple(record.to_dict() for record in records if record.id not in have)

    def _live_by_id(self, live: dict) -> dict:
        """The live file's records by task id, made once per version of it: a list that brings
        1,000 ended tasks up to date reads each of them (record_keeper.py)."""
        index = self._index
        if index is None or index[0] is not live:
            # The first of duplicates, as a scan finds it.
            index = self._index = (live, {doc.get("id"): doc for doc in reversed(list(live.values()))})
        return index[1]

    def ids(self) -> set[str]:
        return {doc.get("id") for doc in self._documents()}

    def get(self, task_id: str) -> TaskRecord:
        """From the live file, else from the one segment the index names, else from all of them."""
        cached = self._live()
        if cached is None:
            raise TaskNotFound(task_id)
        found = self._live_by_id(cached[1]).get(task_id)
        if found is None and cached[2]:
            index = self._segments.index(cached[2])
            if index is None:
                candidates = self._documents()
            else:
                names = [name for name, ids in index.items() if holds(ids, task_id)]
                candidates = [doc for name in names for doc in self._segments.documents(name)]
            found = next((doc for doc in candidates if doc.get("id") == task_id), None)
        if found is None:
            raise TaskNotFound(task_id)
        return self._record(found)

    def all(self) -> list[TaskRecord]:
        return [self._record(doc) for doc in self._documents()]

    def update(self, task_id: str, changes: dict) -> None:
        """Write only the fields that changed, so concurrent writers of other fields lose nothing.
        Batched, kept until the batch ends (what this History reads shows them meanwhile)."""
        if not changes:
            return
        if self._pending is not None:
            self._pending.setdefault(task_id, {}).update(changes)
            return
        self._write({task_id: changes})

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Updates inside are written together when it ends, in one write under the lock: a list
        that refreshes 1,000 ended tasks rewrote the whole file 1,000 times. What the body learnt
        is written even when it fails; a write that fails then does not hide why it failed."""
        if self._pending is not None:
            yield  # the outer batch writes
            return
        self._pending = {}
        try:
            yield
        except BaseException:
            try:
                self._write_pending()
            except HistoryUnwritable:
                pass
            raise
        self._write_pending()

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending:
            self._write(pending)

    def _write(self, pending: dict[str, dict]) -> None:
        """{task id: changes}: to the live records in one write, and to a segment's in one each."""

        def changed(doc) -> None:
            doc.update(pending[doc["id"]])

        def held(doc) -> bool:
            return doc.get("id") in pending

        with self._writing() as (live, segments):
            in_live = {doc["id"] for doc in live.all()}
            live.update(changed, held)
            for name in segments.holding(set(pending) - in_live):
                segments.change(name, lambda table: table.update(changed, held))

    def log_path(self, task_id: str, log_type: str) -> Path:
        return self.logs_dir / task_id / log_type

    def archive_writer(self, task_id: str, log_type: str) -> ArchiveWriter:
        directory = self.logs_dir / task_id
        _sweep_partials(directory)
        return ArchiveWriter(directory, log_type)

    def archive_logs(self, task_id: str, logs: dict[str, bytes]) -> None:
        for log_type, data in logs.items():
            writer = self.archive_writer(task_id, log_type)
            writer.write(data)
            writer.commit()

    def archived_chunks(self, task_id: str, log_type: str) -> Iterator[bytes]:
        """The archived log in pieces (it may be larger than memory); nothing if there is none."""
        _sweep_partials(self.logs_dir / task_id)
        try:
            handle = open(self.log_path(task_id, log_type), "rb")
        except FileNotFoundError:
            return
        with handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk

    def remove(self, task_id: str) -> None:
        """The task's record and everything archived of it: its logs, a console's transcript,
        partial copies. Under the lock, so that a history that refuses writes loses nothing; the
        archive goes first, so that no output outlives its record."""
        from tinydb import Query

        directory = self.logs_dir / task_id
        with self._writing() as (live, segments):
            try:
                shutil.rmtree(directory)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise HistoryUnwritable(self.path, exc) from None
            if not live.remove(Query().id == task_id):
                for name in segments.holding({task_id}):
                    segments.change(name, lambda table: table.remove(Query().id == task_id))
