"""Snapshots of the terminal pane (`e`), deterministic as in test_snapshots: a history written
directly, a fixed clock and size, and a service that refuses to connect."""

from __future__ import annotations

import pytest

from tapit.tui.app import TapitApp
from tapit.tui.shell_pane import ShellScreen

from .conftest import fixed_clock, history_service, wait_for

SIZE = (100, 24)
# What a shell shows: a coloured `ls`, then a full-screen program that has come and gone.
OUTPUT = (
    b"root@node:/task# ls --color\r\n\x1b[1;34mlocal\x1b[0m  \x1b[1;34msecrets\x1b[0m  \x1b[32mrun.sh\x1b[0m\r\n"
    b"root@node:/task# vi notes\r\n\x1b[?1049h\x1b[H\x1b[2J~\r\n~\r\n\x1b[7m notes [new] \x1b[0m\x1b[?1049l"
    b"root@node:/task# \x1b[41;97m wide: \xe4\xb8\xad\xe6\x96\x87 \x1b[0m"
)


@pytest.fixture
def app(tmp_path, steady_initiator, no_blink):
    return TapitApp(history_service(tmp_path), clock=fixed_clock, live=False)


def test_shell_pane_when_the_task_cannot_be_reached(app, snap_compare):
    async def open_shell(pilot):
        await pilot.press("j", "e")  # on the running task, second in the list
        await wait_for(pilot, lambda: isinstance(app.screen, ShellScreen) and app.screen.finished)
        app.screen.terminal.feed(OUTPUT)
        await pilot.pause(0.1)

    assert snap_compare(app, run_before=open_shell, terminal_size=SIZE)
