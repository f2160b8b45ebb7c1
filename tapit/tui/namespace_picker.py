"""`:`: which namespace the list shows, `*` for every namespace the token may read."""

from __future__ import annotations

from typing import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tapit.errors import TapitError
from tapit.tui.safe_text import plain

EVERY = "*"


class NamespacePicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    NamespacePicker { align: center middle; }
    #namespaces { width: 50; max-width: 100%; height: auto; max-height: 80%; border: thick $primary; background: $surface; padding: 0 1; }
    #namespaces OptionList { height: auto; max-height: 20; border: none; }
    """

    def __init__(self, current: str, load: Callable[[], list[str]]) -> None:
        """`load` lists the namespaces (from a thread: it asks Nomad)."""
        super().__init__()
        self.current, self.load = current, load

    def compose(self) -> ComposeResult:
        with Vertical(id="namespaces"):
            yield Static(plain("Show the tasks of namespace", "bold"))
            yield OptionList(id="namespace-list")
            yield Static(id="namespace-note")
        yield Footer()

    def on_mount(self) -> None:
        self._fill([self.current])
        self.query_one(OptionList).focus()
        self._load()

    def _fill(self, names: list[str]) -> None:
        names = [EVERY] + sorted(set(names) - {EVERY})
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            Option(plain(f"{name}  (every namespace)" if name == EVERY else name), id=name) for name in names
        )
        options.highlighted = names.index(self.current) if self.current in names else 0

    @work(thread=True)
    def _load(self) -> None:
        try:
            names = self.load()
        except TapitError as exc:
            self.app.call_from_thread(self.query_one("#namespace-note", Static).update, plain(str(exc), "$error"))
            return
        self.app.call_from_thread(self._fill, [self.current, *names])

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
