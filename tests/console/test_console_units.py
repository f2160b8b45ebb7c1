"""The pure parts of consoles: the `~.` escape, the keep-alive shell, the transcript file."""

import json
import subprocess
import time

import pytest

from tapit.commands.console import EscapeFilter
from tapit.service.consoles import keepalive_argv
from tapit.transcript import Transcript, read_cast


@pytest.mark.parametrize(
    "keys, sent, disconnect",
    [
        (b"~.", b"", True),  # at the very start
        (b"ls\r~.", b"ls\r", True),  # after Enter
        (b"a~.", b"a~.", False),  # inside a line: plain text
        (b"\r~~.", b"\r~.", False),  # ~~ sends one ~
        (b"\r~x", b"\r~x", False),  # any other key sends both
        (b"\x03\r~.", b"\x03\r", True),  # Ctrl-C is just a byte for the remote
    ],
)
def test_escape(keys, sent, disconnect):
    assert EscapeFilter().feed(keys) == (sent, disconnect)


def test_escape_split_across_reads():
    escapes = EscapeFilter()
    assert escapes.feed(b"echo\r~") == (b"echo\r", False)
    assert escapes.feed(b".") == (b"", True)


def run_keepalive(tmp_path, idle_s, max_hours, refresh_after=None):
    env = {"NOMAD_ALLOC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    process = subprocess.Popen(keepalive_argv(idle_s, max_hours), env=env, stderr=subprocess.PIPE, text=True)
    if refresh_after is not None:
        time.sleep(refresh_after)
        deadline_file = tmp_path / "tapit-console-idle-deadline"
        deadline_file.write_text(str(int(deadline_file.read_text()) + 2))
    _, err = process.communicate(timeout=30)
    return time.monotonic() - started, process.returncode, err


def test_keepalive_ends_at_the_idle_deadline_and_a_refresh_moves_it(tmp_path):
    lasted, code, err = run_keepalive(tmp_path, 3, 1.0)
    assert code == 0 and "console ended" in err
    assert 2 <= lasted < 5
    lasted, _, _ = run_keepalive(tmp_path, 3, 1.0, refresh_after=1)
    assert lasted >= 4


def test_keepalive_never_outlives_max_hours(tmp_path):
    lasted, code, _ = run_keepalive(tmp_path, 600, 2 / 3600)
    assert code == 0 and lasted < 5


def test_transcript_is_asciicast_v2_with_split_utf8(tmp_path):
    path = tmp_path / "console.cast"
    cast = Transcript(path, 80, 24, "bash", "xterm")
    cast.output("é".encode()[:1])  # a character split across two frames
    cast.output("é".encode()[1:] + b"\r\n")
    cast.resize(40, 120)
    cast.close()
    header, events = read_cast(path)
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    assert header["env"] == {"TERM": "xterm"}
    events = list(events)
    assert [(kind, text) for _, kind, text in events] == [("o", "é\r\n"), ("r", "120x40")]
    assert all(json.loads(line) for line in path.read_text().splitlines())
