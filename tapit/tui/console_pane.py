"""The embedded console: a pyte terminal in a pane, fed by a console task's exec session.

The emulator only parses as output arrives and marks rows dirty; a 30 Hz tick
repaints just those rows through the line API, so a flood of output costs one
repaint per frame rather than one per packet (textual-tty's design). Keys are
translated to the bytes a terminal sends (xterm conventions, with DECCKM for
the arrows), the pane's size is the terminal's size, and lines scrolled off the
top are kept for scrollback (shift+pageup).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Awaitable, Callable

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.output import one_line, printable
from tapit.params import TaskSpec
from tapit.service import TaskService
from tapit.tui.safe_text import plain
from tapit.service.consoles import Console, ConsoleError, Exited, Output, start_console

SCROLLBACK = 5000
TICK_S = 1 / 30
DECCKM = 1 << 5  # pyte stores private modes shifted left by 5
BRACKETED_PASTE = 2004 << 5
CSI, SS3 = "\x1b[", "\x1bO"
SPECIAL = {
    "enter": "\r",
    "tab": "\t",
    "shift+tab": CSI + "Z",
    "escape": "\x1b",
    "backspace": "\x7f",
    "ctrl+h": "\x08",
    "insert": CSI + "2~",
    "delete": CSI + "3~",
    "pageup": CSI + "5~",
    "pagedown": CSI + "6~",
    "f1": SS3 + "P",
    "f2": SS3 + "Q",
    "f3": SS3 + "R",
    "f4": SS3 + "S",
    "f5": CSI + "15~",
    "f6": CSI + "17~",
    "f7": CSI + "18~",
    "f8": CSI + "19~",
    "f9": CSI + "20~",
    "f10": CSI + "21~",
    "f11": CSI + "23~",
    "f12": CSI + "24~",
    "ctrl+space": "\x00",
    "ctrl+at": "\x00",
    "ctrl+left_square_bracket": "\x1b",
    "ctrl+backslash": "\x1c",
    "ctrl+right_square_bracket": "\x1d",
    "ctrl+circumflex_accent": "\x1e",
    "ctrl+underscore": "\x1f",
}
CURSOR_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
MODIFIER_CODES = {"shift": 1, "alt": 2, "ctrl": 4}
CONNECTED = Content.from_markup("[$success]connected[/]")
CONSOLE_KEYS = Content.styled("   ctrl+] leaves · shift+pgup scrolls back", "$text-muted")


def key_bytes(key: str, character: str | None, app_cursor: bool = False) -> bytes | None:
    """The bytes an xterm sends for a Textual key, or None for keys a terminal cannot send."""
    if key in SPECIAL:
        return SPECIAL[key].encode()
    *modifiers, name = key.split("+")
    if name in CURSOR_KEYS:
        final = CURSOR_KEYS[name]
        if modifiers:
            code = 1 + sum(MODIFIER_CODES.get(m, 0) for m in modifiers)
            return f"{CSI}1;{code}{final}".encode()
        return ((SS3 if app_cursor else CSI) + final).encode()
    if modifiers == ["ctrl"] and len(name) == 1 and name.isalpha():
        return bytes([ord(name.lower()) & 0x1F])
    if modifiers and modifiers[0] == "alt" and character and len(character) == 1:
        return b"\x1b" + character.encode()
    if character and character.isprintable():
        return character.encode()
    return None


PALETTE = {"brown": "yellow", "brightbrown": "bright_yellow"}


def rich_color(name: str) -> str | None:
    if name == "default":
        return None
    if name in PALETTE:
        return PALETTE[name]
    if name.startswith("bright"):
        return "bright_" + name[6:]
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return "#" + name
    return name


class _Screen(pyte.Screen):
    """pyte's Screen keeping lines that scroll off the top, and answering terminal queries."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.scrollback: deque[dict] = deque(maxlen=SCROLLBACK)
        # Cells are immutable, so one per (attributes, character) serves every place it is drawn.
        self._cells: dict[pyte.screens.Char, dict[str, pyte.screens.Char]] = {}
        self.reply: Callable[[str], None] | None = None

    def draw(self, data: str) -> None:
        """pyte's draw, with a fast path for the common case: printable ASCII, auto-wrap, no insert mode.

        pyte builds a new Char per cell with `_replace` and asks wcwidth for every character;
        ASCII is one cell wide, so a row segment can be written as a slice. Everything else
        goes through pyte's own code.
        """
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        if (
            not (data.isascii() and data.isprintable())
            or pyte.modes.IRM in self.mode
            or pyte.modes.DECAWM not in self.mode
        ):
            super().draw(data)
            return
        cursor = self.cursor
        cells = self._cells.get(cursor.attrs)
        if cells is None:
            if len(self._cells) > 256:  # programs cycling through colours: keep it bounded
                self._cells.clear()
            cells = self._cells[cursor.attrs] = {}
        rest = tuple(cursor.attrs)[1:]
        while data:
            if cursor.x == self.columns:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            part, data = data[: self.columns - cursor.x], data[self.columns - cursor.x :]
            line, x = self.buffer[cursor.y], cursor.x
            for i, char in enumerate(part):
                cell = cells.get(char)
                if cell is None:
                    cell = cells[char] = pyte.screens.Char(char, *rest)
                line[x + i] = cell
            cursor.x = x + len(part)
        self.dirty.add(cursor.y)

    def index(self) -> None:
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0:
            self.scrollback.append(self.buffer[0])  # index() replaces row objects, it does not mutate them
        super().index()

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        super().resize(lines, columns)
        # pyte sets tab stops only at reset, for the initial width: a wider screen needs its own.
        self.tabstops = set(range(8, self.columns, 8))

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        # `CSI > 4;2 m` (xterm modifyOtherKeys, sent by vim) reaches here as private SGR, which
        # pyte 0.8.2 cannot take; it sets key reporting, not colours, so it is ignored.
        if not private:
            super().select_graphic_rendition(*attrs)

    def write_process_input(self, data: str) -> None:
        # Device attribute and cursor position reports: without them some programs hang.
        if self.reply is not None:
            self.reply(data)


