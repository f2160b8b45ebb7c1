"""The history's closed segments: finished records moved out of the live file, each written once.

The live file (history.json) keeps the newest RECENT_KEPT records and every unfinished one, so
that creating, refreshing or deleting a task rewrites a file of about a thousand records however
long the history grows. Older finished records move out, SEGMENT_RECORDS at a time, into a
segment: a TinyDB file of its own under history.segments/, written once and rewritten only when
one of its records is deleted or changed. The live file's `segments` table names each with a
stamp that changes whenever it is rewritten. Every segment is written before the live file that
names it, and a reader takes the live file first and then the segments it names, so a record
that moves out is seen in the one place or the other, never in neither.

Which segment holds which task is kept beside them (history.index.json), a cache valid while it
carries the stamps the live file names, rebuilt from the segments when it does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from tapit.errors import TapitError
from tapit.model import TERMINAL
from tapit.paths import private_dir, temporaries, write_private

SEGMENTS_DIR = "history.segments"
INDEX_NAME = "history.index.json"
SEGMENT_RECORDS = 1000  # records in a segment the first write of an old history makes
RECENT_KEPT = 1000  # records in the recent file: enough for a list of 200 in any one namespace
MOVE_AT = 500  # finished records beyond the newest kept that the live file gathers before they move
# A move this large is an old history's first write (one written before the segments): it takes
# seconds (about 75 ms a thousand records), so the user is told rather than left waiting.
ANNOUNCED_MOVE = 5 * SEGMENT_RECORDS


class HistoryUnwritable(TapitError):
    """The history (or an archived log) cannot be written: one line naming the file."""

    def __init__(self, path: Path, exc: OSError):
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
        super().__init__(f"cannot write the history at {path}: {exc.strerror or exc}{where}")
        self.path = path


def read_json(path: Path):
    """A TinyDB file's data, as its storage reads it; None if there is none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text) if text else None
    except ValueError as exc:
        raise TapitError(f"the history at {path} is damaged ({exc}); move it aside to start afresh") from None


def manifest(data: dict | None) -> dict[str, str]:
    """{segment name: stamp} from the live file's data."""
    return {doc["name"]: doc["stamp"] for doc in ((data or {}).get("segments") or {}).values()}


def movable(documents: dict, kept: int) -> list:
    """The doc ids of the live records that move out: finished, and older than the newest `kept`,
    in the order they were inserted; none until there are MOVE_AT of them."""
    newest = sorted(documents, key=lambda key: documents[key].get("created_at") or "", reverse=True)
    staying = set(newest[:kept])
    moving = [key for key, doc in documents.items() if key not in staying and doc.get("status") in TERMINAL]
    return moving if len(moving) >= MOVE_AT else []


@contextmanager
def refused(path: Path) -> Iterator[None]:
    """An OSError changing `path` as the history's one line naming the file."""
    try:
        yield
    except OSError as exc:
        raise HistoryUnwritable(path, exc) from None


Ids = str | list[str]  # a segment's task ids: one string, space-separated, unless one has a space


def _joined(ids: list[str]) -> Ids:
    text = " ".join(ids)
    return text if text.count(" ") == len(ids) - 1 else ids


def id_list(ids: Ids) -> list[str]:
    return (ids.split(" ") if ids else []) if isinstance(ids, str) else ids


def holds(ids: Ids, task_id: str) -> bool:
    """Whether the segment's ids hold the task's, without splitting them."""
    if isinstance(ids, list):
        return task_id in ids
    return " " not in task_id and f" {task_id} " in f" {ids} "


