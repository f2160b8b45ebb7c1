"""The terminal emulator behind the console pane: pyte's screen, made fast and given an alternate screen.

pyte parses one character at a time through a generator; that alone caps a console at about
1.3 MB/s. `TerminalStream` cuts the input into whole tokens with one regular expression — runs
of text, the common CSI sequences (SGR, cursor moves, erases, modes), C0 controls — and calls the
screen's methods for them directly; anything else (OSC titles, charsets, odd CSI forms, sequences
split across reads) goes through pyte's own parser, character by character, until that is back
in its ground state. The screen then writes ASCII runs as slices of shared cells and scrolls in
one dictionary rebuild, so the cost is per token and per line rather than per character.

A row is a list of exactly `columns` cells, where pyte keeps a dictionary of the cells written:
a run of text is then one slice assignment instead of a dictionary insert per character, and the
pane draws a row from one slice. The few pyte methods that treat a row as a dictionary (inserting
and deleting characters, erasing, DECSCNM, a resize) are overridden here for lists.

The alternate screen (`CSI ? 1049 h`, and the older 47/1047) is xterm's: full-screen programs
draw on a screen of their own, and when they leave, the shell's screen comes back as it was.
"""

from __future__ import annotations

import codecs
import re
from collections import defaultdict, deque
from collections.abc import Callable

import pyte
from pyte import modes
from pyte.charsets import LAT1_MAP as LATIN1

SCROLLBACK = 5000
# pyte stores private modes shifted left by 5 (pyte/screens.py set_mode).
ALT_SCREEN_SAVING_CURSOR = 1049 << 5
ALT_SCREENS = {47 << 5, 1047 << 5, ALT_SCREEN_SAVING_CURSOR}
REVERSE_SCREEN = modes.DECSCNM >> 5  # DECSCNM as `CSI ? 5 h` names it
# The sequences the fast path takes whole: CR LF, the C0 controls, and CSI with plain numeric
# parameters (`?` only right after the bracket, as programs send it). `split` leaves the text between them.
SEQUENCES = re.compile(r"(\r\n|[\x07-\x0d]|\x1b\[\??[0-9;]*[@-~])")
SGR_CACHE = 4096
INSERT, AUTOWRAP = modes.IRM, modes.DECAWM
# pyte's default_char, without and with DECSCNM (pyte/screens.py)
BLANK = pyte.screens.Char(data=" ", fg="default", bg="default", reverse=False)
BLANK_REVERSED = BLANK._replace(reverse=True)