class TerminalView(Widget, can_focus=True):
    """A terminal screen: output goes in with `feed`, keys come out through `send`."""

    DEFAULT_CSS = "TerminalView { background: $background; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.screen_ = _Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen_)
        self.send: Callable[[bytes], Awaitable[None]] | None = None
        self.on_size: Callable[[int, int], Awaitable[None]] | None = None
        self.back = 0  # rows scrolled back into the scrollback
        self._styles: dict[tuple, Style] = {}
        self._cursor_row = 0
        self.screen_.reply = lambda text: self._reply(text.encode())

    @property
    def rows(self) -> int:
        return self.screen_.lines

    @property
    def cols(self) -> int:
        return self.screen_.columns

    def on_mount(self) -> None:
        self.set_interval(TICK_S, self._tick)

    def feed(self, data: bytes) -> None:
        self.stream.feed(data)

    def _reply(self, data: bytes) -> None:
        if self.send is not None:
            asyncio.get_running_loop().create_task(self.send(data))

    def _tick(self) -> None:
        dirty = self.screen_.dirty
        if not dirty:
            return
        if self.back or len(dirty) > self.rows // 2:
            self.refresh()
        else:
            for y in dirty | {self._cursor_row, self.screen_.cursor.y}:
                self.refresh_line(y)
        dirty.clear()
        self._cursor_row = self.screen_.cursor.y

    def refresh_line(self, y: int) -> None:
        self.refresh(Region(0, y, self.size.width, 1))

    async def on_resize(self, event: events.Resize) -> None:
        rows, cols = max(2, self.size.height), max(10, self.size.width)
        if (rows, cols) != (self.rows, self.cols):
            self.screen_.resize(rows, cols)
            self.refresh()
            if self.on_size is not None:
                await self.on_size(rows, cols)

    # --- input -----------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        data = key_bytes(event.key, event.character, DECCKM in self.screen_.mode)
        if event.key in ("shift+pageup", "shift+pagedown"):
            self._scroll_back(self.rows // 2 * (1 if event.key == "shift+pageup" else -1))
        elif data is not None and self.send is not None:
            self._scroll_back(-self.back)
            await self.send(data)
        else:
            return
        event.stop()
        event.prevent_default()

    async def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.send is None:
            return
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if BRACKETED_PASTE in self.screen_.mode:
            text = f"{CSI}200~{text}{CSI}201~"
        await self.send(text.encode())

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll_back(3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll_back(-3)

    def _scroll_back(self, delta: int) -> None:
        back = max(0, min(len(self.screen_.scrollback), self.back + delta))
        if back != self.back:
            self.back = back
            self.refresh()

    # --- rendering ---------------------------------------------------------------

    def _style(self, char) -> Style:
        key = (char.fg, char.bg, char.bold, char.italics, char.underscore, char.strikethrough, char.reverse)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(
                color=rich_color(char.fg),
                bgcolor=rich_color(char.bg),
                bold=char.bold or None,
                italic=char.italics or None,
                underline=char.underscore or None,
                strike=char.strikethrough or None,
                reverse=char.reverse or None,
            )
        return style

    def render_line(self, y: int) -> Strip:
        screen, width = self.screen_, self.size.width
        base = self.rich_style
        if y < self.back:
            history = screen.scrollback
            row, cursor_x = history[len(history) - self.back + y], -1
        elif y - self.back < screen.lines:
            row = screen.buffer[y - self.back]
            on_cursor = y - self.back == screen.cursor.y and not screen.cursor.hidden and self.has_focus
            cursor_x = screen.cursor.x if on_cursor else -1
        else:
            return Strip.blank(width, base)
        segments: list[Segment] = []
        text: list[str] = []
        key = run = None
        default = screen.default_char
        for x in range(min(screen.columns, width)):
            char = row.get(x, default)
            if x == cursor_x:
                char = char._replace(reverse=not char.reverse)
            char_key = char[1:8] if x != cursor_x else None  # the cursor cell is a run of its own
            if not text or char_key is None or char_key != key:
                if text:
                    segments.append(Segment("".join(text), base + self._style(run)))
                text, key, run = [], char_key, char
            text.append(char.data or " ")  # the second cell of a wide character is empty
        if text:
            segments.append(Segment("".join(text), base + self._style(run)))
        return Strip(segments).crop_extend(0, width, base)


class ConsoleEnded(Message):
    """A console session is over: the task list shows its final record."""

    def __init__(self, record: TaskRecord | None) -> None:
        super().__init__()
        self.record = record


class ConsoleScreen(Screen[None]):
    """A console task in a terminal pane: start it, run the session, close it, show how it ended."""

    BINDINGS = [Binding("ctrl+right_square_bracket", "leave", "Leave console", priority=True)]

    def __init__(self, service: TaskService, spec: TaskSpec) -> None:
        super().__init__()
        self.service, self.spec = service, spec
        self.console: Console | None = None
        self.session = None
        self.finished = False

    def compose(self) -> ComposeResult:
        yield Static(id="console-status")
        yield TerminalView(id="terminal")

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    def on_mount(self) -> None:
        self._status("starting a console task…")
        self.terminal.focus()
        self._run()

    def _status(self, message: str | Content) -> None:
        where = f"console {self.console.record.id} · " if self.console else "console · "
        self.query_one("#console-status", Static).update(
            Content.assemble(
                plain(where, "bold"),
                plain(one_line(self.spec.command)),
                " · ",
                message if isinstance(message, Content) else plain(message),
                CONSOLE_KEYS,
            )
        )

    @work(exclusive=True, group="console", exit_on_error=False)
    async def _run(self) -> None:
        app = self.app
        progress = lambda message: app.call_from_thread(self._status, message)  # noqa: E731
        try:
            self.console = await asyncio.to_thread(start_console, self.service, self.spec, progress)
        except TapitError as exc:
            self._ended(plain(f"could not start: {exc}", "$error"))
            return
        terminal = self.terminal
        ending = "session ended"
        try:
            async with self.console.session(
                tty=True, rows=terminal.rows, cols=terminal.cols, term="xterm-256color", on_notice=self._notice
            ) as session:
                self.session = session
                terminal.send, terminal.on_size = session.send_stdin, session.resize
                self._status(CONNECTED)
                async for event in session:
                    if isinstance(event, Output):
                        terminal.feed(event.data)
                    elif isinstance(event, Exited):
                        ending = f"exited with code {self.console.exit_status()}"
        except ConsoleError as exc:
            ending = str(exc)
        finally:
            self.session = None
            terminal.send = terminal.on_size = None
            record = await asyncio.to_thread(self.console.close)
        if self.console.end_reason:
            ending = self.console.end_reason
        terminal.feed(f"\r\n\x1b[7m {printable(ending)} \x1b[0m\r\n".encode())
        self._ended(f"{ending} ({record.status}); any key closes")

    def _notice(self, message: str) -> None:
        self.terminal.feed(f"\r\n\x1b[33m{printable(message)}\x1b[0m\r\n".encode())

    def _ended(self, message: str | Content) -> None:
        self.finished = True
        self._status(message)
        self.app.post_message(ConsoleEnded(self.console.record if self.console else None))

    def on_key(self, event: events.Key) -> None:
        # Keys the terminal did not take never reach the app's bindings: `c` typed while the
        # console starts must not open another console.
        event.stop()
        if self.finished:
            self.dismiss()

    async def action_leave(self) -> None:
        if self.session is not None:
            await self.session.end("left the console (ctrl+])")
        elif self.finished or self.console is None:
            self.dismiss()
