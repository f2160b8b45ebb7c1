"""The console pane's drawing: rows changed by output are redrawn, and a row's strip is what the
cells say, at the pane's width."""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from tapit.tui.console_pane import TerminalView

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
SIZE = (40, 10)


class TerminalApp(App):
    def compose(self) -> ComposeResult:
        yield TerminalView()


def shown(view: TerminalView) -> list[str]:
    """The rows as the compositor gets them: from Textual's line cache, except for rows refreshed."""
    return [strip.text.rstrip() for strip in view.render_lines(Region(0, 0, *view.size))]


async def until_shown(pilot, view: TerminalView, row: int, text: str) -> list[str]:
    for _ in range(100):  # ticks come 30 times a second; a row never redrawn never shows
        await pilot.pause(0.02)
        rows = shown(view)
        if rows[row] == text:
            break
    return rows


async def test_a_row_written_away_from_the_cursor_is_redrawn():
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TerminalView)
        view.feed(b"".join(b"row %d\r\n" % i for i in range(5)) + b"last")
        rows = await until_shown(pilot, view, 5, "last")
        assert rows[:6] == ["row 0", "row 1", "row 2", "row 3", "row 4", "last"]
        # Row 2 changes and the cursor goes back to the top: only the dirty set says row 2 changed.
        view.feed(b"\x1b[3;1H\x1b[2Kchanged\x1b[1;1H")
        rows = await until_shown(pilot, view, 2, "changed")
        assert rows[:6] == ["row 0", "row 1", "changed", "row 3", "row 4", "last"]


async def test_a_flood_of_output_ends_on_screen():
    """Whole-screen repaints are rate-limited while output pours in; the last screen still shows."""
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause()
        for i in range(2000):
            view.feed(b"line %d\r\n" % i)
        rows = await until_shown(pilot, view, view.rows - 2, "line 1999")
        assert rows[: view.rows - 1] == [f"line {i}" for i in range(2000 - view.rows + 1, 2000)]


async def test_a_row_strip_is_its_cells_at_the_pane_width():
    app = TerminalApp()
    async with app.run_test(size=SIZE) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause()
        view.feed("\x1b[1;31mred\x1b[0m plain\r\n漢字 wide \x1b[7mrev\x1b[0m\r\n".encode())
        await pilot.pause()
        width = view.size.width
        for y, text in ((0, "red plain"), (1, "漢字 wide rev")):
            strip = view.render_line(y)
            assert strip.cell_length == width
            assert sum(segment.cell_length for segment in strip) == width
            assert strip.text.rstrip() == text
        red = next(segment for segment in view.render_line(0) if segment.text == "red")
        assert red.style is not None and red.style.bold and red.style.color.name == "red"
        after = list(view.render_line(0))[1]
        assert after.text.startswith(" plain") and after.style == view.rich_style + Style()
