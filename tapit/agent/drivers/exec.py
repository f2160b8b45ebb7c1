"""exec (drivers/exec): the command in pid and mount namespaces of its own."""

from __future__ import annotations

import shutil
import subprocess

from .. import capabilities, execsession, procfacts
from .base import NOT_AVAILABLE, UNDETECTED, Fingerprint, TaskHandle
from .host import HostDriver

UNSHARE = ["unshare", "--pid", "--mount", "--fork", "--mount-proc", "--kill-child", "--"]


def namespace_init(handle: TaskHandle) -> int:
    """The first child of an `exec` task's `unshare`: pid 1 of the task's namespaces."""
    try:
        return procfacts.first_child(handle.pid)  # the pid read from the status file
    except ProcessLookupError:
        raise ProcessLookupError("the task's namespaces are gone") from None


def _namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class ExecDriver(HostDriver):
    name = "exec"
    isolates_processes = True

    def fingerprint(self) -> Fingerprint:
        """The exec driver isolates pid and mount namespaces; only offer it where that works."""
        if capabilities.masked(capabilities.NAMESPACES) or not _namespaces_work():
            return Fingerprint(UNDETECTED, NOT_AVAILABLE)
        return self.healthy()

    def argv(self, argv: list[str]) -> list[str]:
        return UNSHARE + argv

    def signal_target(self, handle: TaskHandle) -> int:
        """exec signals the first process in its namespaces (libcontainer's init)."""
        return namespace_init(handle)

    def exec_argv(self, handle: TaskHandle, argv: list[str]) -> list[str]:
        """An exec session into an `exec` task joins the task's pid and mount namespaces, as
        Nomad's executor does: through the first child of the task's `unshare`, which is pid 1
        in them (unshare itself stays in the agent's pid namespace)."""
        try:
            return ["nsenter", f"--target={namespace_init(handle)}", "--pid", "--mount", "--", *argv]
        except ProcessLookupError as err:
            raise execsession.ExecError(500, str(err)) from err


DRIVER = ExecDriver
