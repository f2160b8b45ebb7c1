"""The driver interface (plugins/drivers/driver.go DriverPlugin) and the driver handle every
driver shares: each task runs under a supervisor process (supervisor.py, container_supervisor.py)
that outlives the agent; a driver says what that supervisor runs and how the task is reached.

The verbs are Nomad's: fingerprint, start (StartTask), wait (WaitTask), stop (StopTask), destroy
(DestroyTask), inspect (InspectTask), stats (TaskStats), signal (SignalTask), exec
(ExecTaskStreaming) and recover (RecoverTask).  wait, stop and inspect talk to the supervisor
and are the same for every driver.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import cgroups, procfacts
from ..cgroups import TaskCgroup

if TYPE_CHECKING:
    from aiohttp import web

    from ..allocrunner.task_runner import TaskRunner
    from ..runner import Runner

# consul-template signals.SignalLookup on Linux (signals/mapping_unix.go): SIGNULL is signal 0;
# SIGCHLD and SIGURG are left out.
SIGNAL_LOOKUP = {
    "SIGNULL": 0,
    **{
        name: getattr(signal, name)
        for name in (
            "SIGABRT SIGALRM SIGBUS SIGCONT SIGFPE SIGHUP SIGILL SIGINT SIGIO SIGIOT SIGKILL SIGPIPE SIGPROF "
            "SIGQUIT SIGSEGV SIGSTOP SIGSYS SIGTERM SIGTRAP SIGTSTP SIGTTIN SIGTTOU SIGUSR1 SIGUSR2 SIGWINCH "
            "SIGXCPU SIGXFSZ"
        ).split()
    },
}


# plugins/drivers/driver.go HealthState
UNDETECTED, UNHEALTHY, HEALTHY = "undetected", "unhealthy", "healthy"
NOT_AVAILABLE = "Driver not available on this machine"


@dataclass
class Fingerprint:
    """plugins/drivers/driver.go Fingerprint: the attributes go on the node while it is healthy."""

    health: str
    description: str
    attributes: dict[str, str] | None = None


def read_status(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


class TaskHandle:
    """The agent's view of one running supervisor."""

    def __init__(self, alloc_id: str, task: dict, run_dir: Path):
        self.alloc_id = alloc_id
        self.name = task["Name"]
        self.task = task
        self.base = run_dir / f"{alloc_id}.{self.name}"
        self.status_path = self.file("status")
        self.sup_pid = 0
        self.proc: subprocess.Popen | None = None  # only for a supervisor this agent process started
        self.pidfd = -1
        self.cgroup: TaskCgroup | None = None
        self.env: dict[str, str] = {}
        self.cwd = ""
        self.listening = False  # its supervisor has said it is up: it can take SIGTERM/SIGUSR1 now
        # A stop that came before the supervisor could take it: SIGTERM (stop) or SIGUSR2 (kill now).
        self.pending_signal: signal.Signals | None = None

    def file(self, kind: str) -> Path:
        """The supervisor's files for this task: spec, status, handle, log."""
        return self.base.with_name(f"{self.base.name}.{kind}")

    @property
    def pid(self) -> int:
        return int(read_status(self.status_path).get("pid", 0))

    def signal(self, sig: int) -> None:
        if self.pidfd >= 0:
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                pass


class Driver:
    """One task driver; a module of this package defines one subclass as DRIVER."""

    name = ""
    # Its tasks see the allocation through binds (a container): the directories it binds keep
    # Nomad's open modes, and the task's environment names the paths inside it.
    isolated_filesystem = False
    # How often it fingerprints again (drivers/docker's fingerprintPeriod); 0: once, at the start.
    fingerprint_period_s = 0.0

    def __init__(self, runner: Runner):
        self.runner = runner

    def fingerprint(self) -> Fingerprint:
        """Fingerprint, as the agent starts: whether this node can run the driver's tasks."""
        raise NotImplementedError

    def healthy(self, attributes: dict[str, str] | None = None) -> Fingerprint:
        return Fingerprint(HEALTHY, "Healthy", {f"driver.{self.name}": "1", **(attributes or {})})

    async def fingerprint_again(self) -> None:
        """Fingerprint, every fingerprint_period_s: a change is told to the node (Node.set_driver)."""

    def base_env(self) -> dict[str, str]:
        """What a task inherits before Nomad's variables: a host process, the agent's environment."""
        return {}

    def task_dirs(self, alloc_dir: Path, task_name: str) -> tuple[str, str, str]:
        """NOMAD_ALLOC_DIR, NOMAD_TASK_DIR and NOMAD_SECRETS_DIR as the task sees them."""
        task_dir = alloc_dir / task_name
        return str(task_dir.parent / "alloc"), str(task_dir / "local"), str(task_dir / "secrets")

    async def start(self, tr: TaskRunner, spec: dict, kill_signal: signal.Signals) -> list[str] | None:
        """StartTask: fill in the supervisor's spec and say the supervisor's command; None when the
        task ended already (its events recorded)."""
        raise NotImplementedError

    def wait(self, handle: TaskHandle, on_exit) -> None:
        """WaitTask: `on_exit(handle)` once the supervisor has gone."""
        try:
            handle.pidfd = os.pidfd_open(handle.sup_pid)
        except ProcessLookupError:
            asyncio.get_running_loop().call_soon(on_exit, handle)
            return
        asyncio.get_running_loop().add_reader(handle.pidfd, on_exit, handle)

    @staticmethod
    def stop(handle: TaskHandle, sig: signal.Signals) -> None:
        """StopTask: SIGTERM asks the supervisor for the kill signal, then SIGKILL after the kill
        timeout; SIGUSR2 kills at once."""
        if handle.listening:
            handle.signal(sig)
        elif handle.pending_signal != signal.SIGUSR2:  # a kill at once is never softened to a stop
            # No supervisor ready for it yet (still starting, or an image downloading): _spawn sends it.
            handle.pending_signal = sig

    @staticmethod
    def inspect(handle: TaskHandle) -> dict:
        """InspectTask: what the supervisor has recorded of the task (pid, started, finished...)."""
        return read_status(handle.status_path)

    @staticmethod
    def stats(handle: TaskHandle) -> tuple[dict, int, dict, list[str]]:
        """TaskStats: memory figures, cumulative CPU nanoseconds, their user/system split, and
        what the CPU figures measure: from the task's cgroup, else from its processes."""
        if handle.cgroup:
            memory, total, cpu = cgroups.usage(handle.cgroup)
            return memory, total, cpu, ["Throttled Periods", "Throttled Time", "Percent"]
        memory, total, cpu = procfacts.tree_usage(handle.pid)
        return memory, total, cpu, ["System Mode", "User Mode", "Percent"]

    def destroy(self, handle: TaskHandle) -> None:
        """DestroyTask: whatever the vanished task left behind goes."""
        raise NotImplementedError

    def recover(self, handle: TaskHandle, meta: dict) -> None:
        """RecoverTask: the handle as persisted before the task started (see TaskRunner.persist)."""
        handle.env, handle.cwd = meta["env"], meta["cwd"]

    async def signal(self, handle: TaskHandle, name: str) -> None:
        """SignalTask."""
        raise NotImplementedError

    async def exec(self, ws: web.WebSocketResponse, handle: TaskHandle, argv: list[str], tty: bool) -> None:
        """ExecTaskStreaming."""
        raise NotImplementedError

    def exit_message(self, code: int) -> str:
        """The ExitMessage a non-zero exit code gets, if the driver gives one."""
        return ""
