"""Every widget and screen, fed what a task can carry: shown as it reads, never obeyed.

Commands, initiators, images, reasons, errors, ids, Nomad's events, log lines, the filter,
the form and the log search get markup (`[/]`, `[bold`, `[@click=app.quit]x`), escape
sequences (SGR, OSC titles, screen clears, an 8-bit CSI), 10,000-character values and wide
CJK and emoji. After each step the app still runs, no control character reaches the
terminal, and the markup is on screen as text. The app runs over a history written
directly (`live=False`), whose Nomad refuses, so creating and stopping fail with messages.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from textual import events
from textual.widgets import Static
from textual.widgets._toast import Toast

from tapit.model import Placement, TaskEvent
from tapit.tui.app import TapitApp
from tapit.tui.confirm import ConfirmScreen
from tapit.tui.console_pane import ConsoleScreen
from tapit.tui.details import Details
from tapit.tui.keymap import KeymapScreen
from tapit.tui.log_pane import LogPane
from tapit.tui.new_task import NewTaskScreen

from .conftest import fixed_clock, history_service, record, screen_lines, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

CLICK = "[@click=app.quit]x"
MARKUP = f"[/] [bold {CLICK} [$error]red[/]"
ESCAPES = "\x1b[1mbold\x1b[0m \x1b]0;pwned\x07 \x1b[2J\x1b[H \x9b31m"
SHOWN_ESCAPES = "\\e[1mbold\\e[0m \\e]0;pwned\\x07 \\e[2J\\e[H \\x9b31m"
WIDE = "漢字テスト😀🎉" * 20
LONG = "y" * 10_000
HOSTILE = f"{ESCAPES} {MARKUP} {WIDE}"
PASTED = f"{MARKUP} {ESCAPES}"  # an input shows its end after a paste
# What the issue saw crash the details pane: the backslashes are literal, not an ESC.
PRINTF = "printf '\\033[1mbold\\033[0m' [/]"

RECORDS = [
    record(
        "aaaa0001",
        "running",
        f"{PRINTF} {MARKUP}",
        "2026-01-01T11:59:00.000Z",
        started_at="2026-01-01T11:59:01.000Z",
        initiated_by=CLICK,
        image="[bold",
        docker_tag="[/]",
        node_name=MARKUP,
    ),
    record(
        "bbbb0002",
        "failed",
        HOSTILE,
        "2026-01-01T11:50:00.000Z",
        started_at="2026-01-01T11:50:01.000Z",
        finished_at="2026-01-01T11:51:00.000Z",
        exit_code=1,
        initiated_by=ESCAPES,
        reason=f'Exit Code: 1, Exit Message: "{MARKUP} {ESCAPES}"',
        stop_requested_by=MARKUP,
    ),
    record(
        "cccc0003",
        "complete",
        LONG + WIDE,
        "2026-01-01T11:40:00.000Z",
        started_at="2026-01-01T11:40:01.000Z",
        finished_at="2026-01-01T11:41:00.000Z",
        exit_code=0,
        initiated_by=WIDE,
        image=LONG,
        logs_archived=True,
    ),
    record("dddd0004", "failed", CLICK, "2026-01-01T11:30:00.000Z", error=f"{MARKUP} {ESCAPES}"),
    record("[b]\x1b]0;id\x07", "lost", "true", "2026-01-01T11:20:00.000Z", nomad_job_id=MARKUP, reason=ESCAPES),
]
LOG = b"".join(
    line + b"\n"
    for line in (
        MARKUP.encode(),
        ESCAPES.encode(),
        b"\x1b[32mgreen\x1b[0m and \x1b[38;5;300mfar\x1b[999999999999m",
        b"\x9b31m not UTF-8 \xff\xfe",
        LONG.encode(),
        WIDE.encode() * 5,
    )
)


def check(app, *expected: str) -> None:
    """The app still runs; nothing it draws carries a control character; `expected` is shown as text."""
    assert app.is_running and app.return_code is None
    lines = screen_lines(app)
    for number, line in enumerate(lines):
        controls = [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]
        assert not controls, f"row {number} sends {controls!r} to the terminal: {line!r}"
    # At 80×24 some widgets are cut or scrolled; what they would draw is in their rendered text.
    text = "\n".join([*lines, *(str(widget.render()) for widget in app.screen.query(Static))])
    for item in expected:
        assert item in text, f"{item!r} is neither on screen nor in a widget's text"


def notices(app) -> str:
    """What the notifications on screen say (a toast wraps its lines, so the screen's rows split them)."""
    return "\n".join(str(toast.render()) for toast in app.screen.query(Toast))


def paste(app, text: str) -> None:
    app.post_message(events.Paste(text))


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.parametrize("size", [(160, 45), (120, 35), (80, 24)], ids=lambda s: "x".join(map(str, s)))
async def test_every_widget_shows_hostile_text_as_text(tmp_path, steady_initiator, no_blink, size):
    service = history_service(tmp_path, RECORDS)
    service.history.archive_logs("cccc0003", {"stdout": LOG, "stderr": ESCAPES.encode() + b"\n"})
    app = TapitApp(service, clock=fixed_clock, live=False)
    async with app.run_test(size=size, notifications=True) as pilot:
        table = app.table
        # The list and the details of every task; Nomad's events for each as well.
        check(app)
        for task_id in table.order:
            table.select_task(task_id)
            await pilot.pause(0.2)
            placement = Placement(
                MARKUP, 1000, (TaskEvent(datetime(2026, 1, 1, tzinfo=timezone.utc), MARKUP, ESCAPES),)
            )
            app.query_one(Details)._alloc_loaded(task_id, placement)
            await pilot.pause()
            check(app)
        table.select_task("aaaa0001")
        await pilot.pause()
        check(app, CLICK, "printf '\\033[1mbold\\033[0m' [/]")
        table.select_task("bbbb0002")
        await pilot.pause()
        check(app, "\\e[1mbold")

        # The top bar: a connection state detail from an error message.
        app.post_message(TapitApp.ConnectionState("offline", HOSTILE))
        await pilot.pause()
        check(app, "\\e[1mbold")

        # The filter, typed and pasted.
        await pilot.press("slash")
        await type_text(pilot, "[/[bold")
        check(app, "filter: [/[bold")
        paste(app, PASTED)
        await pilot.pause()
        check(app, "␛[2J␛[H")
        await pilot.press("escape")

        # Logs, log search (each hostile term, wrap off and on).
        table.select_task("cccc0003")
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.query_one(LogPane).ended)
        await pilot.press("g")
        check(app, "[/] [bold", "\\e]0;pwned\\x07")
        for wrap in (False, True):
            if wrap:
                await pilot.press("w")
            for term in ("[/]", "[bold", CLICK, "漢字", "\\e[2J", LONG[:500]):
                await pilot.press("slash")
                await type_text(pilot, term[:40])
                await pilot.press("enter")
                check(app)
            await pilot.press("slash")
            paste(app, PASTED)
            await pilot.pause()
            check(app, "␛[2J␛[H")
            await pilot.press("enter", "w", "t")
            check(app)
        await pilot.press("escape")

        # The new-task form: markup and escapes typed, pasted and refused; then submitted.
        await pilot.press("n")
        assert isinstance(app.screen, NewTaskScreen)
        await type_text(pilot, "echo [/] [bold")
        paste(app, PASTED)
        await pilot.press("tab")
        await type_text(pilot, "[bold")
        check(app, "memory='[bold' is not a decimal number", "␛[2J␛[H")
        app.screen.query_one("#field-memory").value = LONG
        await pilot.pause()
        check(app)
        app.screen.query_one("#field-memory").value = ""
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "could not start the task" in notices(app))
        check(app)
        assert "starting: echo [/] [bold[/] [bold [@click=app.quit]x" in notices(app)

        # The rerun form, filled with a command that holds real escapes.
        table.select_task("bbbb0002")
        table.focus()
        await pilot.press("R", "home")
        assert isinstance(app.screen, NewTaskScreen)
        check(app, "Rerun task bbbb0002", "␛[1mbold")
        assert app.screen.query_one("#field-command").value == HOSTILE  # kept exactly, only drawn safely
        await pilot.press("escape")

        # The questions before stop and delete, and the notification after a failed stop.
        table.select_task("aaaa0001")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        check(app, CLICK)
        await pilot.press("y")
        await wait_for(pilot, lambda: "could not stop aaaa0001" in notices(app))
        check(app)
        table.select_task("cccc0003")
        await pilot.press("D")
        assert isinstance(app.screen, ConfirmScreen)
        check(app, "Delete task cccc0003?")
        await pilot.press("n")

        # The keymap.
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeymapScreen)
        check(app)
        await pilot.press("escape")

        # A console: its status line names the command; its terminal is fed what a program may write.
        await pilot.press("c")
        app.screen.query_one("#field-command").value = HOSTILE
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.screen.finished)
        app.screen.terminal.feed(ESCAPES.encode() + MARKUP.encode() + "\u009b2J".encode())
        await pilot.pause(0.2)
        check(app, "could not start", "[/] [bold")
        await pilot.press("space")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConsoleScreen))
        check(app)
