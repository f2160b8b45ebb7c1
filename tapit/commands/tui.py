"""Bare `tapit` and `tapit tui`: the full-screen interface (Textual is imported only here, lazily)."""

from __future__ import annotations


def run_tui() -> int:
    from tapit.service import TaskService
    from tapit.tui.app import TapitApp

    app = TapitApp(TaskService.from_environment())
    return app.run() or 0
