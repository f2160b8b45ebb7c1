"""The log viewer: a line-API widget for 100,000+ lines of stdout and stderr.

Like toolong, it stores raw lines and renders only the rows on screen, parsing
ANSI colours lazily into a small cache, so ingest is a list append and a
repaint costs the same at line 10 as at line 1,000,000. Wrapping is a row
index computed from line widths, so it re-flows on resize without re-reading
anything. Following is "the view is at the bottom": scrolling up pauses it and
reaching the bottom again resumes it.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Offset, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from tapit.output import plural
from tapit.tui.log_buffer import STREAMS, LogBuffer, log_text, plain_text, shown

# `L`: how much of a long log the view keeps, the newest part (None: all of it).
WINDOWS = (None, 1_000_000, 10_000_000)
MODES = ("both", "stdout", "stderr")


class LogView(ScrollView, can_focus=True):
    """Scrollable, searchable, wrappable view over a LogBuffer."""

    BINDINGS = [
        Binding("up,k", "scroll_lines(-1)", "Up", show=False),
        Binding("down,j", "scroll_lines(1)", "Down", show=False),
        Binding("left,h", "scroll_columns(-4)", "Left", show=False),
        Binding("right,l", "scroll_columns(4)", "Right", show=False),
        Binding("pageup,b,ctrl+b", "scroll_pages(-1)", "Page up", show=False),
        Binding("pagedown,space,ctrl+f", "scroll_pages(1)", "Page down", show=False),
        Binding("ctrl+u,u", "scroll_half(-1)", "Half up", show=False),
        Binding("ctrl+d,d", "scroll_half(1)", "Half down", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G,F", "follow", "Follow"),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Prev match"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("t", "cycle_streams", "Streams"),
        Binding("L", "cycle_window", "Size window", show=False),
        Binding("y", "copy_line", "Copy line"),
        Binding("Y", "copy_all", "Copy all", show=False),
    ]
    COMPONENT_CLASSES = {"log-view--stderr", "log-view--match", "log-view--match-current", "log-view--ended"}

    class StateChanged(Message):
        """Following, wrap, stream mode, search or size changed: the pane's status line redraws."""

    # The view's state; each watcher re-indexes or tells the pane's status line.
    mode: reactive[str] = reactive("both", init=False, always_update=True, repaint=False)  # MODES
    wrap: reactive[bool] = reactive(False, init=False, repaint=False)
    following: reactive[bool] = reactive(True, init=False, repaint=False)  # the view is at the bottom

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buffer = LogBuffer()
        self.term = ""
        self.matches: list[int] = []  # positions in the view
        self.match_index = -1
        self._view: list[int] | None = None  # buffer line numbers shown; None: all of them
        self._row_ends: list[int] = []  # wrap: cumulative row count per view position
        self._wrap_width = 0
        self._texts: LRUCache[int, Text] = LRUCache(2048)
        self.window: int | None = None  # keep only the last this many characters; None: all

    # --- data ----------------------------------------------------------------

    def clear(self) -> None:
        self.buffer = LogBuffer()
        self._texts.clear()
        self._view = None if self.mode == "both" else []
        # Another task's logs: the last search belonged to the last task.
        self.term, self.matches, self.match_index = "", [], -1
        self._row_ends = []
        self._update_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.following = True
        self.post_message(self.StateChanged())

    def feed(self, chunks: list[tuple[str, bytes]], ended: bool = False) -> None:
        """Add a batch of (log type, bytes) chunks; `ended` when no more will come."""
        follow = self.following
        start = len(self.buffer.lines)
        for log_type, data in chunks:
            self.buffer.feed(STREAMS.index(log_type), data)
        if ended:
            self.buffer.flush()
        added = range(start, len(self.buffer.lines))
        if not added:
            return
        # A quarter over before trimming: letting go of the head costs a pass over what is kept.
        if self.window is not None and self.buffer.chars > self.window * 1.25:
            self.buffer.keep_last(self.window)
            self._texts.clear()
            self.mode = self.mode  # positions, rows and matches of what is left (always_update)
            if follow:
                self._to_end()
            return
        self._extend_view(added)
        self._update_size()
        if follow:
            self._to_end()
        self.refresh()
        self.post_message(self.StateChanged())

    def _extend_view(self, added: range) -> None:
        # The first new view position: with both streams shown the view is the buffer, which already holds them.
        first = added.start if self._view is None else len(self._view)
        if self._view is not None:
            wanted = MODES.index(self.mode) - 1
            streams = self.buffer.streams
            self._view.extend(i for i in added if streams[i] == wanted)
        if self.wrap:
            self._extend_rows(first)
        if self.term:
            self._extend_matches(first)

    @property
    def view_length(self) -> int:
        return len(self.buffer.lines) if self._view is None else len(self._view)

    def _line_at(self, position: int) -> int:
        return position if self._view is None else self._view[position]

    # --- modes ---------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        self.mode = mode

    def watch_mode(self, mode: str) -> None:
        if mode == "both":
            self._view = None
        else:
            wanted = MODES.index(mode) - 1
            self._view = [i for i, s in enumerate(self.buffer.streams) if s == wanted]
        self._reindex()

    def set_wrap(self, wrap: bool) -> None:
        self.wrap = wrap

    def watch_wrap(self) -> None:
        self._reindex()

    def search(self, term: str) -> None:
        """Highlight `term` (case-insensitive) and move to its first match at or below the top line."""
        top = self._position_at_row(int(self.scroll_y))
        self.term = term.lower()
        self.matches, self.match_index = [], -1
        self._texts.clear()
        if self.term:
            self._extend_matches(0)
            if self.matches:
                self.match_index = bisect_right(self.matches, top - 1) % len(self.matches)
                self._scroll_to_match()
        self.refresh()
        self.post_message(self.StateChanged())

    def _reindex(self) -> None:
        self._row_ends = []
        if self.wrap:
            self._extend_rows(0)
        if self.term:
            self.matches, self.match_index = [], -1
            self._extend_matches(0)
        self._texts.clear()
        self._update_size()
        if self.following:
            self._to_end()
        self.refresh()
        self.post_message(self.StateChanged())

    def _extend_matches(self, first: int) -> None:
        lines, term = self.buffer.lines, self.term
        self.matches.extend(p for p in range(first, self.view_length) if term in shown(lines[self._line_at(p)]).lower())

    # --- wrapping --------------------------------------------------------------

    @property
    def _gutter(self) -> int:
        return 1 if self.mode == "both" else 0

    def _text_width(self) -> int:
        return max(8, self.size.width - self._gutter - (1 if self.show_vertical_scrollbar else 0))

    def _extend_rows(self, first: int) -> None:
        width = self._wrap_width = self._text_width()
        widths = self.buffer.widths
        counts = (max(1, -(-widths[self._line_at(p)] // width)) for p in range(first, self.view_length))
        running = self._row_ends[-1] if self._row_ends else 0
        self._row_ends.extend(end + running for end in accumulate(counts))

    def _rows(self) -> int:
        if not self.wrap:
            return self.view_length
        return self._row_ends[-1] if self._row_ends else 0

    def _position_at_row(self, row: int) -> int:
        """The view position shown on a (scrolled) row."""
        return bisect_right(self._row_ends, row) if self.wrap else row

    def _first_row_of(self, position: int) -> int:
        if not self.wrap:
            return position
        return self._row_ends[position - 1] if position else 0

    def _update_size(self) -> None:
        width = 0 if self.wrap else self.buffer.max_width + self._gutter
        self.virtual_size = Size(width, self._rows())

    def on_resize(self) -> None:
        if self.wrap and self._text_width() != self._wrap_width:
            self._reindex()
        else:
            self._update_size()
        # Output that arrived while the tab was hidden (no size yet) still ends at the bottom.
        if self.following:
            self._to_end()

    # --- scrolling -------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self.size.height:
            return  # not laid out yet: nothing was scrolled by anyone
        self.following = self.is_vertical_scroll_end

    def watch_following(self) -> None:
        self.post_message(self.StateChanged())

    def _to_end(self) -> None:
        # Widget.scroll_end waits for a refresh even when asked to be immediate; the row count
        # is known here, so the bottom is too.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def action_scroll_lines(self, delta: int) -> None:
        self.scroll_to(y=self.scroll_y + delta, animate=False)

    def action_scroll_columns(self, delta: int) -> None:
        if not self.wrap:
            self.scroll_to(x=self.scroll_x + delta, animate=False)

    def action_scroll_pages(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_y + direction * max(1, self.size.height - 1), animate=False)

    def action_scroll_half(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_y + direction * max(1, self.size.height // 2), animate=False)

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False)

    def action_follow(self) -> None:
        self._to_end()
        self.following = True

    def action_next_match(self, direction: int) -> None:
        if not self.matches:
            return
        self.match_index = (self.match_index + direction) % len(self.matches)
        self._scroll_to_match()
        self.refresh()
        self.post_message(self.StateChanged())

    def _scroll_to_match(self) -> None:
        row = self._first_row_of(self.matches[self.match_index])
        self.scroll_to(y=max(0, row - self.size.height // 3), animate=False, immediate=True)

    def action_toggle_wrap(self) -> None:
        self.set_wrap(not self.wrap)

    class WindowChanged(Message):
        """The size window changed: to show more than is kept, the pane reads the logs again."""

    def action_cycle_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        if self.window is not None and self.buffer.keep_last(self.window):
            self._texts.clear()
            self.mode = self.mode  # re-indexed (always_update)
        self.post_message(self.WindowChanged())
        self.post_message(self.StateChanged())

    def action_cycle_streams(self) -> None:
        self.set_mode(MODES[(MODES.index(self.mode) + 1) % len(MODES)])

    # --- rendering -------------------------------------------------------------

    def _text(self, line: int) -> Text:
        text = self._texts.get(line)
        if text is None:
            text = log_text(self.buffer.lines[line])
            if self.term:
                text.highlight_words(
                    [self.term], self.get_component_rich_style("log-view--match"), case_sensitive=False
                )
            self._texts[line] = text
        return text

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        row = int(self.scroll_y) + y
        if row >= self._rows():
            return Strip.blank(width, base)
        position = self._position_at_row(row)
        line = self._line_at(position)
        text = self._text(line)
        if self.matches and self.match_index >= 0 and self.matches[self.match_index] == position:
            text = text.copy()
            text.stylize(self.get_component_rich_style("log-view--match-current"))
        if self.wrap:
            sub = row - self._first_row_of(position)
            start = sub * self._wrap_width
            text = text[start : start + self._wrap_width]
        selected = self.text_selection.get_span(row) if self.text_selection else None
        if selected is not None:
            start, end = selected
            text = text.copy()
            text.stylize(
                self.screen.get_component_rich_style("screen--selection"), start, len(text) if end == -1 else end
            )
        segments = list(text.render(self.app.console))
        strip = Strip(segments).apply_style(base)
        if not self.wrap:
            strip = strip.crop_extend(int(self.scroll_x), int(self.scroll_x) + width - self._gutter, base)
        else:
            strip = strip.extend_cell_length(width - self._gutter, base)
        # Where each cell is in the text, so that a mouse selection knows what it covers (the gutter is no text).
        strip = strip.apply_offsets(0 if self.wrap else int(self.scroll_x), row)
        if self._gutter:
            stderr = self.buffer.streams[line] == 1
            mark = (
                Segment("▌", base + self.get_component_rich_style("log-view--stderr")) if stderr else Segment(" ", base)
            )
            strip = Strip([mark, *strip])
        return strip.crop(0, width)

    # --- copying (OSC 52, which reaches the operator's clipboard over SSH too) ----------------

    def _row_plain(self, row: int) -> str:
        position = self._position_at_row(row)
        plain = self._text(self._line_at(position)).plain
        if self.wrap:
            start = (row - self._first_row_of(position)) * self._wrap_width
            plain = plain[start : start + self._wrap_width]
        return plain

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The text a mouse selection covers; only its own rows are read, however long the log."""
        if not self._rows():
            return None
        first = selection.start.y if selection.start else 0
        last = min(selection.end.y if selection.end else self._rows() - 1, self._rows() - 1)
        rows = [self._row_plain(row) for row in range(first, last + 1)]
        # The same selection over just those rows: line 0 is the first of them.
        moved = Selection(
            selection.start and Offset(selection.start.x, 0), selection.end and Offset(selection.end.x, last - first)
        )
        return moved.extract("\n".join(rows)), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def current_line(self) -> str | None:
        """The line a copy takes: the current search match, else the last line on screen."""
        if not self.view_length:
            return None
        if self.matches and self.match_index >= 0:
            position = self.matches[self.match_index]
        else:
            bottom = min(int(self.scroll_y) + self.scrollable_content_region.height, self._rows()) - 1
            position = self._position_at_row(max(0, bottom))
        return self._text(self._line_at(position)).plain

    def action_copy_line(self) -> None:
        line = self.current_line()
        if line is not None:
            self.app.copy_to_clipboard(line)
            self.app.notify("copied 1 line to the clipboard", timeout=2)

    def action_copy_all(self) -> None:
        lines, streams = self.buffer.snapshot()
        text = plain_text(lines, streams, None if self.mode == "both" else STREAMS.index(self.mode))
        self.app.copy_to_clipboard(text)
        self.app.notify(f"copied {plural(text.count(chr(10)), 'line')} to the clipboard", timeout=2)
