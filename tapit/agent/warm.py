"""A host supervisor started ahead of its task: the next raw_exec or exec task takes it, already
past the interpreter's start-up, and the agent starts the one after once that task is running.

Nomad's executor is a plugin process of its own too (drivers/shared/executor, started through
go-plugin by the driver's StartTask); Python's start-up is the greater part of a supervisor's
cost, and a task's start waits on it.  The warm one (`supervisor.py -`) waits on its stdin for
the path of its spec; EOF there, which the agent's exit gives it whatever way the agent goes,
ends it without a trace (it has no status file and no task).
"""

from __future__ import annotations

import logging
import os
import subprocess

log = logging.getLogger("tapit.agent")


class WarmSupervisor:
    def __init__(self, argv: list[str]):
        self.argv = argv  # the cold command line, without its spec
        self._proc: subprocess.Popen | None = None
        self._read_fd = -1

    def fill(self) -> None:
        """Have one ready, unless one is."""
        if self._proc is not None:
            return
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        try:
            self._proc = subprocess.Popen(
                [*self.argv, "-"],
                stdin=subprocess.PIPE,
                stdout=write_fd,
                stderr=subprocess.DEVNULL,  # its spec names its log, which it opens when it has one
                start_new_session=True,
            )
        except OSError:
            os.close(read_fd)
            log.exception("starting a supervisor ahead of its task failed")
            return
        finally:
            os.close(write_fd)
        self._read_fd = read_fd

    def take(self, spec_path: str) -> tuple[subprocess.Popen, int] | None:
        """The ready supervisor, given its spec: (its process, the read end of its stdout), or
        None when there is none alive to take (the task starts a supervisor of its own)."""
        proc, read_fd, self._proc, self._read_fd = self._proc, self._read_fd, None, -1
        if proc is None:
            return None
        try:
            if proc.poll() is not None:
                raise BrokenPipeError
            assert proc.stdin is not None
            proc.stdin.write(f"{spec_path}\n".encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            self._discard(proc, read_fd)
            return None
        return proc, read_fd

    def close(self) -> None:
        """The agent stops: the waiting one ends (EOF on its stdin) and is reaped."""
        proc, read_fd, self._proc, self._read_fd = self._proc, self._read_fd, None, -1
        if proc is not None:
            self._discard(proc, read_fd)

    @staticmethod
    def _discard(proc: subprocess.Popen, read_fd: int) -> None:
        os.close(read_fd)
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
