"""Everything about one task: its fields, its Nomad job/allocation/node, the
task's event timeline, why it ended, and requested vs used resources with a
live sparkline while it runs."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from tapit.config import FALLBACK_MHZ_PER_VCPU
from tapit.errors import TapitError
from tapit.model import Placement, TaskRecord, Usage
from tapit.output import detail_rows, human_duration, printable
from tapit.service import TaskService
from tapit.tui.safe_text import plain, template
from tapit.tui.usage_history import Histories, UsageHistory, fit_to

STATS_EVERY_S = 1.0
FIELD_STYLES = {"Status": "bold", "Error": "$error"}
LABEL_WIDTH = 13
TIME_WIDTH, KIND_WIDTH = 8, 16


def timeline(placement: Placement | None) -> list[tuple[str, str, str]]:
    """(time, event type, message) for each task event Nomad kept (the last 10)."""
    return [(e.at.strftime("%H:%M:%S"), e.type, e.message) for e in placement.events] if placement else []


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float], ceiling: float, width: int) -> str:
    """The whole series in `width` bars on a fixed scale from 0 to `ceiling` (what was requested),
    so a flat line at the limit looks full and an idle task looks empty."""
    top = max(ceiling, max(values, default=0.0)) or 1.0
    picked = fit_to(values, width)
    return "".join(BARS[min(len(BARS) - 1, round(v / top * (len(BARS) - 1)))] for v in picked)


class FieldRows(Widget):
    """Label and value per row; a long value wraps beside its label, never under it."""

    DEFAULT_CSS = "FieldRows { height: auto; }"

    def __init__(self, label_width: int = LABEL_WIDTH, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label_width = label_width
        self.rows: list[tuple[str, Content]] = []

    def update(self, rows: list[tuple[str, Content]]) -> None:
        self.rows = rows
        self.refresh(layout=True)

    def _lines(self, width: int) -> list[Content]:
        indent = " " * (self.label_width + 1)
        lines = []
        for name, value in self.rows:
            if not name:  # a message in place of the fields
                lines += value.wrap(max(8, width))
                continue
            # Each line of a value on its own, so a newline in it starts a new line beside the label too.
            wrapped = [part for line in value.split("\n") for part in line.wrap(max(8, width - len(indent)))]
            label = Content.styled(name.ljust(self.label_width), "$text-muted")
            lines.append(Content.assemble(label, " ", wrapped[0] if wrapped else ""))
            lines += [Content.assemble(indent, part) for part in wrapped[1:]]
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.size.width))


class Details(VerticalScroll):
    """The details tab; loads Nomad's view of the task in thread workers."""

    # The task shown; set again every tick (ages count up), so every setting redraws.
    record: reactive[TaskRecord | None] = reactive(None, init=False, always_update=True, repaint=False)

    def __init__(self, service: TaskService, clock: Callable[[], datetime], **kwargs) -> None:
        super().__init__(**kwargs)
        self.service, self.clock = service, clock
        self.alloc: Placement | None = None
        # Each task's usage seen in this session, so coming back to a task shows its whole life so far.
        self.histories = Histories()
        self.usage = UsageHistory()

    def compose(self) -> ComposeResult:
        with Horizontal(id="details-columns"):
            yield FieldRows(id="fields")
            with Vertical(id="details-side"):
                yield from self._usage()
                yield Static(Content.styled("Events", "bold"), id="timeline-title")
                # "12:00:01  Task Setup        " beside each message
                yield FieldRows(label_width=TIME_WIDTH + 2 + KIND_WIDTH, id="timeline")

    def _usage(self) -> ComposeResult:
        with Vertical(id="usage"):
            yield Static(id="usage-title")
            with Horizontal(classes="usage-row"):
                yield Static("CPU", classes="usage-label")
                yield Static(id="cpu-spark", classes="spark")
                yield Static(id="cpu-now", classes="usage-now")
            with Horizontal(classes="usage-row"):
                yield Static("MEM", classes="usage-label")
                yield Static(id="mem-spark", classes="spark")
                yield Static(id="mem-now", classes="usage-now")

    def on_mount(self) -> None:
        self.set_interval(STATS_EVERY_S, self._poll_stats)
        self._draw()

    def show(self, record: TaskRecord | None) -> None:
        self.record = record

    def watch_record(self, last: TaskRecord | None, record: TaskRecord | None) -> None:
        """A different task shows its own usage seen so far and reloads its allocation."""
        if record is None or last is None or record.id != last.id:
            other = changed = True
        else:
            other, changed = False, (record.nomad_alloc_id, record.status) != (last.nomad_alloc_id, last.status)
        if other:
            self.alloc = None
            self.usage = self.histories.of(record.id) if record is not None else UsageHistory()
        if changed and record is not None and record.nomad_alloc_id:
            self._load_alloc(record)
        self._draw()

    @work(thread=True, exclusive=True, group="details-alloc")
    def _load_alloc(self, record: TaskRecord) -> None:
        try:
            alloc = self.service.placement(record)
        except TapitError:
            return  # unreachable: the record's fields still show
        if alloc is not None:  # None: garbage-collected
            self.app.call_from_thread(self._alloc_loaded, record.id, alloc)

    def _alloc_loaded(self, task_id: str, alloc: Placement) -> None:
        if self.record is not None and self.record.id == task_id:
            self.alloc = alloc
            self._draw()

    def _poll_stats(self) -> None:
        record = self.record
        if record is not None and record.status == "running" and record.nomad_alloc_id and self.is_on_screen:
            self._load_stats(record)

    @work(thread=True, exclusive=True, group="details-stats")
    def _load_stats(self, record: TaskRecord) -> None:
        try:
            sample = self.service.usage(record)
        except TapitError:
            return
        if sample is not None:
            self.app.call_from_thread(self._stats_loaded, record.id, sample)

    def _stats_loaded(self, task_id: str, sample: Usage) -> None:
        if self.record is not None and self.record.id == task_id:
            self.usage.add(sample.cpu_mhz, sample.memory_bytes / 2**20)
            self._draw_usage()

    # --- drawing ---------------------------------------------------------------

    def _draw(self) -> None:
        if not self.query("#fields"):
            return  # not composed yet, or already taken down as the app exits: nothing to draw on
        record = self.record
        if record is None:
            self.query_one(FieldRows).update([("", Content("No task selected. Press n to start one."))])
            self.query_one("#timeline", FieldRows).update([])
            self.query_one("#usage").display = False
            return
        now = self.clock()
        rows = detail_rows(record, now, node=self.alloc.node_name if self.alloc else None)
        self.query_one(FieldRows).update([(name, plain(value, FIELD_STYLES.get(name, ""))) for name, value in rows])
        events = [
            (f"{when}  {printable(kind)[:KIND_WIDTH]}", plain(message)) for when, kind, message in timeline(self.alloc)
        ]
        if not events:
            events = [("", Content.styled("gone from Nomad" if record.terminal else "none yet", "$text-muted"))]
        self.query_one("#timeline", FieldRows).update(events)
        self._draw_usage()

    def _draw_usage(self) -> None:
        record, usage = self.record, self.usage
        box = self.query_one("#usage")
        box.display = record is not None and bool(usage.samples or record.status == "running")
        if not box.display or record is None:
            return
        reserved = self.alloc.cpu_mhz if self.alloc else None
        cpu_mhz = reserved or record.cpu * (self.service.config.mhz_per_vcpu or FALLBACK_MHZ_PER_VCPU)
        memory_mb = record.memory_gb * 1024
        self.query_one("#usage-title", Static).update(
            template(
                "[b]Usage[/b]  [$text-muted]requested $cpu MHz CPU, $memory MB memory; $span[/]",
                cpu=f"{cpu_mhz:g}",
                memory=f"{memory_mb:g}",
                span=f"over {human_duration(usage.samples * STATS_EVERY_S)} watched"
                if usage.samples
                else "no sample yet",
            )
        )
        cpu_spark, mem_spark = self.query_one("#cpu-spark", Static), self.query_one("#mem-spark", Static)
        cpu_spark.update(Content(sparkline(usage.cpu, cpu_mhz, cpu_spark.size.width)))
        mem_spark.update(Content(sparkline(usage.memory, memory_mb, mem_spark.size.width)))
        if record.status == "running":
            cpu_now = f"{usage.cpu[-1]:.0f}/{cpu_mhz:g} MHz" if usage.cpu else "-"
            mem_now = f"{usage.memory[-1]:.0f}/{memory_mb:g} MB" if usage.memory else "-"
        else:  # ended: the highest it reached while this TUI watched it
            cpu_now = f"peak {usage.peak_cpu:.0f}/{cpu_mhz:g} MHz"
            mem_now = f"peak {usage.peak_memory:.0f}/{memory_mb:g} MB"
        self.query_one("#cpu-now", Static).update(Content(cpu_now))
        self.query_one("#mem-now", Static).update(Content(mem_now))
