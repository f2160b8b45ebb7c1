"""`e`: a shell in a running task's allocation, in the terminal pane (tapit.service.shells)."""

from __future__ import annotations

import asyncio

from textual.content import Content

from tapit.model import TaskRecord
from tapit.output import one_line
from tapit.service import TaskService
from tapit.service.shells import AllocShell
from tapit.tui.console_pane import SessionScreen
from tapit.tui.safe_text import plain


class ShellScreen(SessionScreen):
    label = "shell"

    def __init__(self, service: TaskService, record: TaskRecord) -> None:
        super().__init__(service)
        self.shell = AllocShell(service, record)

    @property
    def task_id(self) -> str:
        return self.shell.record.id

    def _subject(self) -> Content:
        return plain(f"in task {self.task_id} · {one_line(self.shell.record.command)}")

    async def _open(self) -> AllocShell:
        self._status("opening a shell in the task's allocation…")
        await asyncio.to_thread(self.shell.allocation)
        return self.shell

    async def _finish(self, ending: str) -> str:
        return self.shell.end_reason or ending