class Segments:
    """The closed segments of the history at `history_path` and the index of their tasks."""

    def __init__(self, history_path: Path):
        self.directory = history_path.with_name(SEGMENTS_DIR)
        self.index_path = history_path.with_name(INDEX_NAME)

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def documents(self, name: str) -> list[dict]:
        """The segment's records in order; none if it is gone (emptied since its name was read)."""
        data = read_json(self.path(name)) or {}
        return list((data.get("tasks") or {}).values())

    def index(self, stamps: dict[str, str]) -> dict[str, Ids] | None:
        """{segment name: its task ids (see holds and id_list)} if the index is of these stamps,
        else None."""
        try:
            stored = json.loads(self.index_path.read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("stamps") != stamps:
            return None
        return stored["ids"]

    def write_index(self, stamps: dict[str, str], ids: dict[str, Ids]) -> None:
        """Not durable: a crash leaves it stale or gone, and a stale one is never used. A segment's
        ids are one string, parsed many times faster than a list of them (a list if one of them
        has a space: an id taken from a job's meta may have anything)."""
        joined = {name: got if isinstance(got, str) else _joined(got) for name, got in ids.items()}
        try:
            body = json.dumps({"stamps": stamps, "ids": joined}, separators=(",", ":")).encode()
            write_private(self.index_path, body)
        except OSError:
            pass  # readers then find the segment of a task by reading them

    def sweep(self) -> None:
        """Under the lock: the temporary copies a killed writer left (one listing, not one per
        segment: a history of 100,000 has a hundred of them)."""
        for stale in temporaries(self.index_path):
            stale.unlink(missing_ok=True)
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                (self.directory / name).unlink(missing_ok=True)


class SegmentWriter:
    """The segments' side of one locked write of the history: `live` is its TinyDB tasks table
    and `table` its segments table, both written when the write ends."""

    def __init__(self, segments: Segments, table, storage_cls):
        self.segments, self.table, self.storage_cls = segments, table, storage_cls
        self._ids: dict[str, Ids] | None = None

    def stamps(self) -> dict[str, str]:
        return {doc["name"]: doc["stamp"] for doc in self.table.all()}

    def ids(self) -> dict[str, Ids]:
        """{segment name: its task ids}, from the index, or read from the segments and kept."""
        if self._ids is None:
            stamps = self.stamps()
            self._ids = self.segments.index(stamps)
            if self._ids is None:
                self._ids = {name: [doc["id"] for doc in self.segments.documents(name)] for name in stamps}
                self.segments.write_index(stamps, self._ids)
        return self._ids

    def holding(self, task_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = set(task_ids)
        if not wanted:
            return {}
        if len(wanted) > 8:  # many (a trail's records to cache): each segment's ids split once
            found = {name: wanted.intersection(id_list(ids)) for name, ids in self.ids().items()}
        else:
            found = {name: {i for i in wanted if holds(ids, i)} for name, ids in self.ids().items()}
        return {name: hit for name, hit in found.items() if hit}

    def change(self, name: str, edit: Callable) -> None:
        """Rewrite one segment: `edit(its TinyDB table)`; stamped anew, dropped if left empty."""
        from tinydb import Query, TinyDB
        from tinydb.middlewares import CachingMiddleware

        db = TinyDB(str(self.segments.path(name)), storage=CachingMiddleware(self.storage_cls))
        try:
            table = db.table("tasks")
            edit(table)
            left = [doc["id"] for doc in table.all()]
        finally:
            db.close()
        ids = self.ids()
        if left:
            self._restamp(name, left)
        else:
            self.table.remove(Query().name == name)
            ids.pop(name, None)
            self.segments.write_index(self.stamps(), ids)
            with refused(self.segments.path(name)):
                self.segments.path(name).unlink(missing_ok=True)

    def move_out(self, live, on_notice: Callable[[str], None]) -> None:
        """The live records `movable` names go to new segments, SEGMENT_RECORDS to each; a move
        of ANNOUNCED_MOVE or more is said first."""
        from tinydb import TinyDB

        documents = {doc.doc_id: doc for doc in live.all()}
        moving = movable(documents, RECENT_KEPT)
        if not moving:
            return
        if len(moving) >= ANNOUNCED_MOVE:
            on_notice(f"moving {len(moving):,} older tasks of the history into segments, once (a few seconds)")
        ids = self.ids()
        with refused(self.segments.directory):
            private_dir(self.segments.directory)
        taken = [int(name) for name in ids if name.isdigit()]
        number = max(taken, default=0)
        for start in range(0, len(moving), SEGMENT_RECORDS):
            chunk = [dict(documents[key]) for key in moving[start : start + SEGMENT_RECORDS]]
            number += 1
            name = f"{number:06d}"
            with refused(self.segments.path(name)):
                self.segments.path(name).unlink(missing_ok=True)  # one a killed writer made, never named
            db = TinyDB(str(self.segments.path(name)), storage=self.storage_cls)
            try:
                db.table("tasks").insert_multiple(chunk)
            finally:
                db.close()
            ids[name] = [doc["id"] for doc in chunk]
            self.table.insert({"name": name, "stamp": os.urandom(6).hex()})
        self.segments.write_index(self.stamps(), ids)
        live.remove(doc_ids=moving)

    def _restamp(self, name: str, left: list[str]) -> None:
        from tinydb import Query

        self.table.update({"stamp": os.urandom(6).hex()}, Query().name == name)
        ids = self.ids()
        ids[name] = left
        self.segments.write_index(self.stamps(), ids)
