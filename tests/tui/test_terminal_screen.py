"""The console's emulator against pyte's own: the same bytes, cut anywhere, leave the same screen."""

from __future__ import annotations

import random

import pyte
import pytest

from tapit.tui.terminal_screen import SCROLLBACK, TerminalScreen, TerminalStream

COLS, ROWS = 40, 8

LS = b"\x1b[1;34mdrwxr-xr-x\x1b[0m  2 root root 4096 Jan  1 00:00 \x1b[32msome-file-name.txt\x1b[0m\r\n" * 30
FULL_SCREEN = (
    b"\x1b[H\x1b[2J\x1b[3;5Htop - 12:00\x1b[K\x1b[?25l\x1b[7m PID USER \x1b[27m\x1b[5;1H\x1b[1m1\x1b[m root"
    b"\x1b[2;20r\x1b[20;1H\n\n\n\x1b[r\x1b[1;1H\x1b[4h inserted\x1b[4l\x1b[?7l" + b"x" * 60 + b"\x1b[?7h\x1b[?25h"
)
ODDITIES = (
    "tab\there\tand\tthere\x08\x08back\r\n"
    "\x1b]0;a title\x07\x1b]2;another\x1b\\plain after OSC\r\n"
    "wide: 中文字符 and emoji 🎉 ok\r\n"
    "\x1b(0lqqk\x1b(B box\r\n"
    "\x1b[38;5;208mindexed\x1b[48;2;10;20;30mtruecolour\x1b[0m\r\n"
    "\x1b[;5Hempty param\x1b[3D\x1b[2Pdeleted\x1b[1@\r\n"
    "\x1b[5\rA\x1b[2J\x1b[H\x1bD\x1bM\x1bE\x1b7saved\x1b8restored\r\n"
    "\x07bell\x0bvt\x0cff\x0e\x0fsi\r\n"
    "é accents ünïcödé\r\n" + "long line " * 12 + "\r\n"
).encode()
SAMPLES = {"ls": LS, "full screen": FULL_SCREEN, "oddities": ODDITIES, "all": LS + FULL_SCREEN + ODDITIES + LS}


def cells(screen: pyte.Screen) -> list[list[tuple]]:
    return [[tuple(screen.buffer[y][x]) for x in range(screen.columns)] for y in range(screen.lines)]


def fed_by_pyte(data: bytes) -> pyte.Screen:
    screen = pyte.Screen(COLS, ROWS)
    pyte.ByteStream(screen).feed(data)
    return screen


def fed_in_pieces(data: bytes, seed: int) -> TerminalScreen:
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    pieces = random.Random(seed)
    at = 0
    while at < len(data):
        step = pieces.choice([1, 2, 3, 7, 64, 1024])
        stream.feed(data[at : at + step])
        at += step
    return screen


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("seed", range(4))
def test_same_screen_as_pyte_however_the_output_is_cut(name, seed):
    data = SAMPLES[name]
    expected, got = fed_by_pyte(data), fed_in_pieces(data, seed)
    assert got.display == expected.display
    assert cells(got) == cells(expected)
    assert (got.cursor.x, got.cursor.y, got.cursor.hidden, got.cursor.attrs) == (
        expected.cursor.x,
        expected.cursor.y,
        expected.cursor.hidden,
        expected.cursor.attrs,
    )
    assert got.title == expected.title


def test_lines_scrolled_off_are_kept_in_order():
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    stream.feed(b"".join(b"line %d\r\n" % n for n in range(100)))
    history = ["".join(row[x].data for x in range(7)).rstrip() for row in screen.scrollback]
    assert history == [f"line {n}" for n in range(100 - ROWS + 1)]
    assert screen.display[0].rstrip() == f"line {100 - ROWS + 1}"
    stream.feed(b"".join(b"more %d\r\n" % n for n in range(SCROLLBACK)))
    assert len(screen.scrollback) == SCROLLBACK


def test_leaving_the_alternate_screen_brings_the_shell_back():
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    stream.feed(b"$ echo before\r\nbefore\r\n$ top\r\n")
    shell, cursor = list(screen.display), (screen.cursor.x, screen.cursor.y)
    stream.feed(b"\x1b[?1049h\x1b[H\x1b[2Jtop - 12:00 up 1 day\x1b[8;1Hlast frame")
    assert screen.on_alternate and screen.display[0].startswith("top - 12:00")
    stream.feed(b"".join(b"frame %d\r\n" % n for n in range(50)))  # a program scrolling its own screen
    stream.feed(b"\x1b[?1049l")
    assert not screen.on_alternate
    assert screen.display == shell
    assert (screen.cursor.x, screen.cursor.y) == cursor
    assert not any("frame" in "".join(c.data for c in row) for row in screen.scrollback)


def test_the_older_alternate_screen_modes_switch_without_restoring_the_cursor():
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    stream.feed(b"shell text\x1b[?47h\x1b[5;5Hvi\x1b[?47l")
    assert screen.display[0].startswith("shell text")
    assert (screen.cursor.x, screen.cursor.y) == (6, 4)  # 47 leaves the cursor where the program put it


def test_a_resize_on_the_alternate_screen_keeps_the_cursor_on_the_main_one():
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    stream.feed(b"\r\n" * (ROWS - 1) + b"prompt $ ")
    stream.feed(b"\x1b[?1049h")
    screen.resize(4, 20)
    stream.feed(b"\x1b[?1049l")
    assert screen.cursor.y < 4 and screen.cursor.x < 20


def test_a_reset_drops_the_alternate_screen():
    screen = TerminalScreen(COLS, ROWS)
    stream = TerminalStream(screen)
    stream.feed(b"\x1b[?1049hprogram\x1bc")
    assert not screen.on_alternate


REVERSED = b"normal\r\n\x1b[?5hreversed screen\x1b[1;3H\x1b[2Pz\x1b[?5l after\r\n\x1b[?5h\x1b[4hins\x1b[4l\x1b[?5l"


@pytest.mark.parametrize("seed", range(4))
def test_a_reversed_screen_and_back_as_pyte_has_it(seed):
    expected, got = fed_by_pyte(REVERSED), fed_in_pieces(REVERSED, seed)
    assert cells(got) == cells(expected)
    assert got.cursor.attrs == expected.cursor.attrs


@pytest.mark.parametrize(("lines", "columns"), [(4, 12), (12, 70), (ROWS, COLS // 2)])
def test_a_resized_screen_takes_output_as_pyte_does(lines, columns):
    before, after = LS[:200] + b"\x1b[3;30Hpast the middle", b"\x1b[Kmore\x1b[1K\x1b[2@x\x1b[3P" + LS[:300]
    expected, got = pyte.Screen(COLS, ROWS), TerminalScreen(COLS, ROWS)
    pyte.ByteStream(expected).feed(before)
    TerminalStream(got).feed(before)
    expected.resize(lines, columns)
    got.resize(lines, columns)
    pyte.ByteStream(expected).feed(after)
    TerminalStream(got).feed(after)
    assert got.display == expected.display
    assert all(len(got.buffer[y]) == columns for y in range(lines))  # every row exactly as wide as the screen


def test_erasing_the_display_paints_every_cell_with_the_background():
    screen = TerminalScreen(COLS, ROWS)
    TerminalStream(screen).feed(b"text\x1b[44m\x1b[2J")  # xterm's background colour erase, cells never written too
    assert {cell.bg for y in range(ROWS) for cell in screen.buffer[y]} == {"blue"}
