"""The embedded terminal: a pane fed by an exec session — a console task's, or a shell in any task.

The emulator only parses as output arrives and marks rows dirty; a 30 Hz tick
repaints just those rows through the line API, so a flood of output costs one
repaint per frame rather than one per packet (textual-tty's design), and whole-screen
repaints (a scrolling flood) come at most 15 times a second. Keys are
translated to the bytes a terminal sends (xterm conventions, with DECCKM for
the arrows), the pane's size is the terminal's size, and lines scrolled off the
top are kept for scrollback (shift+pageup). The emulator is tapit.tui.terminal_screen.
A session's screen outlives leaving it: `ctrl+]` detaches (tapit.tui.sessions keeps it).
"""

from __future__ import annotations

import asyncio
import math
import time
from itertools import groupby, repeat, starmap
from operator import itemgetter
from typing import Any, Awaitable, Callable, Coroutine

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
from tapit.tui.terminal_screen import TerminalScreen, TerminalStream
from tapit.service.consoles import Console, ConsoleError, Exited, Output, start_console

TICK_S = 1 / 30
FLOOD_FRAME_S = 1 / 15
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
CONSOLE_KEYS = Content.styled("   ctrl+] detach · shift+pgup scrollback", "$text-muted")


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


# A cell's text (the second cell of a wide character is empty) and what its style depends on.
CELL_TEXT = itemgetter(0)
CELL_ATTRS = itemgetter(1, 2, 3, 4, 5, 6, 7)
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


class TerminalView(Widget, can_focus=True):
    """A terminal screen: output goes in with `feed`, keys come out through `send`."""

    DEFAULT_CSS = "TerminalView { background: $background; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.screen_ = TerminalScreen(80, 24)
        self.stream = TerminalStream(self.screen_)
        self.send: Callable[[bytes], Coroutine[Any, Any, None]] | None = None
        self.on_size: Callable[[int, int], Awaitable[None]] | None = None
        self.back = 0  # rows scrolled back into the scrollback
        self._styles: dict[tuple, Style] = {}
        self._styles_base: Style | None = None
        self._base: Style | None = None
        self._cursor_row = 0
        self._repainted_at = -math.inf
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
            now = time.monotonic()
            if now - self._repainted_at < FLOOD_FRAME_S:
                return  # output pouring in: whole-screen repaints at a lower rate leave the time to parsing
            self._repainted_at = now
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

    def _style(self, attrs: tuple, base: Style) -> Style:
        """The widget's style with a cell's attributes (fg, bg, bold, italics, underscore, strikethrough, reverse)."""
        if base is not self._styles_base:
            self._styles, self._styles_base = {}, base
        style = self._styles.get(attrs)
        if style is None:
            fg, bg, bold, italics, underscore, strikethrough, reverse = attrs
            style = self._styles[attrs] = base + Style(
                color=rich_color(fg),
                bgcolor=rich_color(bg),
                bold=bold or None,
                italic=italics or None,
                underline=underscore or None,
                strike=strikethrough or None,
                reverse=reverse or None,
            )
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None

    def render_line(self, y: int) -> Strip:
        screen, width = self.screen_, self.size.width
        # Textual works the style out from the CSS at each call, which costs more than the row itself.
        base = self._base = self._base or self.rich_style
        if y < self.back:
            history = screen.scrollback
            row, cursor_x = history[len(history) - self.back + y], -1
        elif y - self.back < screen.lines:
            row = screen.buffer[y - self.back]
            on_cursor = y - self.back == screen.cursor.y and not screen.cursor.hidden and self.has_focus
            cursor_x = screen.cursor.x if on_cursor else -1
        else:
            return Strip.blank(width, base)
        # Whole runs of equally styled cells make one segment each; the loops run in C (map, groupby).
        drawn = min(screen.columns, width)
        cells = row[:drawn]  # a scrollback row keeps the width it had when it scrolled off
        cells.extend(repeat(screen.default_char, drawn - len(cells)))
        if 0 <= cursor_x < len(cells):
            cell = cells[cursor_x]
            cells[cursor_x] = cell._replace(reverse=not cell.reverse)
        texts_styles = [
            ("".join(map(CELL_TEXT, run)), self._style(attrs, base)) for attrs, run in groupby(cells, CELL_ATTRS)
        ]
        segments = list(starmap(Segment, texts_styles))
        if all(text.isascii() for text, _ in texts_styles):
            # One cell per character: the row is len(cells) wide, so the strip is made at its width
            # at once (crop_extend would make two more, and a Strip costs seven caches to make).
            if len(cells) < width:
                segments.append(Segment(" " * (width - len(cells)), base))
            return Strip(segments, width)
        return Strip(segments).crop_extend(0, width, base)


class ConsoleEnded(Message):
    """A console session is over: the task list shows its final record."""

    def __init__(self, record: TaskRecord | None) -> None:
        super().__init__()
        self.record = record


