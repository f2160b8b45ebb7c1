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
