"""The task list: a line-API table that stays fast with tens of thousands of tasks.

Textual's DataTable re-measures every row on each change (a filter keystroke
over 10,000 tasks took seconds), so this widget keeps the records in a dict,
derives the visible order (filter, then sort) as a list of ids, and renders
only the rows on screen. The cursor follows a task id, not a row number, so
live updates and re-sorting never move the selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tapit.model import TaskRecord, parse_iso
from tapit.output import age, duration, exit_text, fit, one_line, printable

# Quick filters: a name the user picks, and the statuses it shows (None: all).
STATUS_FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "running": frozenset({"running"}),
    "pending": frozenset({"submitting", "pending"}),
    "failed": frozenset({"failed", "lost", "timed_out"}),
    "complete": frozenset({"complete"}),
    "stopped": frozenset({"stopped"}),
}
# Sorting by status groups live tasks first.
STATUS_ORDER = {
    s: i
    for i, s in enumerate(
        ("running", "submitting", "pending", "failed", "timed_out", "lost", "unknown", "stopped", "complete")
    )
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # 0: takes the remaining width


COLUMNS = (
    Column("id", "ID", 8),
    Column("status", "STATUS", 11),
    Column("exit", "EXIT", 4),
    Column("age", "AGE", 7),
    Column("duration", "DURATION", 8),
    Column("resources", "CPU/MEM", 11),
    Column("initiated_by", "INITIATED BY", 18),
    Column("command", "COMMAND", 0),
)
# Shown after the status while the list holds every namespace (`:` then `*`).
NAMESPACE = Column("namespace", "NAMESPACE", 12)
GAP = 2
DIM_COLUMNS = frozenset({"age", "duration", "resources"})  # drawn muted, but on the cursor's row
# At a narrow terminal the command must stay readable next to id, status and age: these columns
# give way first, in this order, until it has COMMAND_MIN cells.
GIVE_WAY = ("initiated_by", "resources", "duration", "exit", "namespace")
COMMAND_MIN = 30


def columns_for(total: int, namespaces: bool = False) -> list[Column]:
    """The columns a table `total` cells wide shows; with `namespaces`, the namespace's too."""
    shown = list(COLUMNS)
    if namespaces:
        shown.insert(2, NAMESPACE)
    for key in GIVE_WAY:
        if sum(c.width + GAP for c in shown[:-1]) + COMMAND_MIN <= total:
            break
        shown = [c for c in shown if c.key != key]
    return shown


def _started_seconds(record: TaskRecord, now: datetime) -> float:
    if not record.started_at:
        return -1.0
    end = parse_iso(record.finished_at) if record.finished_at else now
    return (end - parse_iso(record.started_at)).total_seconds()


def sort_key(column: str, now: datetime) -> Callable[[TaskRecord], Any]:
    """How each column orders tasks; ties keep the newest first."""
    return {
        "id": lambda r: r.id,
        "status": lambda r: STATUS_ORDER.get(r.status, 99),
        "namespace": lambda r: r.nomad_namespace,
        "exit": lambda r: (r.exit_code is None, r.exit_code or 0),
        "age": lambda r: r.created_at,
        "duration": lambda r: _started_seconds(r, now),
        "resources": lambda r: (r.cpu, r.memory_gb),
        "initiated_by": lambda r: r.initiated_by.lower(),
        "command": lambda r: r.command.lower(),
    }[column]


def haystack(record: TaskRecord) -> str:
    """What the `/` filter searches: id, command, initiator and status, lower-cased once per record."""
    return f"{record.id}\0{record.command}\0{record.initiated_by}\0{record.status}".lower()


def sorted_ids(records: dict[str, TaskRecord], sort_column: str, reverse: bool, now: datetime) -> list[str]:
    shown = list(records.values())
    # Sort by creation first so that equal keys list the newest task first.
    shown.sort(key=lambda r: r.created_at, reverse=True)
    # Youngest first is "ascending age", which is descending creation time.
    shown.sort(key=sort_key(sort_column, now), reverse=reverse != (sort_column == "age"))
    return [r.id for r in shown]


def filtered(
    ordered: list[str], records: dict[str, TaskRecord], haystacks: dict[str, str], needle: str, status_filter: str
) -> list[str]:
    """The ids of `ordered` the filter shows, in that order: a keystroke filters, it never sorts."""
    statuses = STATUS_FILTERS[status_filter]
    needle = needle.lower()
    if statuses is not None:
        ordered = [i for i in ordered if records[i].status in statuses]
    return [i for i in ordered if needle in haystacks[i]] if needle else ordered


