"""Bare `tapit` and `tapit tui`: the full-screen interface (Textual is imported only here, lazily)."""

from __future__ import annotations


def run_tui() -> int:
    import os
    import sys

    from tapit.errors import UsageError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(
            "the full-screen interface needs a terminal; in scripts use the commands "
            "in tapit --help (e.g. tapit list tasks --json)"
        )
    from tapit.service import TaskService
    from tapit.tui.app import TapitApp

    # An auditor's TUI: every view, no action that changes a task.
    read_only = os.environ.get("TAPIT_READ_ONLY", "") not in ("", "0")
    app = TapitApp(TaskService.from_environment(), read_only=read_only)
    # A history's long one-time rewrite is said as a toast (App.notify is thread-safe).
    app.service.history.on_notice = lambda message: app.notify(message, timeout=10)
    app.run()
    if app.crash:
        print(app.crash, file=sys.stderr)  # the terminal is the user's again
    return app.return_code or 0
