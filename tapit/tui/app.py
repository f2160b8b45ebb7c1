"""The tapit TUI: live task list, details, logs, a new-task form and consoles.

Every Nomad or history call goes through the service layer, which blocks, so it
runs in Textual's thread workers (LiveFeed's loops and the log pane's tail among them);
results come back to the event loop as messages or `call_from_thread`.
"""

from __future__ import annotations

import gc
import threading
from datetime import datetime, timezone
from typing import Callable
from weakref import WeakKeyDictionary

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, TabbedContent, TabPane, Tabs
from textual.worker import WorkerFailed

from tapit.cli import internal_error
from tapit.model import TaskRecord
from tapit.output import plural, printable
from tapit.service import TaskService
from tapit.tui import preferences
from tapit.tui.palette import TapitCommands
from tapit.tui.console_pane import SessionScreen
from tapit.tui.details import Details
from tapit.tui.events_view import EventsScreen
from tapit.tui.keymap import KeymapScreen
from tapit.tui.live import LiveFeed
from tapit.tui.log_pane import LogPane
from tapit.tui.log_view import LogView
from tapit.tui.namespace_picker import EVERY, NamespacePicker
from tapit.tui.new_task import NewTaskScreen
from tapit.tui.spec_view import SpecScreen
from tapit.tui.task_actions import WRITE_ACTIONS, TaskActions
from tapit.tui.safe_text import DataInput, plain, template
from tapit.tui.sessions import Sessions
from tapit.tui.task_table import STATUS_FILTERS, TaskTable
from tapit.tui.top_bar import TopBar

# Moving the cursor quickly through the list should not open every task's logs on the way.
SELECT_SETTLE_S = 0.15
TICK_S = 1.0  # ages and durations count up

STATE_MARKS = {
    state: Content.from_markup(markup)
    for state, markup in {
        "connecting": "[$warning]◌ connecting[/]",
        "live": "[$success]● live[/]",
        "polling": "[$warning]● polling[/]",
        "reconnecting": "[$warning]◌ reconnecting[/]",
        "offline": "[$error]✕ offline[/]",
    }.items()
}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class FilterInput(DataInput):
    BINDINGS = [Binding("escape", "app.clear_filter", "Clear filter")]