def visible_ids(
    records: dict[str, TaskRecord], needle: str, status_filter: str, sort_column: str, reverse: bool, now: datetime
) -> list[str]:
    ordered = sorted_ids(records, sort_column, reverse, now)
    return filtered(ordered, records, {i: haystack(r) for i, r in records.items()}, needle, status_filter)


def cells(record: TaskRecord, now: datetime) -> dict[str, str]:
    return {
        "id": printable(record.id),
        "status": f"● {record.status}",
        "namespace": printable(record.nomad_namespace),
        "exit": exit_text(record),
        "age": age(record.created_at, now),
        "duration": duration(record, now),
        "resources": f"{record.cpu:g}/{record.memory_gb:g}G",
        "initiated_by": printable(record.initiated_by),
        "command": one_line(record.command),
    }


class TaskTable(ScrollView, can_focus=True):
    """Tasks, one per row, under a header that stays put while the rows scroll."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("ctrl+u", "half_page(-1)", "Half page up", show=False),
        Binding("ctrl+d", "half_page(1)", "Half page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Logs"),
        Binding("s", "sort_next", "Sort"),
        Binding("S", "sort_reverse", "Reverse", show=False),
    ]
    COMPONENT_CLASSES = {
        "task-table--header",
        "task-table--cursor",
        "task-table--cursor-blurred",
        "task-table--dim",
        "status--running",
        "status--pending",
        "status--failed",
        "status--complete",
        "status--stopped",
    }
    DEFAULT_CSS = """
    TaskTable { background: $surface; }
    """

    class Highlighted(Message):
        """The cursor moved to another task (None: the list is empty)."""

        def __init__(self, task_id: str | None) -> None:
            super().__init__()
            self.task_id = task_id

    class Selected(Message):
        def __init__(self, task_id: str) -> None:
            super().__init__()
            self.task_id = task_id

    class ViewChanged(Message):
        """Filter, sort or contents changed: the status bar counts again."""

    needle: reactive[str] = reactive("", init=False)
    status_filter: reactive[str] = reactive("all", init=False)
    sort_column: reactive[str] = reactive("age", init=False)
    sort_reverse: reactive[bool] = reactive(False, init=False)
    cursor_id: reactive[str | None] = reactive(None, init=False)  # the selected task; None: the list is empty
    namespaces: reactive[bool] = reactive(False, init=False)  # every namespace's tasks: each row says which

    def __init__(self, clock: Callable[[], datetime], **kwargs) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.records: dict[str, TaskRecord] = {}
        self._haystacks: dict[str, str] = {}
        self._sorted: list[str] = []  # every id, in the sort order; the filter picks from it
        self.running = 0  # counted as the records change, not on every redraw of the top bar
        self.order: list[str] = []
        self._cursor = 0
        self._styles: dict[tuple[str, bool], Style] = {}

    # --- data ----------------------------------------------------------------

    def set_records(self, records: list[TaskRecord]) -> None:
        """Replace the tasks shown, keeping the cursor on the same task and the scroll where it was."""
        self.records = {r.id: r for r in records}
        self._haystacks = {r.id: haystack(r) for r in records}
        self.running = sum(1 for r in records if r.status == "running")
        self._reorder(resort=True)

    def upsert(self, record: TaskRecord) -> None:
        self._count_out(self.records.get(record.id))
        self.records[record.id] = record
        self._haystacks[record.id] = haystack(record)
        self.running += record.status == "running"
        self._reorder(resort=True)

    def discard(self, task_id: str) -> None:
        self._count_out(self.records.pop(task_id, None))
        self._haystacks.pop(task_id, None)
        self._reorder(resort=True)

    def _count_out(self, record: TaskRecord | None) -> None:
        if record is not None and record.status == "running":
            self.running -= 1

    def select_task(self, task_id: str) -> None:
        if task_id in self.records and task_id not in self.order:
            # A new task hidden by the filter: drop the filter rather than hide what the user just started.
            self.needle, self.status_filter = "", "all"
        if task_id in self.order:
            self._move_to(self.order.index(task_id))

    @property
    def selected(self) -> TaskRecord | None:
        return self.records.get(self.cursor_id) if self.cursor_id else None

    def _reorder(self, resort: bool = False) -> None:
        if resort:
            self._sorted = sorted_ids(self.records, self.sort_column, self.sort_reverse, self.clock())
        self.order = filtered(self._sorted, self.records, self._haystacks, self.needle, self.status_filter)
        previous = self.cursor_id
        if previous in self.records and previous in self.order:
            self._cursor = self.order.index(previous)
        else:
            self._cursor = min(self._cursor, max(0, len(self.order) - 1))
        self.cursor_id = self.order[self._cursor] if self.order else None  # Highlighted if another
        self._size_rows()
        self._keep_cursor_visible()
        self.refresh()
        self.post_message(self.ViewChanged())

    def watch_needle(self) -> None:
        self._reorder()

    def watch_status_filter(self) -> None:
        self._reorder()

    def watch_sort_column(self) -> None:
        self._reorder(resort=True)

    def watch_sort_reverse(self) -> None:
        self._reorder(resort=True)

    def watch_cursor_id(self, task_id: str | None) -> None:
        self.post_message(self.Highlighted(task_id))

    def watch_namespaces(self, shown: bool) -> None:
        if not shown and self.sort_column == NAMESPACE.key:
            self.sort_column = "age"

    # --- cursor --------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        if not self.order:
            return
        index = max(0, min(index, len(self.order) - 1))
        self._cursor = index
        self.cursor_id = self.order[index]  # Highlighted if another
        self._keep_cursor_visible()
        self.refresh()

    def _keep_cursor_visible(self) -> None:
        rows = max(1, self.scrollable_content_region.height - 1)
        if self._cursor < self.scroll_y:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= self.scroll_y + rows:
            self.scroll_to(y=self._cursor - rows + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self._move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self._cursor + direction * max(1, self.size.height - 2))

    def action_half_page(self, direction: int) -> None:
        self._move_to(self._cursor + direction * max(1, (self.size.height - 1) // 2))

    def action_jump(self, index: int) -> None:
        self._move_to(index if index >= 0 else len(self.order) - 1)

    def action_select(self) -> None:
        if self.cursor_id:
            self.post_message(self.Selected(self.cursor_id))

    def show_namespaces(self, shown: bool) -> None:
        self.namespaces = shown

    def action_sort_next(self) -> None:
        keys = [c.key for c in columns_for(10**4, self.namespaces)]
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]

    def action_sort_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def sort_by(self, column: str) -> None:
        """Sort by a column; asked again for the same one, reverse it."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column = column

    # --- mouse ---------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x + int(self.scroll_x))
            if column:
                self.sort_by(column)
            return
        self._move_to(int(self.scroll_y) + event.y - 1)
        if event.chain == 2:
            self.action_select()

    def _column_at(self, x: int) -> str | None:
        start = 0
        for column, width in self._widths(self.size.width):
            if start <= x < start + width + GAP:
                return column.key
            start += width + GAP
        return None

    # --- rendering -------------------------------------------------------------

    def on_resize(self) -> None:
        self._size_rows()
        self._keep_cursor_visible()

    def _size_rows(self) -> None:
        # No width: the columns are fitted to the width shown and never scroll sideways. The
        # widget's own width would be one cell too wide once the vertical scrollbar takes a
        # column, and the horizontal scrollbar that brought would cover the last row shown.
        self.virtual_size = Size(0, len(self.order) + 1)

    def _widths(self, total: int) -> list[tuple[Column, int]]:
        """The columns shown and their widths; the command takes the rest."""
        shown = columns_for(total, self.namespaces)
        rest = total - sum(c.width + GAP for c in shown[:-1])
        return [(c, c.width) for c in shown[:-1]] + [(shown[-1], max(12, rest))]

    def _header(self, widths: list[tuple[Column, int]]) -> str:
        parts = []
        for column, width in widths:
            label = column.label
            if column.key == self.sort_column:
                label += " ▼" if self.sort_reverse else " ▲"  # ▲: ascending (for age, youngest first)
            parts.append(fit(label, width))
        return (" " * GAP).join(parts)

    def _style(self, name: str, partial: bool = False) -> Style:
        """A component class's style, looked up once per theme rather than once per cell."""
        key = (name, partial)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = self.get_component_rich_style(name, partial=partial)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()  # a new theme or CSS

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        widths = self._widths(width)
        if y == 0:
            style = base + self._style("task-table--header")
            return Strip([Segment(fit(self._header(widths), width), style)]).crop_extend(0, width, style)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.order):
            return Strip.blank(width, base)
        record = self.records[self.order[index]]
        row_style = base
        cursor = index == self._cursor
        if cursor:
            row_style = base + self._style("task-table--cursor" if self.has_focus else "task-table--cursor-blurred")
        dim = row_style + self._style("task-table--dim")
        values = cells(record, self.clock())
        gap = Segment(" " * GAP, row_style)
        segments: list[Segment] = []
        for column, w in widths:
            style = row_style
            if column.key == "status":
                style = row_style + self._status_style(record.status)
            elif column.key in DIM_COLUMNS and not cursor:
                style = dim
            segments += (Segment(fit(values[column.key], w), style), gap)
        return Strip(segments[:-1]).crop_extend(0, width, row_style)

    def _status_style(self, status: str) -> Style:
        group = next((name for name, statuses in STATUS_FILTERS.items() if statuses and status in statuses), "pending")
        return self._style(f"status--{group}", partial=True)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
