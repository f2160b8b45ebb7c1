"""Both logs of one task, from its first byte, following while it runs (no Textual: the log pane
runs this as its thread worker, and Textual cancels it when the pane goes or the task changes).

The following itself is the service's (`TaskService.wait`, as `--wait` and `--follow` use it);
this only delivers what it reads until `cancel` is set: the worker's own `cancelled_event`, so
the service's blocking wait lets go as soon as Textual cancels the worker.
"""

from __future__ import annotations

import threading
from typing import Callable

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.service import TaskService

Sink = Callable[[str, bytes], object]
# A thread worker is joined when the app exits (asyncio.run waits for its default executor), so a
# cancelled tail must let go of its blocking query soon: quitting while following a task waited up
# to the CLI's 10 s. One query a second on the task shown is nothing to Nomad.
BLOCKING_WAIT_S = 1.0


def tail_logs(service: TaskService, record: TaskRecord, sink: Sink, cancel: threading.Event) -> str | None:
    """Deliver the task's output to `sink` until it ends or `cancel` is set; the error that ended it.

    A TapitError (Nomad out of reach, the task gone) is the pane's to show; any other error is a
    bug, and goes up to the worker's one handler (the app's `_handle_exception`)."""

    def deliver(log_type: str, data: bytes) -> None:
        if not cancel.is_set():
            sink(log_type, data)

    try:
        service.wait(record.id, deliver, cancel=cancel, blocking_wait_s=BLOCKING_WAIT_S)
    except TapitError as exc:
        return str(exc)
    except RuntimeError:
        if cancel.is_set():
            return None  # the app closed its event loop while this thread was delivering
        raise
    return None
