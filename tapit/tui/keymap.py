"""`?`: every key, grouped by where it applies, read from the widgets' own bindings
so the help can never disagree with what the keys do."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


def describe(bindings: list[BindingType], display: Callable[[Binding], str]) -> list[tuple[str, str]]:
    """(keys as the footer shows them, what they do) per binding."""
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding):
            keys = " ".join(display(Binding(k.strip(), binding.action)) for k in binding.key.split(","))
            rows.append((keys, binding.description))
    return rows


def keymap_text(sections: list[tuple[str, list[BindingType]]], display: Callable[[Binding], str]) -> Content:
    lines = []
    for title, bindings in sections:
        lines.append(Content.styled(title, "bold $accent"))
        lines += [
            Content.assemble("  ", (keys.ljust(24), "bold"), " ", what) for keys, what in describe(bindings, display)
        ]
        lines.append(Content())
    return Content("\n").join(lines[:-1])


class KeymapScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
    ]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        # Only the keys the app allows now: a read-only app lists none that would change a task.
        allowed = [
            (
                title,
                [b for b in bindings if not isinstance(b, Binding) or self.app.check_action(b.action, ()) is not False],
            )
            for title, bindings in self.sections
        ]
        with VerticalScroll(id="keymap"):
            yield Static(keymap_text(allowed, self.app.get_key_display))
        yield Footer()  # this screen's keys, not the list's behind it

    def action_scroll(self, delta: int) -> None:
        self.query_one("#keymap", VerticalScroll).scroll_relative(y=delta, animate=False)
