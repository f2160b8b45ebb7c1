"""Both logs of one task, from its first byte, following while it runs (threads, no Textual).

A finished task's logs come from the archive in the history; a live task's
from Nomad's follow streams. Each stream resumes from the byte offset it has
reached whenever Nomad closes it early (reference: nomad#28062), and once the
allocation is terminal a last plain read collects what the stream had not
sent yet, so nothing is lost and nothing is shown twice.
"""

from __future__ import annotations

import threading
from typing import Callable

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.nomad.client import NomadError, NomadNotFound
from tapit.nomad.jobspec import TASK_NAME
from tapit.service import LOG_TYPES, TaskService

Sink = Callable[[str, bytes], None]
RETRY_S = 0.5
WAIT_S = 10.0


class LogTail:
    def __init__(self, service: TaskService, record: TaskRecord, sink: Sink,
                 on_end: Callable[[str | None], None]):
        self.service, self.record, self._sink, self._on_end = service, record, sink, on_end
        self.received = dict.fromkeys(LOG_TYPES, 0)
        self._cancelled = threading.Event()
        # Set when the task ended or the user looked elsewhere: follow streams close.
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"logs-{record.id}")

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()
        self._halt.set()

    def _deliver(self, log_type: str, data: bytes) -> None:
        if not self._cancelled.is_set():
            self.received[log_type] += len(data)
            self._sink(log_type, data)

    def _run(self) -> None:
        error = None
        try:
            self._tail()
        except (TapitError, NomadError) as exc:
            error = str(exc)
        if not self._cancelled.is_set():
            self._on_end(error)

    def _tail(self) -> None:
        record = self.record
        if record.terminal and record.logs_archived:
            return self._replay_archive()
        alloc_id = record.nomad_alloc_id or self._wait_for_alloc()
        if alloc_id is None:
            return None
        followers = [threading.Thread(target=self._follow, args=(alloc_id, t), daemon=True) for t in LOG_TYPES]
        for follower in followers:
            follower.start()
        self._wait_until_ended(alloc_id)
        self._halt.set()
        for follower in followers:
            follower.join()
        if not self._cancelled.is_set():
            for log_type in LOG_TYPES:
                self._read_rest(alloc_id, log_type)
        return None

    def _replay_archive(self) -> None:
        for log_type in LOG_TYPES:
            data = self.service.history.archived_logs(self.record.id, log_type)
            if data:
                self._deliver(log_type, data)

    def _wait_for_alloc(self) -> str | None:
        index = 0
        while not self._halt.is_set():
            allocs, index = self.service.nomad.wait_job_allocations(self.record.nomad_job_id, index, WAIT_S)
            if allocs:
                return max(allocs, key=lambda a: a.get("CreateIndex", 0))["ID"]
            if self.service.show(self.record.id).terminal:  # never placed
                return None
        return None

    def _wait_until_ended(self, alloc_id: str) -> None:
        index = 0
        while not self._halt.is_set():
            alloc, index = self.service.nomad.wait_allocation(alloc_id, index, WAIT_S)
            if alloc.get("ClientStatus") not in ("pending", "running"):
                return

    def _follow(self, alloc_id: str, log_type: str) -> None:
        while not self._halt.is_set():
            try:
                for data in self.service.nomad.stream_logs(alloc_id, TASK_NAME, log_type, follow=True,
                                                           offset=self.received[log_type], stop=self._halt):
                    self._deliver(log_type, data)
            except NomadError:
                pass  # not started yet, or the stream broke: resume from the offset reached
            self._halt.wait(RETRY_S)

    def _read_rest(self, alloc_id: str, log_type: str) -> None:
        try:
            for data in self.service.nomad.stream_logs(alloc_id, TASK_NAME, log_type, follow=False,
                                                       offset=self.received[log_type]):
                self._deliver(log_type, data)
        except NomadNotFound:
            pass  # the task wrote nothing to this log
