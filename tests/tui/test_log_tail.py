"""The log pane's tail is Textual's thread worker: cancelled by Textual when the task changes or the
pane goes, and its output, however many chunks, drawn from a few merged messages, in order.

The app runs with `live=False` over a history written directly (see conftest); the service's
`wait` is the real one, watched from the thread that calls it (`Watched`).
"""

from __future__ import annotations

import threading

import pytest
from textual.worker import WorkerState, get_current_worker

from tapit.service.log_arrival import ARRIVAL, Arrival
from tapit.service.logs import LOG_TYPES
from tapit.tui.app import TapitApp
from tapit.tui.log_pane import DRAIN_BYTES, LogPane
from tapit.tui.log_view import LogView

from .conftest import fixed_clock, history_service, record, wait_for

SIZE = (120, 35)
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Watched:
    """The service's wait, run as it is, noting the worker it runs in; `hold` makes it wait first
    until the tail is cancelled (as a followed task's wait does) or `release` is set."""

    def __init__(self, service, hold: set[str]):
        self.real, self.hold = service.wait, hold
        self.workers: dict[str, object] = {}
        self.threads: list[str] = []
        self.waits: list[float] = []  # each call's blocking_wait_s
        self.entered = threading.Event()
        self.release = threading.Event()
        self.returned: dict[str, threading.Event] = {}
        service.wait = self

    def __call__(self, task_id, sink, cancel=None, **kwargs):
        self.threads.append(threading.current_thread().name)
        self.waits.append(kwargs.get("blocking_wait_s", 10.0))
        self.workers[task_id] = get_current_worker()  # NoActiveWorker in a thread of its own
        self.returned[task_id] = threading.Event()
        self.entered.set()
        try:
            if task_id in self.hold:
                while not (cancel.is_set() or self.release.is_set()):
                    cancel.wait(0.05)
                if cancel.is_set():
                    return None
            return self.real(task_id, sink, cancel=cancel, **kwargs)
        finally:
            self.returned[task_id].set()


def finished(task_id: str, minute: int):
    return record(
        task_id, "complete", f"echo {task_id}", f"2026-01-01T11:{minute:02d}:00.000Z", exit_code=0, logs_archived=True
    )


async def test_the_tail_is_a_textual_worker_cancelled_with_the_task_and_the_pane(tmp_path):
    ids = ("aaaa0001", "bbbb0002", "cccc0003")
    service = history_service(tmp_path, [finished(task_id, n) for n, task_id in enumerate(ids, 1)])
    watched = Watched(service, hold=set(ids))
    app = TapitApp(service, clock=fixed_clock, live=False)

    async def tail_of(task_id: str):
        app.table.select_task(task_id)
        app.action_show_tab("logs")
        await wait_for(pilot, lambda: task_id in watched.workers)
        return watched.workers[task_id]

    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        first = await tail_of("aaaa0001")
        assert first.group == "log-tail" and first.node is pane and first.name == "logs-aaaa0001"
        second = await tail_of("bbbb0002")
        # Textual cancelled the first (exclusive group); its cancelled_event ended the service's wait.
        await wait_for(pilot, lambda: watched.returned["aaaa0001"].is_set())
        assert first.state == WorkerState.CANCELLED and not pane.ended
        app.table.needle = "no such task"  # the list empties: no task to show, the tail goes
        await wait_for(pilot, lambda: watched.returned["bbbb0002"].is_set())
        assert second.is_cancelled and pane.record is None
        app.table.needle = ""
        third = await tail_of("cccc0003")
    # The app is gone, and with the pane its tail, still waiting: Textual cancelled it too.
    assert third.is_cancelled and watched.returned["cccc0003"].wait(10)
    assert not [name for name in watched.threads if name.startswith("logs-")]
    assert not [t.name for t in threading.enumerate() if t.name.startswith("logs-")]
    # A thread worker is joined as the app exits: its blocking queries are short, not the CLI's 10 s.
    assert watched.waits == [1.0, 1.0, 1.0]


async def test_a_flood_of_chunks_is_drawn_from_one_message_in_order_byte_exact(tmp_path):
    # Interleaved streams in arrival order: 600 small chunks, as a fast writer's followed output.
    lines = [(i % 2, b"%s line %d\n" % (b"err" if i % 2 else b"out", i)) for i in range(600)]
    assert sum(len(data) for _, data in lines) < DRAIN_BYTES  # one drain, if one message
    service = history_service(tmp_path, [finished("cccc0003", 3)])
    history = service.history
    arrival = Arrival(history.archive_writer("cccc0003", ARRIVAL), LOG_TYPES)
    archives = [arrival.archive(history.archive_writer("cccc0003", name), name) for name in LOG_TYPES]
    for stream, data in lines:
        archives[stream].write(data)
    for archive in archives:
        archive.commit()
    chunks: list[int] = []
    watched = Watched(service, hold={"cccc0003"})
    app = TapitApp(service, clock=fixed_clock, live=False)
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(LogView)
        real_feed = view.feed

        def feed(batch, ended=False):
            if batch:
                chunks.append(len(batch))
            real_feed(batch, ended=ended)

        view.feed = feed
        app.table.select_task("cccc0003")
        app.action_show_tab("logs")
        await wait_for(pilot, lambda: watched.entered.is_set())
        # The event loop held while the tail's thread posts every chunk: they all wait in the pane's queue.
        watched.release.set()
        watched.returned["cccc0003"].wait(10)
        pane = app.query_one(LogPane)
        await wait_for(pilot, lambda: pane.ended)
    # 600 chunks posted, one message handled: one batch drawn, of all of them.
    assert chunks == [len(lines)]
    assert view.buffer.lines == [data.decode().rstrip("\n") for _, data in lines]
