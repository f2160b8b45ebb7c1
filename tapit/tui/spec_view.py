"""`y`: the job tapit submitted and its allocation, as Nomad returns them, as highlighted JSON
(k9s's `y`, wander's spec view). `c` copies what is shown (OSC 52), `t` switches between the two."""

from __future__ import annotations

import json
from typing import Callable

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from tapit.errors import TapitError
from tapit.model import NomadDocuments, TaskRecord
from tapit.output import plural, printable
from tapit.tui.safe_text import plain

DOCUMENTS = ("job", "allocation")


def as_json(document: dict | None) -> str:
    """Indented JSON, wide characters as they read. json.dumps escapes C0 controls itself; C1 ones
    (a lone CSI) it leaves, so each line is made printable too: nothing in a task reaches the terminal."""
    if document is None:
        return ""
    return "\n".join(map(printable, json.dumps(document, indent=2, ensure_ascii=False).split("\n")))


def highlighted(text: str) -> Text:
    """JSON as Rich text: keys, strings, numbers and literals in the highlighter's styles."""
    styled = Text(text, no_wrap=True, end="")
    JSONHighlighter().highlight(styled)
    return styled


class SpecScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,y", "leave", "Back"),
        Binding("t", "switch", "Job / allocation"),
        Binding("c", "copy", "Copy"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        Binding("g,home", "edge(0)", "Top", show=False),
        Binding("G,end", "edge(1)", "Bottom", show=False),
    ]
    DEFAULT_CSS = """
    SpecScreen #spec-title { height: 1; padding: 0 1; background: $panel; }
    SpecScreen #spec-body { height: 1fr; background: $surface; padding: 0 1; }
    SpecScreen #spec-body Static { width: auto; }
    """

    def __init__(self, record: TaskRecord, load: Callable[[], NomadDocuments]) -> None:
        """`load` reads the documents (from a thread: it talks to Nomad)."""
        super().__init__()
        self.record, self.load = record, load
        self.documents: NomadDocuments | None = None
        self.error: str | None = None
        self.shown = "job"

    def compose(self) -> ComposeResult:
        yield Static(id="spec-title")
        with VerticalScroll(id="spec-body"):
            yield Static(id="spec-text")
        yield Footer()

    def on_mount(self) -> None:
        self._draw()
        self._load()

    @work(thread=True)
    def _load(self) -> None:
        try:
            documents = self.load()
        except TapitError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._loaded, documents)

    def _loaded(self, documents: NomadDocuments) -> None:
        self.documents = documents
        self._draw()

    def _failed(self, error: str) -> None:
        self.error = error
        self._draw()

    def text(self) -> str:
        """The JSON shown now ("" when Nomad has none)."""
        return as_json(getattr(self.documents, self.shown)) if self.documents else ""

    def _draw(self) -> None:
        other = DOCUMENTS[1 - DOCUMENTS.index(self.shown)]
        title = f"task {self.record.id} · {self.shown} as Nomad returns it · t: {other}"
        self.query_one("#spec-title", Static).update(plain(title, "bold"))
        body = self.query_one("#spec-text", Static)
        if self.error:
            body.update(plain(self.error, "$error"))
        elif self.documents is None:
            body.update(plain("loading…", "$text-muted"))
        elif not self.text():
            gone = "not placed yet, or collected by Nomad" if self.shown == "allocation" else "purged or collected"
            body.update(plain(f"Nomad has no {self.shown} for this task ({gone})", "$text-muted"))
        else:
            body.update(highlighted(self.text()))

    def action_leave(self) -> None:
        self.app.pop_screen()

    def action_switch(self) -> None:
        self.shown = DOCUMENTS[1 - DOCUMENTS.index(self.shown)]
        self.query_one("#spec-body", VerticalScroll).scroll_home(animate=False)
        self._draw()

    def action_copy(self) -> None:
        text = self.text()
        if text:
            self.app.copy_to_clipboard(text)
            self.app.notify(f"copied the {self.shown} ({plural(text.count(chr(10)) + 1, 'line')})", timeout=2)

    def action_scroll(self, delta: int) -> None:
        self.query_one("#spec-body", VerticalScroll).scroll_relative(y=delta, animate=False)

    def action_edge(self, end: int) -> None:
        body = self.query_one("#spec-body", VerticalScroll)
        body.scroll_end(animate=False) if end else body.scroll_home(animate=False)
