"""`tapit archivist`: keep the cluster's trail (records, logs, usage, deadlines) until stopped."""

from __future__ import annotations

import os
import signal
import sys
import threading

from tapit.commands import task_service
from tapit.commands.usage import form
from tapit.errors import UsageError


def archivist_command(words: list[str]) -> int:
    prefix = _job_prefix(words)
    from tapit.service.archivist import Archivist
    from tapit.service.logs import log_store_url
    from tapit.trail.logstore import LogStore

    service = task_service()
    url = log_store_url(service)
    store = LogStore(url)
    store.probe()  # a store that refuses or is down: one line, exit 3, before anything is shipped
    archivist = Archivist(service, store, say=_say, job_prefix=prefix)
    _stop_on_signals(archivist.stop)
    _say(f"keeping the trail of {service.connection.settings.address}; logs to {store.url}")
    try:
        archivist.run()
    finally:
        service.close()
    return 0


def _job_prefix(words: list[str]) -> str | None:
    """`job_prefix=<prefix>`: the jobs to keep, when not the app's own (tapit.toml's job_prefix).
    Empty keeps every tapit job, whatever app named it (a tapit job is known by its meta)."""
    prefix = None
    for word in words:
        key, equals, value = word.partition("=")
        if key != "job_prefix" or not equals:
            raise UsageError(f"unexpected argument {word!r}; use {form('archivist')}")
        prefix = value
    return prefix


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM or SIGINT sets `stop`, from a thread of its own.  A handler that set it itself
    hung the archivist for good: a second signal (the embedded agent sends SIGTERM as it stops,
    and its death sends another) ran a second handler while the first held the Event's lock.
    So the handlers do nothing; Python's wakeup fd, written by the C-level handler, wakes the
    thread that sets `stop`."""
    wakeups, wakeup_fd = os.pipe()
    os.set_blocking(wakeup_fd, False)
    signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)

    def relay() -> None:
        os.read(wakeups, 1)
        stop.set()

    threading.Thread(target=relay, daemon=True, name="archivist-signals").start()


def _say(line: str) -> None:
    print(f"tapit archivist: {line}", file=sys.stderr, flush=True)
