"""The logs tab: the selected task's log view, its status line, search box and saving.

Output arrives from the pane's tail worker (Textual's thread worker, one per task shown, in
group "log-tail": showing another task, or the pane going, cancels it). Each chunk is posted
as an `Arrived` message that merges into the next one waiting in the queue, so under a flood
the event loop ingests in large batches however fast the task writes, in order.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tapit.model import TaskRecord
from tapit.output import plural
from tapit.service import TaskService
from tapit.tui.log_tail import tail_logs
from tapit.tui.log_buffer import STREAMS, plain_text
from tapit.tui.log_view import LogView
from tapit.tui.safe_text import DataInput, plain, template

if TYPE_CHECKING:
    from tapit.tui.app import TapitApp

# About 2,000 typical lines: a few milliseconds of work between key presses.
DRAIN_BYTES = 128 * 1024
FOLLOWING = Content.from_markup("[$success]● following[/]")
PAUSED = Content.from_markup("[$warning]‖ paused: G follows[/]")


class LogPane(Vertical):
    ALLOW_MAXIMIZE = True  # `f`: the logs alone on the screen
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("ctrl+s", "save", "Save"),
        Binding("escape,q", "leave", "Back", show=False),
    ]

    class Arrived(Message):
        """Output of one tail (`tail` tells the tails apart), from its thread."""

        def __init__(self, tail: object, chunks: list[tuple[str, bytes]]) -> None:
            super().__init__()
            self.tail, self.chunks = tail, chunks

        def can_replace(self, message: Message) -> bool:
            # Textual asks this of a message about to be handled while the next one waits:
            # the next one takes this one's chunks ahead of its own, and this one is dropped.
            if not isinstance(message, LogPane.Arrived) or message.tail is not self.tail:
                return False
            self.chunks.extend(message.chunks)
            message.chunks = self.chunks
            return True

    def __init__(self, service: TaskService, **kwargs) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.record: TaskRecord | None = None
        self.tail: Worker[str | None] | None = None
        self.ended = False
        self.error: str | None = None
        self._backlog: deque[tuple[str, bytes]] = deque()  # arrived, not drawn yet
        self._drain_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="log-status")
        yield LogView(id="log-view")
        yield DataInput(placeholder="search the logs (enter: find, esc: close)", id="log-search")

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.query_one("#log-search").display = False
        self._draw_status()

    # --- which task --------------------------------------------------------------

    def show(self, record: TaskRecord | None, again: bool = False) -> None:
        """Show this task's logs; the same task again only refreshes the status line, unless `again`."""
        if not again and record is not None and self.record is not None and record.id == self.record.id:
            self.record = record
            self._draw_status()
            return
        self._backlog.clear()
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        self.record, self.ended, self.error = record, False, None
        self.view.clear()
        self.tail = None
        if record is None:
            self.workers.cancel_group(self, "log-tail")  # no task left to show (its cancelled_event ends the wait)
        else:
            # Exclusive: Textual cancels the last task's tail (its cancelled_event ends the service's wait).
            self.tail = self.run_worker(
                partial(self._follow, record),
                name=f"logs-{record.id}",
                description=f"following the logs of task {record.id}",
                group="log-tail",
                exclusive=True,
                thread=True,
            )
        self._draw_status()

    # --- from the tail's thread -------------------------------------------------

    def _follow(self, record: TaskRecord) -> str | None:
        worker = get_current_worker()
        return tail_logs(
            self.service,
            record,
            lambda log_type, data: self.post_message(self.Arrived(worker, [(log_type, data)])),
            worker.cancelled_event,
        )

    @on(Arrived)
    def _arrived(self, event: Arrived) -> None:
        if event.tail is not self.tail:
            return  # posted by a tail cancelled since
        self._backlog.extend(event.chunks)
        if self._drain_timer is None:
            self._drain()

    def _drain(self) -> None:
        """Draw what arrived, at most DRAIN_BYTES at a time so key presses queued meanwhile answer."""
        self._drain_timer = None
        chunks: list[tuple[str, bytes]] = []
        size = 0
        while self._backlog and size < DRAIN_BYTES:
            chunks.append(self._backlog.popleft())
            size += len(chunks[-1][1])
        if chunks:
            self.view.feed(chunks)
        if self._backlog:
            # A timer, not a message: a widget drains its own queue without yielding, so
            # re-posting at once would keep key presses waiting until all output is drawn.
            self._drain_timer = self.set_timer(0.001, self._drain)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # After every chunk its thread posted: the worker's result comes back to the loop after them.
        if event.worker is not self.tail or event.state != WorkerState.SUCCESS:
            return
        if self._drain_timer is not None:
            self._drain_timer.stop()
            self._drain_timer = None
        self.view.feed(list(self._backlog))
        self._backlog.clear()
        self.view.feed([], ended=True)
        self.ended, self.error = True, event.worker.result
        self._draw_status()

    # --- status ------------------------------------------------------------------

    @on(LogView.WindowChanged)
    def _window_changed(self) -> None:
        if self.view.window is None and self.view.buffer.dropped:
            self.show(self.record, again=True)  # what was let go is read again from the start

    @on(LogView.StateChanged)
    def _draw_status(self) -> None:
        view, record = self.view, self.record
        status = self.query_one("#log-status", Static)
        if record is None:
            status.update(Content.styled("no task selected", "$text-muted"))
            return
        parts = [plain(record.id, "bold"), plain(view.mode), plain(plural(view.view_length, "line"))]
        if self.error:
            parts.append(plain(self.error, "$error"))
        elif self.ended:
            parts.append(template("[$text-muted]end of output ($status)[/]", status=record.status))
        elif view.following:
            parts.append(FOLLOWING)
        else:
            parts.append(PAUSED)
        parts.append(plain("wrap" if view.wrap else "no wrap"))
        if view.window is not None:
            parts.append(plain(f"last {view.window / 1e6:g} MB", "$accent"))
            if view.buffer.dropped:
                parts.append(plain(f"{plural(view.buffer.dropped, 'earlier line')} let go (L: all)", "$text-muted"))
        if view.term:
            where = f"{view.match_index + 1}/{len(view.matches)}" if view.matches else "no match"
            parts.append(plain(f"/{view.term} {where}"))
        status.update(Content(" · ").join(parts))

    # --- search and save -----------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.view.term
        # At once, not after a refresh as focus() does: keys typed right after `/` are the term, not bindings.
        self.screen.set_focus(box)

    @on(Input.Submitted, "#log-search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        self.view.search(event.value)
        self._close_search()

    def _close_search(self) -> None:
        self.query_one("#log-search").display = False
        self.view.focus()

    def action_leave(self) -> None:
        if self.query_one("#log-search").display:
            self._close_search()
        elif self.screen.maximized is self:
            self.screen.minimize()
        else:
            cast("TapitApp", self.app).action_focus_tasks()  # the pane lives only in TapitApp

    def action_save(self) -> None:
        if self.record is None:
            return
        view = self.view
        stream = None if view.mode == "both" else STREAMS.index(view.mode)
        suffix = "" if stream is None else f"-{view.mode}"
        lines, streams = view.buffer.snapshot()
        self._save(Path.cwd() / f"tapit-{self.record.id}{suffix}.log", lines, streams, stream)

    @work(thread=True, group="save-logs")
    def _save(self, path: Path, lines: list[str], streams: bytes, stream: int | None) -> None:
        text = plain_text(lines, streams, stream)
        try:
            path.write_text(text)
        except OSError as exc:
            self.app.call_from_thread(self.app.notify, f"could not save: {exc}", severity="error")
            return
        saved = plural(text.count("\n"), "line")
        self.app.call_from_thread(self.app.notify, f"saved {saved} to {path}")