class TerminalScreen(pyte.Screen):
    """pyte's Screen keeping lines that scroll off the top, with an alternate screen, answering queries."""

    # Rows are lists here, where pyte declares its dictionaries of cells.
    buffer: defaultdict[int, list[pyte.screens.Char]]  # type: ignore[assignment]

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.scrollback: deque[list[pyte.screens.Char]] = deque(maxlen=SCROLLBACK)
        # Cells are immutable, so one per (attributes, character) serves every place it is drawn.
        self._cells: dict[pyte.screens.Char, dict[str, pyte.screens.Char]] = {}
        self.reply: Callable[[str], None] | None = None
        self._sgr: dict[tuple[pyte.screens.Char, str], pyte.screens.Char] = {}
        # While `batching`, full-screen scrolls only count rows written below the screen (`overflow`);
        # the stream sets it for the tokens that write text and move down, and settles before anything else.
        self.batching = False
        self.overflow = 0
        self.buffer = self._fresh_buffer()  # pyte's __init__ made one of dictionaries

    def reset(self) -> None:
        # pyte's __init__ calls this too, so the attribute is first set here.
        self.main_screen: tuple[defaultdict[int, list[pyte.screens.Char]], pyte.screens.Cursor | None] | None = (
            None  # set while on the alternate
        )
        super().reset()

    @property
    def on_alternate(self) -> bool:
        return self.main_screen is not None

    @property
    def default_char(self) -> pyte.screens.Char:
        # pyte builds a new one at each call, and a scroll asks for one per new row.
        return BLANK_REVERSED if modes.DECSCNM in self.mode else BLANK

    def _fresh_buffer(self) -> defaultdict[int, list[pyte.screens.Char]]:
        return defaultdict(self._blank_row)

    def _blank_row(self) -> list[pyte.screens.Char]:
        return [self.default_char] * self.columns

    def draw(self, data: str) -> None:
        """pyte's draw, with a fast path for the common case: printable ASCII, auto-wrap, no insert mode.

        pyte builds a new Char per cell with `_replace` and asks wcwidth for every character;
        ASCII is one cell wide, so a row segment can be written as a slice of shared cells.
        Everything else goes through pyte's own code.
        """
        cursor, mode = self.cursor, self.mode
        if (
            self.charset  # Latin-1 (G0's default) leaves ASCII as it is; others need pyte's translation
            or self.g0_charset is not LATIN1
            or not (data.isascii() and data.isprintable())
            or INSERT in mode
            or AUTOWRAP not in mode
        ):
            self.settle()
            super().draw(data)
            return
        cells = self._cells.get(cursor.attrs) or self._cells_for(cursor.attrs)
        x, end = cursor.x, cursor.x + len(data)
        if end <= self.columns:  # the common case: it fits on the row
            self.buffer[cursor.y][x:end] = map(cells.__getitem__, data)
            cursor.x = end
            self.dirty.add(cursor.y)
            return
        while data:
            x = cursor.x
            if x == self.columns:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
                x = 0
            room = self.columns - x
            part, data = data[:room], data[room:]
            self.buffer[cursor.y][x : x + len(part)] = map(cells.__getitem__, part)
            cursor.x = x + len(part)
        self.dirty.add(cursor.y)

    def _cells_for(self, attrs: pyte.screens.Char) -> dict[str, pyte.screens.Char]:
        if len(self._cells) > 256:  # programs cycling through colours: keep it bounded
            self._cells.clear()
        cells = self._cells[attrs] = {chr(c): attrs._replace(data=chr(c)) for c in range(32, 127)}
        return cells

    def index(self) -> None:
        margins = self.margins
        if (
            self.batching
            and self.cursor.y >= self.lines - 1
            and (margins is None or (margins.top == 0 and margins.bottom == self.lines - 1))
        ):
            # A full-screen scroll inside a batch: the row below the screen is taken, and the
            # screen moves up once when the batch is settled, not once per line.
            self.cursor.y += 1
            self.overflow += 1
            return
        self.settle()
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.on_alternate:  # a program's frames are not history
            self.scrollback.append(self.buffer[0])  # rows are replaced, never mutated, when they scroll
        super().index()

    def settle(self) -> None:
        """Scroll the screen up past the rows written below it during a batch, in one rebuild."""
        if not self.overflow:
            return
        count, buffer = self.overflow, self.buffer
        self.overflow = 0
        if not self.on_alternate:
            self.scrollback.extend(map(buffer.__getitem__, range(count)))
        self.buffer = self._fresh_buffer()
        self.buffer.update(zip(range(self.lines), map(buffer.__getitem__, range(count, count + self.lines))))
        self.cursor.y -= count
        self.dirty = set(range(self.lines))

    def newline(self) -> None:
        """CR LF: whatever LNM says, the cursor ends at the start of the next row."""
        self.cursor.x = 0
        self.index()

    def graphic_rendition(self, params: str) -> None:
        """SGR from its parameter text; the same sequence on the same attributes gives the same result."""
        key = (self.cursor.attrs, params)
        attrs = self._sgr.get(key)
        if attrs is None:
            if len(self._sgr) > SGR_CACHE:
                self._sgr.clear()
            self.select_graphic_rendition(*(min(int(p or 0), 9999) for p in params.split(";")))
            attrs = self._sgr[key] = self.cursor.attrs
        self.cursor.attrs = attrs

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        columns = columns or self.columns
        if columns != self.columns:
            # pyte drops the cells past the new width from its dictionaries; rows here are cut or
            # padded, the main screen's too while a program has the alternate one.
            self.columns = columns
            self._fit_rows(self.buffer)
            if self.main_screen is not None:
                self._fit_rows(self.main_screen[0])
            self.cursor.x = min(self.cursor.x, columns)  # columns itself: a wrap still pending
            self.dirty.update(range(lines or self.lines))
            self.set_margins()  # as pyte's resize does at any change
        super().resize(lines, columns)
        # pyte sets tab stops only at reset, for the initial width: a wider screen needs its own.
        self.tabstops = set(range(8, self.columns, 8))

    def _fit_rows(self, buffer: dict[int, list[pyte.screens.Char]]) -> None:
        columns, blank = self.columns, self.default_char
        for row in buffer.values():
            del row[columns:]
            row.extend([blank] * (columns - len(row)))

    def insert_characters(self, count: int | None = None) -> None:
        """ICH: blanks at the cursor, the rest of the row pushed right and cut at the edge (pyte's, on a list)."""
        self.dirty.add(self.cursor.y)
        row, x = self.buffer[self.cursor.y], self.cursor.x
        row[x:x] = [self.default_char] * min(count or 1, self.columns)
        del row[self.columns :]

    def delete_characters(self, count: int | None = None) -> None:
        """DCH: the rest of the row pulled left over the cursor, blanks coming in at the edge."""
        self.dirty.add(self.cursor.y)
        row = self.buffer[self.cursor.y]
        del row[self.cursor.x : self.cursor.x + (count or 1)]
        row.extend([self.default_char] * (self.columns - len(row)))

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        """EL with the cursor's attributes; the cursor may stand just past the edge, a wrap pending."""
        self.dirty.add(self.cursor.y)
        start, end = {0: (self.cursor.x, self.columns), 1: (0, self.cursor.x + 1)}.get(how, (0, self.columns))
        end = min(end, self.columns)
        self.buffer[self.cursor.y][start:end] = [self.cursor.attrs] * max(0, end - start)

    def erase_in_display(self, how: int = 0, *args, **kwargs) -> None:
        """ED: pyte erases only the cells a row's dictionary holds; here every cell, as xterm does."""
        # 3 (the scrollback too, in xterm) erases the screen, as in pyte
        interval = {0: range(self.cursor.y + 1, self.lines), 1: range(self.cursor.y)}.get(how, range(self.lines))
        self.dirty.update(interval)
        for y in interval:
            self.buffer[y] = [self.cursor.attrs] * self.columns
        if how in (0, 1):
            self.erase_in_line(how)

    def set_mode(self, *codes: int, **kwargs) -> None:
        if kwargs.get("private"):
            shifted = {code << 5 for code in codes} & ALT_SCREENS
            if shifted and not self.on_alternate:
                self._enter_alternate(save_cursor=ALT_SCREEN_SAVING_CURSOR in shifted)
            codes = self._reverse_screen(codes, on=True)
        super().set_mode(*codes, **kwargs)

    def reset_mode(self, *codes: int, **kwargs) -> None:
        if kwargs.get("private"):
            codes = self._reverse_screen(codes, on=False)
        super().reset_mode(*codes, **kwargs)
        if kwargs.get("private") and self.on_alternate and {code << 5 for code in codes} & ALT_SCREENS:
            self._leave_alternate()

    def _reverse_screen(self, codes: tuple[int, ...], on: bool) -> tuple[int, ...]:
        """DECSCNM as pyte's set_mode and reset_mode do it, on list rows; the other private codes are left to pyte."""
        if REVERSE_SCREEN not in codes:
            return codes
        if on:
            self.mode.add(modes.DECSCNM)
        else:
            self.mode.discard(modes.DECSCNM)
        self.dirty.update(range(self.lines))
        for row in self.buffer.values():
            row[:] = [cell._replace(reverse=on) for cell in row]
        self.select_graphic_rendition(7 if on else 27)
        return tuple(code for code in codes if code != REVERSE_SCREEN)

    def _enter_alternate(self, save_cursor: bool) -> None:
        cursor = pyte.screens.Cursor(self.cursor.x, self.cursor.y, self.cursor.attrs) if save_cursor else None
        self.main_screen = (self.buffer, cursor)
        self.buffer = self._fresh_buffer()  # xterm clears the alternate screen on the way in
        self.dirty.update(range(self.lines))

    def _leave_alternate(self) -> None:
        assert self.main_screen is not None  # reset_mode leaves only while on the alternate screen
        buffer, cursor = self.main_screen
        self.main_screen = None
        self.buffer = buffer
        if cursor is not None:
            cursor.hidden = self.cursor.hidden
            self.cursor = cursor
        # The screen may have been resized meanwhile (its rows were fitted with the alternate's); the cursor stays on it.
        self.ensure_hbounds()
        self.ensure_vbounds()
        self.dirty.update(range(self.lines))

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        # `CSI > 4;2 m` (xterm modifyOtherKeys, sent by vim) reaches here as private SGR, which
        # pyte 0.8.2 cannot take; it sets key reporting, not colours, so it is ignored.
        if not private:
            super().select_graphic_rendition(*attrs)

    def write_process_input(self, data: str) -> None:
        # Device attribute and cursor position reports: without them some programs hang.
        if self.reply is not None:
            self.reply(data)


