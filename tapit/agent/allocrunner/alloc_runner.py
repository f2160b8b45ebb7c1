"""One allocation on the client (client/allocrunner/alloc_runner.go): its directory and disk,
its task runners, its max_run_duration deadline, and the client status computed from its tasks."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from tapit.paths import private_dir

from .. import allocdir, disk
from .. import structs as wire
from ..drivers.base import TaskHandle
from ..structs.alloc import TERMINAL_CLIENT, alloc_terminal
from .task_runner import TaskRunner

if TYPE_CHECKING:
    from ..runner import Runner

log = logging.getLogger("tapit.agent")
MAX_EVENTS = 10
DISK_KILL_REASON = "the allocation outgrew its ephemeral disk"


class AllocRunner:
    def __init__(self, runner: Runner, alloc_id: str):
        self.runner = runner
        self.store = runner.store
        self.alloc_id = alloc_id
        self.tasks: dict[str, TaskRunner] = {}  # the tasks that have (or had) a driver handle
        self.timer: asyncio.TimerHandle | None = None
        self.timed_out = False
        self.disk: disk.AllocDisk | None = None
        self.disk_exceeded = False
        self.starting = False  # start() is still bringing it up
        self.stop_requested = False  # ...and it was stopped meanwhile

    @property
    def handles(self) -> dict[str, TaskHandle]:
        return {name: tr.handle for name, tr in self.tasks.items()}

    # --- task state bookkeeping -----------------------------------------------------------

    def update(
        self,
        task_name: str | None,
        *events: dict,
        state: str | None = None,
        failed: bool | None = None,
        restarts: int | None = None,
        **times,
    ) -> None:
        """Append task events and recompute the alloc's client status, in one AllocationUpdated."""
        alloc_id = self.alloc_id
        alloc = self.store.alloc(alloc_id) if alloc_id in self.store.alloc_bucket else None
        if alloc is None:
            return  # collected with its purged job: nothing of it is written again
        with self.store.txn("AllocationUpdated") as tx:
            if task_name is not None:
                ts = alloc["TaskStates"][task_name]
                ts["Events"] = (ts["Events"] + list(events))[-MAX_EVENTS:]
                if state:
                    ts["State"] = state
                if failed is not None:
                    ts["Failed"] = failed
                if restarts is not None:
                    ts["Restarts"] = restarts
                for key, value in times.items():
                    ts[key] = wire.rfc3339nano(value)
            self._client_status(alloc)
            tx.put_alloc(alloc)
        if alloc["ClientStatus"] in TERMINAL_CLIENT:
            self.forget()
            self.runner.alloc_ended(alloc)

    def _client_status(self, alloc: dict) -> None:
        """alloc_runner.clientAlloc/getClientStatus."""
        if alloc["ClientStatus"] == "lost":
            return
        states = alloc["TaskStates"].values()
        if self.timed_out and all(s["State"] == "dead" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "complete", wire.TIMEOUT_REASON
        elif any(s["State"] == "dead" and s["Failed"] for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "failed", "Failed tasks"
        elif any(s["State"] == "running" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "running", "Tasks are running"
        elif any(s["State"] == "pending" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "pending", "No tasks have started"
        else:
            alloc["ClientStatus"], alloc["ClientDescription"] = "complete", "All tasks have completed"

    def forget(self) -> None:
        if self.runner.allocs.get(self.alloc_id) is self:
            del self.runner.allocs[self.alloc_id]
        if self.timer:
            self.timer.cancel()
            self.timer = None
        for tr in self.tasks.values():
            tr.close()
        self.tasks = {}
        self.timed_out = False
        self.disk_exceeded = False
        alloc_disk, self.disk = self.disk, None
        if alloc_disk is not None:
            self.stop_watching(alloc_disk)
            if alloc_disk.filesystem is not None:  # its limit has done its work: keep the logs only
                # Once its log streams are done: the release copies the logs they read.
                self.runner.after_cleanup(self.alloc_id, alloc_disk.filesystem.release, after_readers=True)

    # --- starting ------------------------------------------------------------------------

    async def start(self, alloc: dict) -> None:
        group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
        alloc_dir = self.runner.alloc_dir(alloc["ID"])
        self.starting = True
        try:
            await self._start(alloc, group, alloc_dir)
        finally:
            self.starting = False
            self.stop_requested = False

    async def _start(self, alloc: dict, group: dict, alloc_dir) -> None:
        drivers = self.runner.drivers
        try:
            private_dir(alloc_dir)
            alloc_disk = disk.AllocDisk(
                alloc_dir, group["EphemeralDisk"]["SizeMB"], self.runner.filesystem(alloc["ID"])
            )
            self.disk = alloc_disk
            await asyncio.to_thread(alloc_disk.set_up, self.runner.disk_mechanism, self.runner.disk_pool)
            self.start_watching(alloc_disk)
            allocdir.build_shared(alloc_dir, any(_isolated(drivers, t) for t in group["Tasks"]))
            self.arm_deadline(alloc, group)
        except Exception as exc:  # e.g. no room or no permission for the alloc dir
            log.exception("setting up allocation %s failed", alloc["ID"])
            for task in group["Tasks"]:
                TaskRunner(self, task).start_failed(exc)
            return
        tasks = self.tasks
        for task in group["Tasks"]:
            if self.stop_requested:  # stopped while it was being set up: never run
                self.update(task["Name"], wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns())
                continue
            tr = TaskRunner(self, task)
            try:
                self.update(task["Name"], wire.task_event("Received"))
                allocdir.build_task(alloc_dir, task["Name"], _isolated(drivers, task))
                self.update(
                    task["Name"],
                    wire.task_event("Task Setup", Message="Building Task Directory"),
                    wire.task_event("Task Setup", Message=alloc_disk.description()),
                )
                tasks[task["Name"]] = tr
                await tr.spawn(alloc, group)
            except Exception as exc:
                log.exception("starting task %s of allocation %s failed", task["Name"], alloc["ID"])
                tr.start_failed(exc)
        if alloc_disk.filesystem is not None:
            self.runner.refill_disks(alloc_disk.size_mb)  # the next allocation's, now that these started

    def alloc(self) -> dict:
        """The allocation, while its tasks run: the store drops only a terminal allocation, and
        a runner is forgotten as its allocation becomes terminal."""
        alloc = self.store.alloc(self.alloc_id)
        assert alloc is not None, f"allocation {self.alloc_id} gone from the store under its runner"
        return alloc

    # --- stopping ------------------------------------------------------------------------

    def killing_event(self, task: dict, when: int | None = None) -> dict:
        timeout = min(task["KillTimeout"], wire.DEFAULT_MAX_KILL_TIMEOUT)
        display = wire.TIMEOUT_REASON if self.timed_out else None
        return wire.task_event("Killing", when=when, display=display, KillTimeout=timeout)

    def kill(self) -> None:
        """Stop every running task of the alloc: kill signal, SIGKILL after KillTimeout (in the supervisor)."""
        alloc = self.alloc()
        for name, tr in list(self.tasks.items()):
            ts = alloc["TaskStates"][name]
            if ts["State"] == "dead":
                continue
            self.update(name, self.killing_event(tr.handle.task))
            tr.driver.stop(tr.handle, signal.SIGTERM)
        if self.starting:
            # start() is still setting the allocation up: it marks what it has not started yet
            # dead itself, once it can (marked here, the task would start all the same).
            self.stop_requested = True
            return
        # Tasks that never got a process (still pending, no supervisor) are simply marked dead.
        for name, ts in alloc["TaskStates"].items():
            if ts["State"] == "pending" and name not in self.tasks:
                self.update(name, wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns())

    def arm_deadline(self, alloc: dict, group: dict) -> None:
        if not group["MaxRunDuration"]:
            return
        delay = (alloc["CreateTime"] + group["MaxRunDuration"] - wire.now_ns()) / wire.SECOND
        self.timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._deadline_passed)

    def _deadline_passed(self) -> None:
        """alloc_runner.EnforceMaxRunDurationTimeout."""
        self.timer = None
        alloc = self.store.alloc(self.alloc_id)
        if alloc is None or alloc_terminal(alloc):
            return
        self.timed_out = True
        self.kill()

    # --- the ephemeral disk --------------------------------------------------------------

    def start_watching(self, alloc_disk: disk.AllocDisk) -> None:
        alloc_disk.start_watch()
        if alloc_disk.watch is not None:
            watch = alloc_disk.watch
            asyncio.get_running_loop().add_reader(watch.fileno(), self._on_disk_events, watch)

    @staticmethod
    def stop_watching(alloc_disk: disk.AllocDisk) -> None:
        if alloc_disk.watch is not None:
            asyncio.get_running_loop().remove_reader(alloc_disk.watch.fileno())
            alloc_disk.watch.close()
            alloc_disk.watch = None

    def _on_disk_events(self, watch: disk.TreeWatch) -> None:
        watch.on_events()  # always: unread, they would keep the loop waking
        self.check_disk()

    def check_disk(self, ended: str = "") -> None:
        """Ephemeral disk: an allocation whose directory outgrows EphemeralDisk.SizeMB is killed at
        once, and fails (the task `ended` has exited already: it only fails)."""
        alloc = self.store.alloc(self.alloc_id)
        alloc_disk = self.disk
        if alloc is None or alloc_disk is None or self.disk_exceeded or alloc_terminal(alloc):
            return
        used = alloc_disk.used()
        if used <= alloc_disk.limit:
            return
        self.disk_exceeded = True
        message = f"allocation directory uses {used / disk.MIB:.2f} MB, over its {alloc_disk.size_mb} MB ephemeral disk"
        for name, tr in self.tasks.items():
            if alloc["TaskStates"][name]["State"] == "dead":
                continue
            exceeded = wire.task_event(
                "Disk Resources Exceeded", Message=message, DiskLimit=alloc_disk.limit, FailsTask=True
            )
            if name == ended:
                self.update(name, exceeded)
                continue
            self.update(name, exceeded, wire.task_event("Killing", KillReason=DISK_KILL_REASON))
            # Not the kill signal and a kill timeout: every moment of grace is more written.
            tr.driver.stop(tr.handle, signal.SIGUSR2)


def _isolated(drivers: dict, task: dict) -> bool:
    driver = drivers.get(task["Driver"])
    return driver is not None and driver.isolated_filesystem
