"""A snapshot of every screen, deterministic by construction.

The app runs with `live=False` over records written directly into a History in
a temporary directory, a fixed clock and fixed ids, at a fixed terminal size,
with the input cursor's blink switched off. Its service refuses to connect, so
nothing here talks to Nomad: the finished tasks' logs come from the archive.
"""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from tapit.tui.app import TapitApp
from tapit.tui.console_pane import TerminalView
from tapit.tui.log_pane import LogPane

from .conftest import fixed_clock, history_service, wait_for

SIZE = (130, 40)


@pytest.fixture
def app(tmp_path, steady_initiator, no_blink):
    return TapitApp(history_service(tmp_path), clock=fixed_clock, live=False)


def test_task_list_with_details(app, snap_compare):
    assert snap_compare(app, press=["j"], terminal_size=SIZE)


def test_logs_of_a_finished_task(app, snap_compare):
    async def open_logs(pilot):
        await pilot.press("j", "j", "enter")
        await wait_for(pilot, lambda: app.query_one(LogPane).ended)
        await pilot.press("k", "k", "k")  # scrolled up from the end: following pauses

    assert snap_compare(app, run_before=open_logs, terminal_size=SIZE)


def test_log_search_highlights_matches(app, snap_compare):
    async def search(pilot):
        await pilot.press("j", "j", "enter")
        await wait_for(pilot, lambda: app.query_one(LogPane).ended)
        await pilot.press("slash", *"user1", "enter", "n")

    assert snap_compare(app, run_before=search, terminal_size=SIZE)


def test_filter_by_text(app, snap_compare):
    assert snap_compare(app, press=["slash", "r", "e"], terminal_size=SIZE)


def test_quick_status_filter(app, snap_compare):
    assert snap_compare(app, press=["4"], terminal_size=SIZE)


def test_new_task_form_shows_errors_next_to_fields(app, snap_compare):
    assert snap_compare(app, press=["n", *"echo hi", "tab", *"lots", "tab", *"9999"], terminal_size=SIZE)


def test_stop_asks_first(app, snap_compare):
    assert snap_compare(app, press=["j", "x"], terminal_size=SIZE)


def test_keymap(app, snap_compare):
    assert snap_compare(app, press=["question_mark"], terminal_size=SIZE)


class TerminalApp(App):
    """The console pane alone, fed canned output as an exec session would."""

    def compose(self) -> ComposeResult:
        yield TerminalView()

    def on_mount(self) -> None:
        view = self.query_one(TerminalView)
        view.feed(
            b"$ ls --color\r\n\x1b[1;34mbin\x1b[0m  \x1b[32mrun.sh\x1b[0m  README\r\n"
            b"$ printf '\\033[41m red bg \\033[0m\\n'\r\n\x1b[41m red bg \x1b[0m\r\n"
            b"$ echo \xe2\x9c\x93 done\r\n\xe2\x9c\x93 done\r\n$ "
        )
        view.focus()


def test_console_pane(snap_compare):
    assert snap_compare(TerminalApp(), terminal_size=(60, 10))


# --- issue 13: the TUI at 80×24 and the new views, pinned to 80×24 or SIZE and FIXED_NOW -------

NARROW = (80, 24)


def test_task_list_at_80x24(app, snap_compare):
    assert snap_compare(app, press=["j", "j"], terminal_size=NARROW)


def test_full_screen_logs_at_80x24(app, snap_compare):
    # A log shorter than the screen: a scrollbar's thumb is drawn a frame after the scroll it shows.
    app.service.history.archive_logs(
        "2c3d4e5f",
        {
            "stdout": b"".join(b"reindexing shard %d of 12\n" % i for i in range(12)),
            "stderr": b"\x1b[31mshard 12: killed\x1b[0m\n",
        },
    )

    async def full_screen(pilot):
        await pilot.press("j", "j", "j", "f")
        pane = app.query_one(LogPane)
        await wait_for(pilot, lambda: pane.ended and app.focused is pane.view)
        await pilot.pause()

    assert snap_compare(app, run_before=full_screen, terminal_size=NARROW)


def test_job_spec(app, snap_compare):
    from dataclasses import replace

    from tapit.config import AppConfig
    from tapit.model import NomadDocuments
    from tapit.params import build_spec
    from tapit.translate.jobspec import build_job
    from tapit.tui.spec_view import SpecScreen

    from .conftest import SAMPLE

    task = SAMPLE[1]
    config = replace(AppConfig(), mhz_per_vcpu=2000)
    spec = build_spec(task.command, {}, config, task.initiated_by)
    job = build_job(
        task_id=task.id,
        spec=spec,
        config=config,
        driver="raw_exec",
        namespace="default",
        created_at=task.created_at,
    )

    async def show(pilot):
        app.push_screen(SpecScreen(task, lambda: NomadDocuments(job, None)))
        await wait_for(pilot, lambda: isinstance(app.screen, SpecScreen) and app.screen.documents is not None)

    assert snap_compare(app, run_before=show, terminal_size=SIZE)


def test_events_view_filtered(app, snap_compare):
    from datetime import timedelta

    from tapit.model import ClusterEvent
    from tapit.tui.events_view import EventsScreen

    from .conftest import FIXED_NOW

    steps = [
        ("Job", "JobRegistered", "pending"),
        ("Evaluation", "JobRegistered", "pending (triggered by job-register)"),
        ("Allocation", "PlanResult", "pending"),
        ("Allocation", "AllocationUpdated", "running: Started Task started by client"),
        ("Allocation", "AllocationUpdated", "complete: Terminated Exit Code: 0"),
        ("Job", "AllocationUpdated", "dead"),
    ]
    events = [
        ClusterEvent(FIXED_NOW + timedelta(seconds=i), 10 + i, topic, kind, f"tapit-{task}", "default", summary)
        for task in ("1b2c3d4e", "2c3d4e5f")
        for i, (topic, kind, summary) in enumerate(steps)
    ]

    def source(stop):
        yield from events
        stop.wait()

    async def show(pilot):
        app.push_screen(EventsScreen(source, "namespace default"))
        await wait_for(pilot, lambda: isinstance(app.screen, EventsScreen) and len(app.screen.events) == len(events))
        await pilot.press("slash", *"2c3d4e5f")

    assert snap_compare(app, run_before=show, terminal_size=SIZE)


def test_namespace_picker(app, snap_compare):
    from tapit.tui.namespace_picker import NamespacePicker

    async def show(pilot):
        app.push_screen(NamespacePicker("default", lambda: ["default", "batch", "ml"]))
        from textual.widgets import OptionList

        await wait_for(pilot, lambda: isinstance(app.screen, NamespacePicker))

        def filled() -> bool:  # `*`, then the three
            found = app.screen.query(OptionList)
            return bool(found) and found.first().option_count == 4

        await wait_for(pilot, filled)

    assert snap_compare(app, run_before=show, terminal_size=NARROW)
