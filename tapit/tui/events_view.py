"""`v`: what Nomad's event stream says about every tapit job, live, with a filter — the
cluster-wide view next to each task's own timeline in the details.

A thread reads the stream through the service (it blocks) and hands each event to the
screen; the list keeps the newest MAX_EVENTS and shows those the filter matches."""

from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Iterator

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, RichLog, Static

from tapit.errors import TapitError
from tapit.model import ClusterEvent
from tapit.output import plural, printable
from tapit.tui.safe_text import DataInput, plain

MAX_EVENTS = 10_000
RETRY_S = 2.0

EventSource = Callable[[threading.Event], Iterator[ClusterEvent]]


def event_line(event: ClusterEvent) -> str:
    """What the filter matches: every column as the list shows it."""
    return f"{event.at:%H:%M:%S} {event.topic} {event.type} {event.namespace}/{event.job_id} {event.summary}"


class EventLog(RichLog):
    """The events, one a line, in the theme's colours (RichLog draws Rich text, not Content)."""

    COMPONENT_CLASSES = {"events--time", "events--Job", "events--Allocation", "events--Evaluation"}
    DEFAULT_CSS = """
    EventLog { height: 1fr; background: $surface; padding: 0 1; }
    EventLog > .events--time { color: $text-muted; }
    EventLog > .events--Job { color: $accent; }
    EventLog > .events--Allocation { color: $success; }
    EventLog > .events--Evaluation { color: $warning; }
    """

    def row(self, event: ClusterEvent) -> Text:
        topic = f"events--{event.topic}"
        return Text.assemble(
            (f"{event.at:%H:%M:%S}", self.get_component_rich_style("events--time")),
            "  ",
            (
                printable(event.topic).ljust(10),
                self.get_component_rich_style(topic) if topic in self.COMPONENT_CLASSES else "",
            ),
            " ",
            printable(event.type).ljust(22),
            " ",
            (printable(event.job_id), "bold"),
            "  ",
            printable(event.summary),
            no_wrap=True,
            end="",
        )

    def add(self, event: ClusterEvent) -> None:
        self.write(self.row(event))


class EventsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,v", "leave", "Back"),
        Binding("slash", "filter", "Filter"),
    ]
    DEFAULT_CSS = """
    EventsScreen #events-status { height: 1; padding: 0 1; background: $panel; }
    EventsScreen #events-filter { height: 1; border: none; padding: 0 1; background: $boost; }
    """

    def __init__(self, source: EventSource, where: str) -> None:
        """`source(stop)` yields events until `stop` is set (in a thread); `where` names the namespace."""
        super().__init__()
        self.source, self.where = source, where
        self.events: deque[ClusterEvent] = deque(maxlen=MAX_EVENTS)
        self.needle = ""
        self.error: str | None = None
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(id="events-status")
        yield DataInput(placeholder="filter: topic, type, job or message (esc: back to the list)", id="events-filter")
        yield EventLog(id="events-log", max_lines=MAX_EVENTS, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventLog).focus()
        # A thread worker: Textual owns it, and a bug in it reaches the app's one error handler.
        self.run_worker(self._read, thread=True, group="events-view", name="tapit-events-view")
        self._draw_status()

    def on_unmount(self) -> None:
        self._stop.set()

    # --- from the reading thread ---------------------------------------------------

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self.source(self._stop):
                    self.app.call_from_thread(self.add, event)
            except TapitError as exc:
                self.app.call_from_thread(self._failed, f"event stream: {exc}; retrying in {RETRY_S:g}s")
            except RuntimeError:
                return  # the app has gone while an event was on its way
            self._stop.wait(RETRY_S)

    def _failed(self, error: str) -> None:
        self.error = error
        self._draw_status()

    # --- on the event loop -----------------------------------------------------------

    def add(self, event: ClusterEvent) -> None:
        self.events.append(event)
        self.error = None
        if self._matches(event):
            self.query_one(EventLog).add(event)
        self._draw_status()

    def _matches(self, event: ClusterEvent) -> bool:
        return not self.needle or self.needle in event_line(event).lower()

    def shown(self) -> list[ClusterEvent]:
        return [e for e in self.events if self._matches(e)]

    def _draw_status(self) -> None:
        shown = self.shown()
        counts = plural(len(self.events), "event")
        if self.needle:
            counts = f"{len(shown):,}/{counts}"
        parts = [Content.styled("events", "bold"), plain(self.where), plain(counts)]
        if self.needle:
            parts.append(plain(f"filter: {self.needle}", "$accent"))
        if self.error:
            parts.append(plain(self.error, "$error"))
        self.query_one("#events-status", Static).update(Content(" · ").join(parts))

    def action_filter(self) -> None:
        self.set_focus(self.query_one("#events-filter"))

    @on(Input.Changed, "#events-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.lower()
        log = self.query_one(EventLog)
        log.clear()
        for item in self.shown():
            log.add(item)
        self._draw_status()

    @on(Input.Submitted, "#events-filter")
    def _filter_kept(self) -> None:
        self.query_one(EventLog).focus()

    def action_leave(self) -> None:
        if self.focused is self.query_one("#events-filter"):
            self.query_one(EventLog).focus()
        else:
            self.app.pop_screen()
