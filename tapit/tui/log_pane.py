"""The logs tab: the selected task's log view, its status line, search box and saving.

Output arrives from LogTail threads; they only append to a list under a lock
and post one message per batch, so the event loop ingests in large batches
however fast the task writes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Static

from tapit.model import TaskRecord
from tapit.output import plural
from tapit.service import TaskService
from tapit.tui.log_tail import LogTail
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
        """Output is waiting to be drawn."""

    class Ended(Message):
        def __init__(self, task_id: str, error: str | None) -> None:
            super().__init__()
            self.task_id, self.error = task_id, error

    def __init__(self, service: TaskService, **kwargs) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.record: TaskRecord | None = None
        self.tail: LogTail | None = None
        self.ended = False
        self.error: str | None = None
        self._pending: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._posted = False

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
        if self.tail is not None:
            self.tail.cancel()
            self.tail = None
        with self._lock:
            self._pending.clear()
        self.record, self.ended, self.error = record, False, None
        self.view.clear()
        if record is not None:
            self.tail = LogTail(self.service, record, self._sink, self._end)
            self.tail.start()
        self._draw_status()

    def stop(self) -> None:
        if self.tail is not None:
            self.tail.cancel()

    # --- from the tail's threads -----------------------------------------------

    def _sink(self, log_type: str, data: bytes) -> None:
        with self._lock:
            self._pending.append((log_type, data))
            if self._posted:
                return
            self._posted = True
        self.post_message(self.Arrived())

    def _end(self, error: str | None) -> None:
        task_id = self.record.id if self.record else ""
        self.post_message(self.Ended(task_id, error))

    @on(Arrived)
    def _drain(self) -> None:
        """Draw what arrived, at most DRAIN_BYTES at a time so key presses queued meanwhile answer."""
        with self._lock:
            taken = size = 0
            while taken < len(self._pending) and size < DRAIN_BYTES:
                size += len(self._pending[taken][1])
                taken += 1
            chunks, self._pending = self._pending[:taken], self._pending[taken:]
            self._posted = bool(self._pending)
        if chunks:
            self.view.feed(chunks)
        if self._posted:
            # A timer, not a message: a widget drains its own queue without yielding, so
            # re-posting at once would keep key presses waiting until all output is drawn.
            self.set_timer(0.001, lambda: self.post_message(self.Arrived()))

    @on(Ended)
    def _ended(self, event: Ended) -> None:
        if self.record is None or event.task_id != self.record.id:
            return
        with self._lock:
            chunks, self._pending = self._pending, []
        self.view.feed(chunks)
        self.view.feed([], ended=True)
        self.ended, self.error = True, event.error
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
