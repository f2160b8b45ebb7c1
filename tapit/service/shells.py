"""A shell in a running task's allocation: `nomad alloc exec` as k9s `s` and wander `e` open one.

    shell = AllocShell(service, record)                     # any running task, a console included
    async with shell.session(tty=True, rows=24, cols=80, term="xterm-256color") as session:
        await session.send_stdin(b"ls\\r")
        async for event in session:                         # Output..., then Exited
            ...
    code = shell.exit_status()

The same session interface as a console's (tapit.service.consoles), so a terminal — the TUI's
pane or the local one — drives either. Unlike a console, the shell is not a task of its own: it
lives inside the task's allocation, with no record, transcript or idle deadline; it ends when
the shell exits, the connection goes, or the task itself ends (Nomad then ends every exec).
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.nomad.errors import ExecError
from tapit.nomad.session_events import Exited, Output
from tapit.service.consoles import EXIT_DISCONNECTED, ConsoleError, Notice, exec_errors
from tapit.service.tasks import TaskService
from tapit.translate.jobspec import TASK_NAME

# bash where the image has it, else the POSIX shell every image has.
SHELL = "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"


class ShellUnavailable(TapitError):
    """The task has no running allocation to open a shell in."""


class AllocShell:
    """A shell in `record`'s allocation. Open one `session()`; `exit_status()` once it is over."""

    def __init__(self, service: TaskService, record: TaskRecord):
        self.service = service
        self.record = record
        self.exited: Exited | None = None
        self.end_reason: str | None = None  # set when tapit ended the session
        self.local_exit: int | None = None

    def allocation(self) -> str:
        """The running allocation's id, refreshed from Nomad. Blocking; ShellUnavailable if none."""
        record = self.service.refresh(self.record)
        self.record = record
        if record.status != "running" or not record.nomad_alloc_id:
            raise ShellUnavailable(f"task {record.id} is {record.status}: a shell needs it running")
        return record.nomad_alloc_id

    @asynccontextmanager
    async def session(
        self,
        *,
        tty: bool,
        rows: int = 24,
        cols: int = 80,
        term: str | None = None,
        on_notice: Notice = lambda message: None,
    ) -> AsyncIterator[ShellSession]:
        """ConsoleError when Nomad refuses (the task is no longer running, exec is disabled) or is unreachable."""
        line = f"export TERM={shlex.quote(term)}; {SHELL}" if tty and term else SHELL
        alloc_id = self.record.nomad_alloc_id
        if alloc_id is None:  # allocation() is asked first; without one there is no task to enter
            raise ShellUnavailable(f"task {self.record.id} has no allocation: a shell needs it running")
        with exec_errors(self.record.nomad_namespace):
            async with self.service._nomad(self.record).allocations.exec(
                alloc_id, TASK_NAME, ["/bin/sh", "-c", line], tty
            ) as exec_session:
                if tty:
                    await exec_session.resize(rows, cols)  # before any input, as Nomad's CLI does
                yield ShellSession(self, exec_session)

    def exit_status(self) -> int:
        """The shell's own exit code, else the convention for how tapit ended it (255: disconnected)."""
        if self.exited is not None:
            return self.exited.exit_code or (128 + self.exited.signal if self.exited.signal else 0)
        return self.local_exit if self.local_exit is not None else EXIT_DISCONNECTED


class ShellSession:
    """What the terminal sends and reads; the iteration stops when tapit ended the session itself."""

    def __init__(self, shell: AllocShell, exec_session):
        self.shell = shell
        self._exec = exec_session

    async def send_stdin(self, data: bytes) -> None:
        with exec_errors(self.shell.record.nomad_namespace):
            await self._exec.send_stdin(data)

    async def close_stdin(self) -> None:
        with exec_errors(self.shell.record.nomad_namespace):
            await self._exec.close_stdin()

    async def resize(self, rows: int, cols: int) -> None:
        with exec_errors(self.shell.record.nomad_namespace):
            await self._exec.resize(rows, cols)

    async def end(self, reason: str, exit_code: int = EXIT_DISCONNECTED, status: str = "stopped") -> None:
        shell = self.shell
        if shell.end_reason is None and shell.exited is None:
            shell.end_reason, shell.local_exit = reason, exit_code
        await self._exec.close()

    def __aiter__(self):
        return self._events()

    async def _events(self) -> AsyncIterator[Output | Exited]:
        try:
            async for event in self._exec:
                if isinstance(event, Exited):
                    self.shell.exited = event
                yield event
        except ExecError as exc:
            if self.shell.end_reason is None:
                raise ConsoleError(str(exc)) from None


def open_shell(service: TaskService, task_id: str) -> AllocShell:
    """The shell for a task named by id, its allocation checked. Blocking; TapitError with one line."""
    shell = AllocShell(service, service.get(task_id))
    shell.allocation()
    return shell
