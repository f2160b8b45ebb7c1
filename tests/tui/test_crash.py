"""A bug in the TUI, met by an operator at a real terminal (pexpect's pseudo-terminal).

The child is the real `tapit` entry point with one fault put in by the test (a function
replaced before the CLI starts, in the child only): a key that breaks a screen, and a
background thread that breaks, a Textual worker that breaks. Each way tapit exits 1, restores the terminal, says one
line, and keeps the traceback in errors.log, as the CLI does for its own bugs.
NOMAD_ADDR points at a closed port, so nothing is started; the list shows "offline".
"""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest

FAULTS = {
    # `?` opens the keymap, whose text then cannot be built.
    "key": ("import tapit.tui.keymap as m; m.keymap_text = boom", "?"),
    # The thread that lists the tasks dies at its first step.
    "thread": ("import tapit.tui.live as m; m.LiveFeed._refresh_loop = boom", None),
    # A Textual worker (the namespace picker's list of namespaces) meets a bug, not a TapitError.
    "worker": ("import tapit.service.tasks as m; m.TaskService.namespaces = boom", ":"),
}
CHILD = """
import sys
def boom(*args, **kwargs):
    raise ZeroDivisionError("injected fault")
{inject}
from tapit.cli import main
sys.exit(main([]))
"""
# Control sequences, to read what is left once the screen is gone.
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_crash_exits_1_with_one_line_and_the_traceback_in_errors_log(tmp_path, fault):
    inject, key = FAULTS[fault]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")},
        "TAPIT_HOME": str(tmp_path),
        "NOMAD_ADDR": "http://127.0.0.1:9",
        "CHILD": CHILD.format(inject=inject),
        "TERM": "xterm-256color",
    }
    # The shell reports tapit's status, then how the terminal is set once tapit has gone.
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f'{sys.executable} -c "$CHILD"; echo "status=$?"; stty -a'],
        env=env,
        cwd=str(tmp_path),
        dimensions=(35, 120),
        encoding="utf-8",
        timeout=30,
    )
    try:
        if key:
            child.expect_exact("offline")  # the app is up and drawing
            child.send(key)
        child.expect(r"status=(\d+)")
        status = int(child.match.group(1))
        drawn = child.before
        child.expect(pexpect.EOF)
        settings = child.before
    finally:
        child.close(force=True)

    assert status == 1
    # The terminal is given back: the alternate screen left, line editing and echo on again.
    assert "\x1b[?1049l" in drawn
    after = drawn[drawn.rindex("\x1b[?1049l") :]
    said = [line.strip() for line in ANSI.sub("", after).replace("\r", "").split("\n") if line.strip()]
    log = tmp_path / "errors.log"
    assert said == [f"tapit: internal error: ZeroDivisionError: injected fault (details in {log})"]
    flags = settings.split()
    assert "icanon" in flags and "echo" in flags and "-icanon" not in flags and "-echo" not in flags
    # The traceback is kept for a report, and not shown.
    kept = log.read_text()
    assert "Traceback (most recent call last)" in kept and "ZeroDivisionError: injected fault" in kept
    assert "Traceback" not in drawn
