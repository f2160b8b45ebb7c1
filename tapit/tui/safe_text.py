"""Text from tasks, Nomad and errors, made into Textual Content: shown, never obeyed.

A command, an initiator, a reason, a search term or an error message may hold `[/]`,
`[@click=app.quit]` or escape sequences. Textual reads a string given to Static, Label or
notify as markup, and its Content keeps ESC, which would reach the real terminal. So data
reaches a widget only as Content built here, with control characters shown as escapes as
the CLI prints them (`tapit.output.printable`); styles come from constant markup or names.
"""

from __future__ import annotations

from rich.highlighter import Highlighter
from rich.text import Text
from textual.content import Content
from textual.widgets import Input

from tapit.output import printable


def plain(text: str, style: str = "") -> Content:
    """`text` exactly as it reads, in one style."""
    return Content.styled(printable(text), style)


def template(markup: str, **values: object) -> Content:
    """Constant markup whose `$name` fields are filled with data, as text (Content.from_markup's variables)."""
    return Content.from_markup(markup, **{name: printable(str(value)) for name, value in values.items()})


# One picture per control character (U+2400 block; C1 has none), so an input's cursor and
# cells stay where the characters are.
CONTROL_PICTURES = (
    {code: 0x2400 + code for code in range(0x20)} | {0x7F: 0x2421} | dict.fromkeys(range(0x80, 0xA0), "�")
)


class ControlPictures(Highlighter):
    def highlight(self, text: Text) -> None:
        if not text.plain.isprintable():
            text.plain = text.plain.translate(CONTROL_PICTURES)


class DataInput(Input):
    """An input whose value, typed, pasted or filled from a task, is kept exactly as it is
    but drawn with control characters as pictures (␛ for ESC), never sent to the terminal."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["highlighter"] = ControlPictures()
        super().__init__(*args, **kwargs)