class TerminalStream(pyte.Stream):
    """Bytes in, screen calls out: whole sequences dispatched directly, the rest through pyte's parser."""

    listener: TerminalScreen  # pyte's Stream takes any screen; this one drives a TerminalScreen only

    def __init__(self, screen: TerminalScreen) -> None:
        super().__init__(screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._basic = {char: getattr(screen, name) for char, name in self.basic.items()}
        self._basic["\r\n"] = screen.newline
        self._csi = {char: getattr(screen, name) for char, name in self.csi.items()}

    # pyte's feed takes text; a console hands over bytes as they come off the socket, decoded here.
    def feed(self, data: bytes) -> None:  # type: ignore[override]
        screen = self.listener
        screen.batching = True
        try:
            self._feed(self._decoder.decode(data))
        finally:
            screen.batching = False
            screen.settle()

    def _feed(self, text: str) -> None:
        screen, basic, csi, slow, sgr = self.listener, self._basic, self._csi, super().feed, self.listener._sgr
        draw, settle, graphic_rendition = screen.draw, screen.settle, screen.graphic_rendition
        parts = SEQUENCES.split(text)  # text, sequence, text, ..., text
        parts.append("")
        for plain, sequence in zip(parts[::2], parts[1::2]):
            if plain:
                if self._taking_plain_text and plain.isprintable():
                    draw(plain)
                else:  # ESC sequences other than CSI, C1 and other C0 controls, the rest of a split sequence
                    settle()
                    slow(plain)
            if not sequence:
                continue
            if not self._taking_plain_text:  # inside something pyte's parser started: it reads on
                settle()
                slow(sequence)
            elif sequence[0] != "\x1b":  # BEL, BS, HT, LF, VT, FF, CR: only LF/VT/FF move down, as a batch does
                basic[sequence]()
            elif sequence[-1] == "m" and sequence[2] != "?":  # private SGR goes to pyte, which ignores it
                cursor = screen.cursor
                attrs = sgr.get((cursor.attrs, sequence[2:-1]))
                if attrs is None:
                    graphic_rendition(sequence[2:-1])
                else:  # as graphic_rendition does, without the call
                    cursor.attrs = attrs
            else:
                handler = csi.get(sequence[-1])
                if handler is None:
                    continue  # pyte ignores CSI sequences it has no handler for (its `debug`)
                settle()
                private = sequence[2] == "?"
                # As pyte's parser reads them: empty numbers are 0, each at most 9999.
                params = [min(int(p or 0), 9999) for p in sequence[3 if private else 2 : -1].split(";")]
                if private:
                    handler(*params, private=True)
                else:
                    handler(*params)
