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

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Kept, not queried: the connection state can arrive before they are mounted or after
        # the app has taken them down on its way out.
        self.left, self.right = Static(id="topbar-left"), Static(id="topbar-right")

    def compose(self) -> ComposeResult:
        yield self.left
        yield self.right

    def update(self, left: Content, right: Content) -> None:
        self.left.update(left)
        self.right.update(right)