class SessionScreen(Screen[None]):
    """A terminal session in a pane. `ctrl+]` detaches: the session runs on (a console under its
    idle deadline), the task list comes back, and `e` on the task returns to it. Subclasses say
    how the session opens (`_open`) and how it is wound up (`_finish`)."""

    BINDINGS = [Binding("ctrl+right_square_bracket", "detach", "Detach (e on the task returns)", priority=True)]

    def __init__(self, service: TaskService) -> None:
        super().__init__()
        self.service = service
        self.session = None
        self.finished = False
        self.ended = asyncio.Event()  # set once the session is over and wound up
        self.on_detach: Callable[["SessionScreen"], None] = lambda screen: None
        self.on_close: Callable[["SessionScreen"], None] = lambda screen: None

    # What the subclasses provide.
    label = "session"
    how_to_end = "exit in it"

    @property
    def task_id(self) -> str | None:
        """The task the session is in, once known."""
        return None

    async def _open(self):
        """Blocking work in a thread: the object whose `session()` runs (TapitError when it cannot)."""
        raise NotImplementedError

    async def _finish(self, ending: str) -> str:
        """After the session: the line that says how it ended."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(id="console-status")
        yield TerminalView(id="terminal")

    @property
    def terminal(self) -> TerminalView:
        return self.query_one(TerminalView)

    def on_mount(self) -> None:
        self._status("starting…")
        self.terminal.focus()
        self._run()

    def _status(self, message: str | Content) -> None:
        self.query_one("#console-status", Static).update(
            Content.assemble(
                plain(f"{self.label} · ", "bold"),
                self._subject(),
                " · ",
                message if isinstance(message, Content) else plain(message),
                "" if self.finished else CONSOLE_KEYS,
            )
        )

    def _subject(self) -> Content:
        raise NotImplementedError

    @work(exclusive=True, group="console")
    async def _run(self) -> None:
        try:
            source = await self._open()
        except TapitError as exc:
            self._ended(plain(f"could not start: {exc}", "$error"))
            return
        terminal = self.terminal
        ending = "session ended"
        try:
            async with source.session(
                tty=True, rows=terminal.rows, cols=terminal.cols, term="xterm-256color", on_notice=self._notice
            ) as session:
                self.session = session
                terminal.send, terminal.on_size = session.send_stdin, session.resize
                self._status(CONNECTED)
                async for event in session:
                    if isinstance(event, Output):
                        terminal.feed(event.data)
                    elif isinstance(event, Exited):
                        ending = f"exited with code {source.exit_status()}"
        except ConsoleError as exc:
            ending = str(exc)
        finally:
            self.session = None
            terminal.send = terminal.on_size = None
            ending = await self._finish(ending)
        terminal.feed(f"\r\n\x1b[7m {printable(ending)} \x1b[0m\r\n".encode())
        self._ended(f"{ending}; any key closes")

    def _notice(self, message: str) -> None:
        self.terminal.feed(f"\r\n\x1b[33m{printable(message)}\x1b[0m\r\n".encode())
        if not self.is_current:  # detached: the warning would go unseen in the pane
            self.app.notify(f"{self.label} {self.task_id}: {message}", severity="warning", timeout=30)

    def _ended(self, message: str | Content) -> None:
        self.finished = True
        self._status(message)
        self.ended.set()
        if not self.is_current:
            words = message.plain if isinstance(message, Content) else message
            self.app.notify(f"{self.label} {self.task_id or ''} ended: {words}", timeout=10)
            self.on_close(self)

    def on_key(self, event: events.Key) -> None:
        # Keys the terminal did not take never reach the app's bindings: `c` typed while the
        # console starts must not open another console.
        event.stop()
        if self.finished:
            self.on_close(self)

    def action_detach(self) -> None:
        if self.finished:
            self.on_close(self)
        else:
            self.on_detach(self)

    async def end(self, reason: str) -> None:
        """End the session from this side (the task list's `x`, the TUI quitting)."""
        if self.session is not None:
            await self.session.end(reason)


class ConsoleScreen(SessionScreen):
    """A new console task: start it, run the session, close it (stop and purge), show how it ended."""

    label = "console"
    how_to_end = "exit in it, or x on its task"

    def __init__(self, service: TaskService, spec: TaskSpec) -> None:
        super().__init__(service)
        self.spec = spec
        self.console: Console | None = None

    @property
    def task_id(self) -> str | None:
        return self.console.record.id if self.console else None

    def _subject(self) -> Content:
        where = f"{self.console.record.id} · " if self.console else ""
        return plain(where + one_line(self.spec.command))

    async def _open(self) -> Console:
        app = self.app
        progress = lambda message: app.call_from_thread(self._status, message)  # noqa: E731
        self._status("starting a console task…")
        self.console = await asyncio.to_thread(start_console, self.service, self.spec, progress)
        return self.console

    async def _finish(self, ending: str) -> str:
        console = self.console
        assert console is not None  # a session finishes only once _open has started it
        record = await asyncio.to_thread(console.close)
        self.app.post_message(ConsoleEnded(record))
        return f"{console.end_reason or ending} ({record.status})"

    def _ended(self, message: str | Content) -> None:
        if self.console is None:  # it never started: the record says why
            self.app.post_message(ConsoleEnded(None))
        super()._ended(message)
