"""`tapit archivist`: keep the cluster's trail (records, logs, usage, deadlines) until stopped."""

from __future__ import annotations

import signal
import sys

from tapit.commands import task_service
from tapit.commands.usage import form
from tapit.errors import UsageError


def archivist_command(words: list[str]) -> int:
    if words:
        raise UsageError(f"unexpected argument {words[0]!r}; use {form('archivist')}")
    from tapit.service.archivist import Archivist
    from tapit.service.logs import log_store_url
    from tapit.trail.logstore import LogStore

    service = task_service()
    url = log_store_url(service)
    store = LogStore(url)
    store.probe()  # a store that refuses or is down: one line, exit 3, before anything is shipped
    archivist = Archivist(service, store, say=_say)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: archivist.stop.set())
    _say(f"keeping the trail of {service.connection.settings.address}; logs to {store.url}")
    try:
        archivist.run()
    finally:
        service.close()
    return 0


def _say(line: str) -> None:
    print(f"tapit archivist: {line}", file=sys.stderr, flush=True)
