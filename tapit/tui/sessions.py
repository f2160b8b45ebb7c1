"""The terminal sessions the TUI has open, on screen or detached.

A session's screen is installed in the app, so that leaving it (`ctrl+]`) only pops it: it stays
mounted, its worker keeps the exec session running, and pushing it again shows it as it is now.
It is removed when the session is over and the operator has seen how it ended (or at once, with
a notification, when it ends while detached).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING

from tapit.model import TaskRecord
from tapit.tui.console_pane import SessionScreen
from tapit.tui.shell_pane import ShellScreen

if TYPE_CHECKING:
    from tapit.tui.app import TapitApp  # which makes one Sessions, handing it itself

# A session the TUI ends as it quits has this long to stop and purge its job and write its record.
WIND_UP_S = 15.0


class Sessions:
    def __init__(self, app: TapitApp) -> None:
        self.app = app
        self._names: dict[SessionScreen, str] = {}
        self._numbers = itertools.count(1)

    def open(self, screen: SessionScreen) -> None:
        name = f"session-{next(self._numbers)}"
        self._names[screen] = name
        screen.on_detach, screen.on_close = self._detach, self._close
        self.app.install_screen(screen, name)
        self.app.push_screen(name)

    def find(self, task_id: str) -> SessionScreen | None:
        """The running session in this task (a console is in its own task), if one is open."""
        for screen in self._names:
            if screen.task_id == task_id and not screen.finished:
                return screen
        return None

    def shell(self, record: TaskRecord) -> None:
        """`e`: back to the session open in this task, else a new shell in its allocation."""
        screen = self.find(record.id)
        if screen is not None:
            self.app.push_screen(screen)
        elif self.can_open_shell(record):
            self.open(ShellScreen(self.app.service, record))

    def can_open_shell(self, record: TaskRecord) -> bool:
        """Whether the task runs, as far as the list knows; if not, the operator is told why not."""
        if record.status != "running":
            self.app.notify(f"task {record.id} is {record.status}: a shell needs it running", severity="warning")
        return record.status == "running"

    @property
    def running(self) -> list[SessionScreen]:
        return [screen for screen in self._names if not screen.finished]

    def _detach(self, screen: SessionScreen) -> None:
        self.app.pop_screen()
        what = f"{screen.label} {screen.task_id}" if screen.task_id else screen.label
        self.app.notify(
            f"{what} runs on, detached: e on its task returns to it; {screen.how_to_end} ends it", timeout=6
        )

    def _close(self, screen: SessionScreen) -> None:
        self.app.call_later(self._remove, screen)

    async def _remove(self, screen: SessionScreen) -> None:
        name = self._names.pop(screen, None)
        if name is None:
            return  # already on its way out
        if screen.is_current:
            await self.app.pop_screen()
        self.app.uninstall_screen(name)
        await screen.remove()

    async def end_all(self, reason: str) -> None:
        """End every running session and wait (a little) for each to wind up: no console is left behind."""
        screens = self.running
        for screen in screens:
            await screen.end(reason)
        waits = [asyncio.create_task(screen.ended.wait()) for screen in screens]
        if waits:
            await asyncio.wait(waits, timeout=WIND_UP_S)
            for wait in waits:
                wait.cancel()
