"""Keeps the task list in step with Nomad, from threads (no Textual: the app runs them as its
thread workers, through `spawn`).

The event stream is only an invalidation signal (damon's pattern): any Job or
Allocation event for a tapit job wakes the refresher, which re-lists through
the service layer. A periodic re-list catches what events cannot (deadlines,
durations, a stream that died quietly). Both threads reconnect by themselves
and report the connection state as they go.
"""

from __future__ import annotations

import threading
from typing import Callable

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.service import TaskService

POLL_S = 5.0
# Events arrive in bursts (placement, start, finish): one re-list per burst.
COALESCE_S = 0.2
BACKOFF_S = (0.5, 1, 2, 5, 10)
FIRST_PAINT_WAIT_S = 2.0  # the longest the rest of the history waits for the first paint

StateSink = Callable[[str, str], None]  # (state, detail): "connecting" | "live" | "reconnecting" | "offline"
Spawn = Callable[[Callable[[], None], str], object]  # (loop, name): runs the loop in a thread of its own


class LiveFeed:
    def __init__(
        self,
        service: TaskService,
        on_records: Callable[[list[TaskRecord], bool], None],  # (records, only the newest)
        on_state: StateSink,
        spawn: Spawn,
        poll_s: float = POLL_S,
    ):
        self.service, self.on_records, self.on_state, self.poll_s = service, on_records, on_state, poll_s
        self.spawn = spawn
        self._stop = threading.Event()
        self.painted = threading.Event()  # set by the app once the newest records are drawn
        self._dirty = threading.Event()
        self._connected = threading.Event()
        self._events_ok = False
        self.namespace: str | None = None  # None: the connection's; "*": every namespace

    def start(self) -> None:
        self.spawn(self._refresh_loop, "tapit-refresh")

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        self.painted.set()

    def show_namespace(self, namespace: str) -> None:
        self.namespace = namespace
        self.poke()

    def poke(self) -> None:
        """Re-list now (after the user created, stopped or deleted a task)."""
        self._dirty.set()

    def _refresh_loop(self) -> None:
        # The history alone paints the list at once, its newest records first (the recent file
        # `list` reads: over 10,000 tasks a fifth of the whole); the rest, then Nomad, catch up.
        recent, ids = self.service.history.recent()
        if len(recent) < len(ids):
            self.on_records(recent, True)
            # Read the rest once those rows are on screen: read meanwhile, it took the CPU the
            # first paint needed (bench/tui_bench.py).
            self.painted.wait(FIRST_PAINT_WAIT_S)
        self.on_records(self.service.history.all(), False)  # the table keeps its own order
        failures = 0
        while not self._stop.is_set():
            try:
                if not self._connected.is_set():
                    self.on_state("connecting", "")
                    _ = self.service.connection  # starts the embedded agent when NOMAD_ADDR is unset
                    self._connected.set()
                    self.spawn(self._event_loop, "tapit-events")
                records = self.service.list(self.namespace)
                if self.service.offline is not None:
                    self.on_records(records, False)  # the local copy, while Nomad is out of reach
                    raise self.service.offline
            except Exception as exc:  # noqa: BLE001 - a bug here must not freeze the list: say it, retry
                failures += 1
                delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
                text = str(exc) if isinstance(exc, TapitError) else f"{type(exc).__name__}: {exc}"
                local = "showing the local copy; " if exc is self.service.offline else ""
                self.on_state("offline", f"{local}{text}; retrying in {delay:g}s")
                self.service.reconnect()  # an embedded agent comes back on a new port
                self._stop.wait(delay)
                continue
            failures = 0
            if self._stop.is_set():
                return
            self.on_records(records, False)
            self.on_state("live" if self._events_ok else "polling", self._where())
            self._dirty.wait(self.poll_s)
            self._dirty.clear()
            self._stop.wait(COALESCE_S)

    def _where(self) -> str:
        connection = self.service.connection
        where = connection.settings.address
        return f"embedded agent {where}" if connection.embedded else where

    def _event_loop(self) -> None:
        index, failures = 0, 0
        while not self._stop.is_set():
            try:
                self._events_ok = True
                for change in self.service.changes(index, stop=self._stop):
                    failures = 0
                    index = change.index
                    if change.job_ids:
                        self._dirty.set()
            except TapitError as exc:
                self._events_ok = False
                failures += 1
                delay = BACKOFF_S[min(failures, len(BACKOFF_S)) - 1]
                self.on_state("reconnecting", f"event stream: {exc}; retrying in {delay:g}s")
                self._dirty.set()  # the re-list doubles as the reachability probe
            if not self._stop.is_set():
                self._stop.wait(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
