"""The audit trail: every task tapit starts, in TinyDB, safe across processes.

Every read-modify-write happens under a file lock, and each write replaces the
file atomically, so concurrent tapit processes never lose or corrupt a record
and a reader never sees half a file. Archived logs live beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tinydb import Query, TinyDB
from tinydb.storages import Storage

from tapit.errors import TapitError, TaskNotFound
from tapit.model import TaskRecord

LOCK_TIMEOUT_S = 30


class AtomicJSONStorage(Storage):
    """TinyDB storage that writes a temporary file and renames it over the old one."""

    def __init__(self, path: str):
        self.path = Path(path)

    def read(self):
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise TapitError(f"the history at {self.path} is damaged ({exc}); move it aside to start afresh") from None

    def write(self, data) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".history-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        pass


class History:
    def __init__(self, directory: Path):
        self.directory = directory
        self.path = directory / "history.json"
        self.logs_dir = directory / "logs"
        self._lock_path = directory / "history.lock"

    @contextmanager
    def _table(self, write: bool) -> Iterator:
        db = TinyDB(str(self.path), storage=AtomicJSONStorage)
        try:
            if write:
                # Imported here: filelock is slow to import and read-only commands never need it.
                from filelock import FileLock

                with FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S):
                    yield db.table("tasks")
            else:
                yield db.table("tasks")
        finally:
            db.close()

    def add(self, *records: TaskRecord) -> None:
        with self._table(write=True) as table:
            table.insert_multiple(record.to_dict() for record in records)

    def get(self, task_id: str) -> TaskRecord:
        with self._table(write=False) as table:
            found = table.get(Query().id == task_id)
        if found is None:
            raise TaskNotFound(task_id)
        return TaskRecord.from_dict(dict(found))

    def all(self) -> list[TaskRecord]:
        with self._table(write=False) as table:
            return [TaskRecord.from_dict(dict(doc)) for doc in table.all()]

    def update(self, task_id: str, changes: dict) -> None:
        """Write only the fields that changed, so concurrent writers of other fields lose nothing."""
        if changes:
            with self._table(write=True) as table:
                table.update(changes, Query().id == task_id)

    def remove(self, task_id: str) -> None:
        with self._table(write=True) as table:
            table.remove(Query().id == task_id)

    def log_path(self, task_id: str, log_type: str) -> Path:
        return self.logs_dir / task_id / log_type

    def archive_logs(self, task_id: str, logs: dict[str, bytes]) -> None:
        directory = self.logs_dir / task_id
        directory.mkdir(parents=True, exist_ok=True)
        for log_type, data in logs.items():
            # A temporary file of its own: two processes (or the TUI's threads) may archive the
            # same task at once, and each must replace the file whole.
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{log_type}-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, directory / log_type)

    def archived_logs(self, task_id: str, log_type: str) -> bytes | None:
        try:
            return self.log_path(task_id, log_type).read_bytes()
        except FileNotFoundError:
            return None

    def remove_logs(self, task_id: str) -> None:
        directory = self.logs_dir / task_id
        for child in directory.glob("*"):
            child.unlink()
        if directory.exists():
            directory.rmdir()
