"""The top bar: what the list shows on the left, where tapit is connected on the right.

The right side keeps its width and the left gives way (cut with an ellipsis), so at 80
columns the address an operator is looking at stays on screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Static


class TopBar(Horizontal):
    DEFAULT_CSS = """
    TopBar { height: 1; padding: 0 1; background: $panel; }
    TopBar #topbar-left { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    TopBar #topbar-right { width: auto; max-width: 70%; text-wrap: nowrap; text-overflow: ellipsis; padding-left: 2; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="topbar-left")
        yield Static(id="topbar-right")

    def update(self, left: Content, right: Content) -> None:
        self.query_one("#topbar-left", Static).update(left)
        self.query_one("#topbar-right", Static).update(right)