class TapitApp(TaskActions):
    TITLE = "tapit"
    CSS_PATH = "tapit.tcss"
    # Below 110 columns the panes stack what sits side by side on a wide terminal (tapit.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMANDS = App.COMMANDS | {TapitCommands}
    BINDINGS = [
        # The footer shows these in this order and cuts what does not fit: `?` (every key) first.
        Binding("question_mark", "keymap", "Keys"),
        Binding("slash", "filter", "Filter"),
        Binding("n", "new_task", "New"),
        Binding("x", "stop_task", "Stop"),
        Binding("D", "delete_task", "Delete"),
        Binding("R", "rerun_task", "Rerun"),
        Binding("c", "open_console", "Console"),
        Binding("C", "console_outside", "Console (terminal)", show=False),
        Binding("e", "shell", "Shell in the task (or back to its console)", show=False),
        Binding("E", "shell_outside", "Shell (terminal)", show=False),
        Binding("q", "quit", "Quit"),
        Binding("i", "show_tab('details')", "Details", show=False),
        Binding("l", "show_tab('logs')", "Logs", show=False),
        Binding("f", "full_screen_logs", "Full-screen logs", show=False),
        Binding("y", "job_spec", "Job spec and allocation", show=False),
        Binding("v", "events", "Events", show=False),
        Binding("colon", "pick_namespace", "Namespace", show=False),
        Binding("1", "status_filter('all')", "All", show=False),
        Binding("2", "status_filter('running')", "Running", show=False),
        Binding("3", "status_filter('pending')", "Pending", show=False),
        Binding("4", "status_filter('failed')", "Failed", show=False),
        Binding("5", "status_filter('complete')", "Complete", show=False),
        Binding("6", "status_filter('stopped')", "Stopped", show=False),
    ]

    class RecordsLoaded(Message):
        def __init__(self, records: list[TaskRecord], newest_only: bool = False) -> None:
            super().__init__()
            self.records, self.newest_only = records, newest_only

    class ConnectionState(Message):
        def __init__(self, state: str, detail: str) -> None:
            super().__init__()
            self.state, self.detail = state, detail

    namespace: reactive[str | None] = reactive(None, init=False)  # picked with `:`; None: the connection's

    def __init__(
        self,
        service: TaskService,
        clock: Callable[[], datetime] = utc_now,
        live: bool = True,
        read_only: bool = False,
    ) -> None:
        """`live=False` shows the history as it is and never talks to Nomad (snapshot tests);
        `read_only` shows everything and changes nothing (no new, stop, delete, rerun or console)."""
        super().__init__()
        self.service, self.clock, self.live, self.read_only = service, clock, live, read_only
        self.feed: LiveFeed | None = None
        self.state, self.state_detail = ("connecting", "") if live else ("offline", "history only")
        self._settle: Timer | None = None
        self.crash: str | None = None  # the line an unexpected error leaves on stderr
        self._thread_hook = threading.excepthook
        self._typed_into: WeakKeyDictionary[events.Key, Widget | None] = WeakKeyDictionary()
        # Kept rather than queried: a query runs against the active screen, which is a modal at times.
        self.table = TaskTable(clock, id="tasks")
        self.sessions = Sessions(self)
        self.top_bar = TopBar(id="topbar")
        self._frozen = False  # the objects alive once the history was first shown: see _show_records

    def compose(self) -> ComposeResult:
        yield self.top_bar
        with Vertical(id="tasks-box"):
            yield FilterInput(
                placeholder="filter: id, command, initiator or status (enter: keep, esc: clear)", id="filter"
            )
            yield self.table
        with TabbedContent(id="panes", initial="details"):
            with TabPane("Details", id="details"):
                yield Details(self.service, self.clock, id="details-view")
            with TabPane("Logs", id="logs"):
                yield LogPane(self.service, id="log-pane")
        yield Footer()

    def on_mount(self) -> None:
        threading.excepthook = self._thread_failed  # before any thread starts
        self._restore_theme()
        self.query_one("#filter").display = False
        # Tabs switch with keys and clicks; as a focus stop they would only get in the way.
        self.query_one("#panes", TabbedContent).query_one(Tabs).can_focus = False
        self.table.focus()
        self.set_interval(TICK_S, self._tick)
        if self.live:
            self.feed = LiveFeed(
                self.service,
                self._from_thread(self.RecordsLoaded),
                lambda state, detail: self._post_from_thread(self.ConnectionState(state, detail)),
                # Textual's thread workers: it owns them, and a bug in one reaches _handle_exception.
                lambda loop, name: self.run_worker(loop, thread=True, name=name, group="live"),
            )
            self.feed.start()
        else:
            self._show_records(self.service.history.all())
        self._draw_topbar()

    def _restore_theme(self) -> None:
        theme = preferences.load(self.service.history.directory).get("theme")
        if theme in self.available_themes:
            self.theme = theme
        # Only a theme the operator picks is remembered, not the one restored.
        self.theme_changed_signal.subscribe(self, self._theme_chosen)

    def _theme_chosen(self, theme) -> None:
        preferences.remember(self.service.history.directory, "theme", theme.name)

    def _thread_failed(self, args: threading.ExceptHookArgs) -> None:
        # A bug in one of the service's own threads (a log copy's follower) would print its traceback over the screen
        # (Textual draws on stderr) and leave a pane silently stale: it ends the app as any bug does.
        try:
            self.call_from_thread(self._handle_exception, args.exc_value)
        except RuntimeError:
            self._thread_hook(args)  # the app is no longer running

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:  # as it arrives, before it goes anywhere
            self._typed_into[event] = self.focused
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        """A key that went up unhandled from the widget it was typed into (bindings come after this)."""
        typed_into, focused = self._typed_into.pop(event, None), self.focused
        if typed_into is not None and focused is not None and focused is not typed_into:
            # Keys read in one go (`/tw`, `n` then a command) all go to the widget focused when they
            # arrived; those after a key that moved the focus belong where it went: the search box,
            # the form. So it arrives again, as if typed a moment later, and goes there.
            event.prevent_default()
            self.post_message(events.Key(event.key, event.character))

    def notify(self, message: str, *, markup: bool = False, **kwargs) -> None:
        """Notifications name commands, tasks and errors, all data: plain text unless asked otherwise."""
        super().notify(message if markup else printable(message), markup=markup, **kwargs)

    def _handle_exception(self, error: Exception) -> None:
        # Textual ends the app with return code 1 and, once the terminal is restored, prints a
        # traceback with locals. An operator gets the CLI's one line instead (run_tui prints
        # `crash`), and the traceback goes to errors.log for a report. The one handler for every
        # bug: the app's own, its threads' (_thread_failed) and its workers' (Textual's default
        # exit_on_error; each worker catches the TapitErrors it expects and shows them itself).
        cause = error.error if isinstance(error, WorkerFailed) else error
        if self.crash is None:
            self.crash = internal_error(cause)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        self.exit(return_code=1)  # in place of Textual's traceback

    def _from_thread(self, message_type: type[Message]) -> Callable:
        return lambda *args: self._post_from_thread(message_type(*args))

    def _post_from_thread(self, message: Message) -> None:
        # post_message is thread-safe, and after exit it just drops the message.
        self.post_message(message)

    def _show_records(self, records: list[TaskRecord], frozen: bool = True) -> None:
        self.table.set_records(records)  # the table keeps its own order
        if frozen and not self._frozen:
            # What lives from now on (the widgets, the records of a long history) is left out of
            # the cycle collector's full passes: over 10,000 tasks one took 150-600 ms, and a key
            # pressed meanwhile waited that long (bench/tui_bench.py, log ingest). Records replaced
            # later are still freed, by their reference counts.
            gc.freeze()
            self._frozen = True

    def on_unmount(self) -> None:
        threading.excepthook = self._thread_hook
        if self._frozen:
            gc.unfreeze()  # the app's objects are garbage now: let the collector see them again
        if self.feed is not None:
            self.feed.stop()  # the log pane's tail is Textual's to cancel, as the pane goes

    # --- live data -----------------------------------------------------------------

    @on(RecordsLoaded)
    def _records_loaded(self, event: RecordsLoaded) -> None:
        self._show_records(event.records, frozen=not event.newest_only)
        if event.newest_only and self.feed is not None:
            self.call_after_refresh(self.feed.painted.set)
        self._follow_selection(settled=True)

    @on(ConnectionState)
    def _connection_state(self, event: ConnectionState) -> None:
        self.state, self.state_detail = event.state, event.detail
        if self.table.is_attached:  # else the app is shutting down and has removed its widgets
            self._draw_topbar()

    def _tick(self) -> None:
        if not self.table.is_attached:
            return  # the app is shutting down and has removed its widgets
        self.table.refresh()
        record = self.table.selected
        if record is not None and not record.terminal:
            self.query_one(Details).show(record)

    # --- selection -------------------------------------------------------------------

    @on(TaskTable.Highlighted)
    def _highlighted(self) -> None:
        if self._settle is not None:
            self._settle.stop()
        self._settle = self.set_timer(SELECT_SETTLE_S, lambda: self._follow_selection(settled=True))
        # The details are cheap: show the record's own fields at once.
        self.query_one(Details).show(self.table.selected)

    def _follow_selection(self, settled: bool) -> None:
        if not self.is_running or not self.table.is_attached:
            return  # the settle timer fired as the app shuts down, removing its widgets
        record = self.table.selected
        self.query_one(Details).show(record)
        if settled:
            self.query_one(LogPane).show(record)

    @on(TaskTable.Selected)
    def _selected(self) -> None:
        self._follow_selection(settled=True)
        self.action_show_tab("logs")
        self.query_one(LogView).focus()

    @on(TaskTable.ViewChanged)
    def _draw_topbar(self) -> None:
        table = self.table
        shown, total = len(table.order), len(table.records)
        counts = plural(total, "task") if shown == total else f"{shown:,}/{plural(total, 'task')}"
        left = [Content.styled("tapit", "bold"), plain(counts), plain(f"{table.running} running")]
        if self.read_only:
            left.insert(1, Content.styled("read-only", "bold $warning"))
        if self.namespace:
            left.append(template("[$accent]namespace: $ns[/]", ns=self.namespace))
        if table.status_filter != "all":
            left.append(template("[$accent]status: $name[/]", name=table.status_filter))
        if table.needle:
            left.append(template("[$accent]filter: $needle[/]", needle=table.needle))
        left.append(plain(f"sort: {table.sort_column}{' ▼' if table.sort_reverse else ' ▲'}"))  # as in the header
        state = STATE_MARKS.get(self.state) or plain(self.state)
        detail = plain(" " + self.state_detail, "$text-muted") if self.state_detail else ""
        self.top_bar.update(Content(" · ").join(left), Content.assemble(state, detail))

    # --- filtering ----------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.table.needle
        # At once, not after a refresh as focus() does: keys typed right after `/` are the filter, not bindings.
        self.screen.set_focus(box)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.needle = event.value

    @on(Input.Submitted, "#filter")
    def _filter_kept(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(box.value)
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.table.focus()

    def action_status_filter(self, name: str) -> None:
        if name in STATUS_FILTERS:
            self.table.status_filter = name

    def action_sort_next(self) -> None:
        self.table.action_sort_next()

    def action_sort_reverse(self) -> None:
        self.table.action_sort_reverse()

    # --- panes ---------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#panes", TabbedContent).active = tab
        if tab == "logs":
            self._follow_selection(settled=True)

    def action_full_screen_logs(self) -> None:
        """The logs alone on the screen, and back (`f` again, `esc` or `q`)."""
        pane = self.query_one(LogPane)
        if self.screen.maximized is pane:
            self.screen.minimize()
            return
        self.action_show_tab("logs")
        self.screen.maximize(pane, container=False)
        pane.view.focus()

    def action_job_spec(self) -> None:
        record = self.table.selected
        if record is not None:
            self.push_screen(SpecScreen(record, lambda: self.service.documents(record)))

    def action_events(self) -> None:
        namespace = self.namespace
        self.push_screen(
            EventsScreen(
                lambda stop: self.service.events(namespace, stop=stop),
                f"namespace {namespace}" if namespace else "this namespace",
            )
        )

    def action_pick_namespace(self) -> None:
        current = self.namespace or self.service.config.namespace or "default"
        self.push_screen(NamespacePicker(current, self.service.namespaces), self._namespace_picked)

    def _namespace_picked(self, namespace: str | None) -> None:
        if namespace is not None:
            self.namespace = namespace  # the same one again changes nothing

    def watch_namespace(self, namespace: str) -> None:
        self.table.show_namespaces(namespace == EVERY)
        self._draw_topbar()
        if self.feed is not None:
            self.feed.show_namespace(namespace)

    def action_focus_tasks(self) -> None:
        self.table.focus()

    async def action_log(self, action: str) -> None:
        self.action_show_tab("logs")
        await self.query_one(LogView).run_action(action)

    def action_search_logs(self) -> None:
        self.action_show_tab("logs")
        self.query_one(LogPane).action_search()

    def action_save_logs(self) -> None:
        self.query_one(LogPane).action_save()

    def action_keymap(self) -> None:
        self.push_screen(
            KeymapScreen(
                [
                    (
                        "Everywhere",
                        self.BINDINGS
                        + [
                            Binding("ctrl+p", "", "Command palette"),
                            Binding("tab,shift+tab", "", "Next / previous pane"),
                        ],
                    ),
                    ("Task list", TaskTable.BINDINGS),
                    ("Logs", LogView.BINDINGS + LogPane.BINDINGS + [Binding("ctrl+c", "", "Copy the mouse selection")]),
                    ("Job spec (y)", SpecScreen.BINDINGS),
                    ("Events (v)", EventsScreen.BINDINGS),
                    ("New-task form", NewTaskScreen.BINDINGS),
                    (
                        "Console and shell",
                        SessionScreen.BINDINGS + [Binding("shift+pageup,shift+pagedown", "", "Scroll back")],
                    ),
                ]
            )
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.read_only and action in WRITE_ACTIONS:
            return False
        # Over a view of one task or of the events, the list's keys would act on a row not on screen.
        if isinstance(self.screen, (SpecScreen, EventsScreen)) and action not in ("keymap", "quit", "command_palette"):
            return False
        # In a console, ctrl+p and ctrl+q belong to the remote program (shell history, flow control).
        if isinstance(self.screen, SessionScreen) and action in ("command_palette", "quit"):
            return False
        return True

    async def action_quit(self) -> None:
        await self.sessions.end_all("the TUI quit")
        self.exit()
