"""What raw_exec and exec share: the command runs as a host process, in a cgroup of its own
where the machine has cgroups, under supervisor.py."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import execsession
from .. import structs as wire
from ..cgroups import Cgroups, TaskCgroup
from ..taskenv import inherited
from .base import SIGNAL_LOOKUP, Driver, TaskHandle

if TYPE_CHECKING:
    from aiohttp import web

    from ..allocrunner.task_runner import TaskRunner

log = logging.getLogger("tapit.agent")
SUPERVISOR = str(Path(__file__).parent.with_name("supervisor.py"))
# python -S: the supervisor needs the standard library only, and starts faster without site.
SUPERVISOR_ARGV = [sys.executable, "-I", "-S", SUPERVISOR]


class HostDriver(Driver):
    """drivers/rawexec and drivers/exec."""

    # exec's task is a process tree in namespaces of its own: signalled as a group.
    isolates_processes = False

    def base_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if inherited(k)}

    def argv(self, argv: list[str]) -> list[str]:
        """The command line the supervisor runs for the task's command."""
        return argv

    async def start(self, tr: TaskRunner, spec: dict, kill_signal: signal.Signals) -> list[str] | None:
        handle, alloc = tr.handle, tr.alloc
        task = handle.task
        config = task["Config"] or {}
        command = config.get("command")
        if not isinstance(command, str) or not command:
            error = '1 error occurred:\n\t* missing required field "command"\n\n'
            tr.update(
                wire.task_event("Failed Validation", ValidationError=error),
                *tr.not_restarting("Error was unrecoverable"),
                state="dead",
                failed=True,
                FinishedAt=wire.now_ns(),
            )
            return None
        node, cgroups = self.runner.node, self.runner.cgroups
        res = task["Resources"]
        cpu = res["CPU"] or res["Cores"] * node.mhz_per_core
        cgroup = cgroups.create(
            f"{alloc['ID']}.{task['Name']}", res["MemoryMaxMB"] or res["MemoryMB"], cpu, node.mhz_per_core
        )
        handle.cgroup = cgroup
        if unenforced := cgroups.unenforced():
            # Told on the task as well as the node: its limits are asked for, and not held.
            message = f"this node cannot enforce the task's {', '.join(unenforced)} limit(s): no cgroup controls them"
            tr.update(wire.driver_event(message, {"unenforced_limits": ",".join(unenforced)}))
        handle.cwd = config.get("work_dir") or str(self.runner.alloc_dir(alloc["ID"]) / task["Name"])
        argv = [command, *[str(a) for a in config.get("args") or []]]
        isolated = self.isolates_processes
        spec.update(
            {
                "argv": self.argv(argv),
                "env": handle.env,
                "cwd": handle.cwd,
                "procs": cgroup.procs if cgroup else [],
                "join": cgroup.join if cgroup else [],
                "cgroup_dirs": [str(d) for d in (cgroup.dirs.values() if cgroup else ())],
                "oom_file": _oom_file(cgroup),
                "kill_signal": int(kill_signal),
                "signal_group": isolated,
            }
        )
        tr.persist()
        return list(SUPERVISOR_ARGV)

    def recover(self, handle: TaskHandle, meta: dict) -> None:
        if meta["cgroup_version"]:
            handle.cgroup = Cgroups.attach(meta["cgroup_version"], meta["cgroup_dirs"])
        super().recover(handle, meta)

    def destroy(self, handle: TaskHandle) -> None:
        """Whatever the vanished task left in its cgroup goes too, as Nomad's cgroup destroy does."""
        if handle.cgroup is None:
            return
        for _ in range(100):
            pids = handle.cgroup.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        for path in handle.cgroup.dirs.values():
            try:
                path.rmdir()
            except OSError:
                pass

    def signal_target(self, handle: TaskHandle) -> int:
        """The process SignalTask signals: raw_exec's is the task's process."""
        return handle.pid

    async def signal(self, handle: TaskHandle, name: str) -> None:
        """raw_exec and exec look the name up (consul-template's signals.SignalLookup, exactly as
        written) and send SIGINT for one they do not know (drivers/rawexec/driver.go, drivers/exec)."""
        signum = SIGNAL_LOOKUP.get(name)
        if signum is None:
            log.warning("unknown signal to send to task, using SIGINT instead: %s (task %s)", name, handle.name)
            signum = signal.SIGINT
        os.kill(self.signal_target(handle), signum)

    def exec_argv(self, handle: TaskHandle, argv: list[str]) -> list[str]:
        """The command line an exec session runs on the host."""
        return argv

    async def exec(self, ws: web.WebSocketResponse, handle: TaskHandle, argv: list[str], tty: bool) -> None:
        await execsession.run(
            ws, self.exec_argv(handle, argv), tty, handle.env, handle.cwd, handle.cgroup.procs if handle.cgroup else []
        )


def _oom_file(cgroup: TaskCgroup | None) -> str:
    if not cgroup or "memory" not in cgroup.dirs:
        return ""
    name = "memory.events" if cgroup.version == "v2" else "memory.oom_control"
    return str(cgroup.dirs["memory"] / name)
