"""Both logs of one task, from its first byte, following while it runs, in a thread (no Textual).

The following itself is the service's (`TaskService.wait`, as `--wait` and
`--follow` use it); this only runs it off the event loop and cancels it when
the user looks at another task.
"""

from __future__ import annotations

import threading
from typing import Callable

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.service import TaskService

Sink = Callable[[str, bytes], None]


class LogTail:
    def __init__(self, service: TaskService, record: TaskRecord, sink: Sink, on_end: Callable[[str | None], None]):
        self.service, self.record, self._sink, self._on_end = service, record, sink, on_end
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"logs-{record.id}")

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def _deliver(self, log_type: str, data: bytes) -> None:
        if not self._cancelled.is_set():
            self._sink(log_type, data)

    def _run(self) -> None:
        error = None
        try:
            self.service.wait(self.record.id, self._deliver, cancel=self._cancelled)
        except TapitError as exc:
            error = str(exc)
        except RuntimeError:
            if self._cancelled.is_set():
                return  # the app closed its event loop while this thread was delivering
            raise
        if not self._cancelled.is_set():
            self._on_end(error)
