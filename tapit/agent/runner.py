"""The client side (client/client.go): an alloc runner per allocation (allocrunner/), the task
drivers (drivers/), the disk watcher, the collection of ended allocations, and recovery across
agent restarts.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from tapit.paths import private_dir

from . import allocdir, disk, drivers, procfacts, taskenv
from . import structs as wire
from .allocrunner.alloc_runner import AllocRunner
from .allocrunner.task_runner import TaskRunner
from .cgroups import Cgroups

from .drivers.base import Driver, TaskHandle, read_status
from .drivers.host import SUPERVISOR_ARGV
from .log_readers import LogReaders
from .node import Node
from .state.bucket import Bucket
from .state.store import Store
from .structs.alloc import TERMINAL_CLIENT, alloc_terminal
from .diskpool import DEFAULT_SIZE_MB, FilesystemPool
from .warm import WarmSupervisor

log = logging.getLogger("tapit.agent")
COLLECTED_GRACE_S = 60.0  # how long a purged job's allocations and evaluations stay readable


class TaskNotRunning(Exception):
    """client/allocrunner/taskrunner/errors ErrTaskNotRunning."""


class Runner:
    def __init__(self, store: Store, node: Node, cgroups: Cgroups, root: Path):
        self.store = store
        self.node = node
        self.cgroups = cgroups
        self.alloc_root = private_dir(root / "allocs")
        self.run_dir = private_dir(root / "run")
        self.disks_dir = private_dir(root / "disks")
        self.drivers = drivers.load(self)
        for name, driver in self.drivers.items():
            node.set_driver(name, driver.fingerprint())
        self.disk_mechanism = disk.fingerprint(self.disks_dir)
        node.attributes[disk.ATTRIBUTE] = self.disk_mechanism
        self.disk_pool = FilesystemPool(self.disks_dir) if self.disk_mechanism == disk.FILESYSTEM else None
        self._disk_fill: asyncio.Task | None = None
        self._disk_fill_next = 0  # a size to make ready once the fill under way is done
        self.allocs: dict[str, AllocRunner] = {}  # the allocations with a runner: started, not yet ended
        self.on_alloc_terminal = lambda alloc: None
        self._disk_task: asyncio.Task | None = None
        self._cleanups: dict[str, asyncio.Task] = {}  # releasing or destroying an allocation's disk
        self.log_readers = LogReaders()  # the log streams open now: a release waits for them
        self._restarts: set[asyncio.Task] = set()  # allocations started afresh by reattach()
        self._fingerprints: list[asyncio.Task] = []
        self.warm = WarmSupervisor(SUPERVISOR_ARGV)  # the next host task's supervisor, started ahead

    async def fingerprint_drivers(self) -> None:
        """The drivers that fingerprint again (docker: an engine started or stopped after the
        agent is noticed) do so now, then every period of theirs."""
        for driver in self.drivers.values():
            if driver.fingerprint_period_s:
                await driver.fingerprint_again()
                self._fingerprints.append(asyncio.get_running_loop().create_task(self._fingerprint_every(driver)))

    @staticmethod
    async def _fingerprint_every(driver: Driver) -> None:
        while True:
            await asyncio.sleep(driver.fingerprint_period_s)
            await driver.fingerprint_again()

    def alloc_dir(self, alloc_id: str) -> Path:
        return self.alloc_root / alloc_id

    def filesystem(self, alloc_id: str) -> disk.Filesystem:
        return disk.Filesystem(self.disks_dir / f"{alloc_id}.img", self.alloc_dir(alloc_id))

    def task_env(self, alloc: dict, task: dict, group: dict) -> dict[str, str]:
        driver = self.drivers[task["Driver"]]
        dirs = driver.task_dirs(self.alloc_dir(alloc["ID"]), task["Name"])
        return taskenv.task_env(alloc, task, group, driver.base_env(), dirs)

    def task_stats(self, handle: TaskHandle) -> tuple[dict, int, dict, list[str]]:
        return self.drivers[handle.task["Driver"]].stats(handle)

    def task_handles(self, alloc_id: str) -> dict[str, TaskHandle]:
        """The driver handles of the allocation's tasks, while its runner runs."""
        ar = self.allocs.get(alloc_id)
        return ar.handles if ar is not None else {}

    async def start(self, alloc: dict) -> None:
        ar = self.allocs[alloc["ID"]] = AllocRunner(self, alloc["ID"])
        await ar.start(alloc)

    def kill(self, alloc_id: str) -> None:
        """Stop every running task of the alloc: kill signal, SIGKILL after KillTimeout (in the supervisor)."""
        ar = self.allocs.get(alloc_id)
        if ar is None:  # no runner: only tasks that never got a process are left to mark dead
            ar = AllocRunner(self, alloc_id)
        ar.kill()

    async def signal_task(self, alloc_id: str, task_name: str, name: str) -> None:
        """The task runner's Signal: a "Signaling" event, then the driver's SignalTask.
        TaskNotRunning when no driver handle is held."""
        ar = self.allocs.get(alloc_id)
        tr = ar.tasks.get(task_name) if ar is not None else None
        if ar is None or tr is None or ar.alloc()["TaskStates"][task_name]["State"] != "running":
            raise TaskNotRunning("Task not running")
        event = wire.task_event("Signaling")
        event["Details"]["signal"] = name
        ar.update(task_name, event)
        await tr.driver.signal(tr.handle, name)

    async def restart_alloc(self, alloc_id: str, task_name: str, all_tasks: bool) -> list[str]:
        """client.go RestartAllocation and alloc_runner.go RestartTask/RestartRunning/RestartAll:
        the named task (TaskNotRunning when it is not running), else every running task, each
        restarted in place, and with all_tasks every ended one but a poststop task run again.  The errors of a many-task
        restart, "failed to restart task <name>: <error>" (a task not running is skipped)."""
        if all_tasks and task_name:
            raise ValueError("task name cannot be set when restarting all tasks")
        alloc = self.store.alloc(alloc_id)
        if alloc is None:
            raise KeyError(alloc_id)
        # A terminal allocation keeps its task runners in Nomad until collected; here they go
        # with it, and what they would answer is answered from its task states.
        ar = self.allocs.get(alloc_id)
        tasks = ar.tasks if ar is not None else {}
        if task_name:
            if task_name not in tasks and task_name not in alloc["TaskStates"]:
                raise ValueError(f"Could not find task runner for task: {task_name}")
            reason = "User requested task to restart"
        else:
            reason = f"User requested {'all' if all_tasks else 'running'} tasks to restart"
            # restartTasks: ensure we are not trying to restart an alloc that is terminal.
            if alloc_terminal(alloc):
                raise ValueError("restart of an alloc that should not run")
        event = wire.task_event("Restart Signaled", RestartReason=reason)
        runners = [tasks[task_name]] if task_name in tasks else [] if task_name else list(tasks.values())
        running = [
            tr for tr in runners if alloc["TaskStates"][tr.handle.name]["State"] == "running" and tr.restarting is None
        ]
        if task_name and not running:
            raise TaskNotRunning("Task not running")
        if all_tasks:
            # RestartAll: ForceRestart of a dead task whose Run() still waits for a restart (every
            # task but a poststop one, while the allocation runs): the event, then the run loop's
            # next run of it, at once (restartImpl signals restartCh; there is no handle to kill).
            for tr in runners:
                ts = alloc["TaskStates"][tr.handle.name]
                poststop = (tr.handle.task.get("Lifecycle") or {}).get("Hook") == "poststop"
                if ts["State"] == "dead" and not poststop and tr.restarting is None:
                    tr.update(dict(event, Details=dict(event["Details"])))
                    tr.rerun_dead()
        # restartTasks: every task runner at once, each error collected.
        results = await asyncio.gather(
            *(tr.restart(dict(event, Details=dict(event["Details"]))) for tr in running), return_exceptions=True
        )
        errors = [f"failed to restart task {tr.handle.name}: {exc}" for tr, exc in zip(running, results) if exc]
        return errors

    def alloc_ended(self, alloc: dict) -> None:
        self.on_alloc_terminal(alloc)
        self.collect(self.store.alloc_bucket[alloc["ID"]])

    # --- the ephemeral disks -------------------------------------------------------------

    async def _watch_disk(self) -> None:
        """The size-limited filesystems' free space, often; the watched trees counted afresh, now and then."""
        next_rescan = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(disk.FILESYSTEM_CHECK_S)
            rescan = loop.time() >= next_rescan
            if rescan:
                next_rescan = loop.time() + disk.RESCAN_S
            for ar in list(self.allocs.values()):
                if ar.disk is None:
                    continue
                if ar.disk.watch is not None:
                    if not rescan:
                        continue
                    ar.disk.watch.rescan()
                ar.check_disk()

    def refill_disks(self, size_mb: int) -> None:
        """An ephemeral disk of `size_mb` made ready for the next allocation, in a thread, one
        at a time."""
        if self.disk_pool is None:
            return
        if self._disk_fill is not None:
            self._disk_fill_next = size_mb
            return
        self._disk_fill = asyncio.get_running_loop().create_task(asyncio.to_thread(self.disk_pool.fill, size_mb))
        self._disk_fill.add_done_callback(self._disk_filled)

    def _disk_filled(self, task: asyncio.Task) -> None:
        self._disk_fill = None
        if not task.cancelled() and task.exception() is not None:
            log.error("making an ephemeral disk ready failed", exc_info=task.exception())
        if self._disk_fill_next:
            size_mb, self._disk_fill_next = self._disk_fill_next, 0
            self.refill_disks(size_mb)

    def close(self) -> None:
        """Blocking, as the agent stops: the supervisor and the disk made ready for tasks that
        will not come go."""
        self.warm.close()
        if self.disk_pool is not None:
            self.disk_pool.close()

    # --- cleaning up ---------------------------------------------------------------------

    def after_cleanup(self, alloc_id: str, work, after_readers: bool = False) -> None:
        """Run `work` (blocking file work on the allocation's directory) in a thread, after any
        earlier such work on the same allocation; `after_readers`, once its logs' readers have
        gone (log_readers.py). Earlier work that waits for them goes on at once."""
        previous = self._cleanups.get(alloc_id)
        self.log_readers.wake(alloc_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            if after_readers:
                await self.log_readers.gone(alloc_id)
            try:
                await asyncio.to_thread(work)
            except Exception:
                log.exception("cleaning up the directory of allocation %s failed", alloc_id)
            finally:
                if self._cleanups.get(alloc_id) is task:
                    del self._cleanups[alloc_id]

        task = asyncio.get_running_loop().create_task(run())
        self._cleanups[alloc_id] = task

    def collect(self, bucket: Bucket) -> None:
        """A purged job, once all its allocations have ended, is forgotten with them: the server's
        GC of its evaluations and allocations (nomad/core_sched.go, as `nomad system gc` runs it
        at once), then on the client removeAlloc -> allocrunner Destroy -> allocdir Destroy
        (client/client.go): the allocation directories, their disks and the tasks' run files,
        which hold the tasks' specs and environments, all go."""
        if bucket.job is not None or any(a["ClientStatus"] not in TERMINAL_CLIENT for a in bucket.allocs.values()):
            return
        if self.store.bucket(bucket.namespace, bucket.job_id) is not bucket:
            return  # collected already
        # No event: an eval-delete request has none (nomad/state/events.go MsgTypeEvents).
        with self.store.txn("EvalDelete") as tx:
            tx.forget(bucket)
        asyncio.get_running_loop().call_later(
            COLLECTED_GRACE_S, lambda: [self.store.collected.pop(i, None) for i in (*bucket.allocs, *bucket.evals)]
        )
        for alloc_id in bucket.allocs:
            self.after_cleanup(alloc_id, lambda alloc_id=alloc_id: self._destroy_files(alloc_id))

    def collect_alloc(self, alloc_id: str) -> bool:
        """client/gc.go Collect: a terminal allocation's runner destroyed (its directory, disk and
        run files go); False for one that is not terminal, or already collected."""
        alloc = self.store.alloc(alloc_id)
        if alloc is None or alloc["ClientStatus"] not in TERMINAL_CLIENT or alloc_id in self.allocs:
            return False
        if not self.alloc_dir(alloc_id).exists():
            return False
        self.after_cleanup(alloc_id, lambda: self._destroy_files(alloc_id))
        return True

    def _destroy_files(self, alloc_id: str) -> None:
        self.filesystem(alloc_id).destroy()
        allocdir.remove_tree(self.alloc_dir(alloc_id))
        for path in self.run_dir.glob(f"{alloc_id}.*"):
            path.unlink(missing_ok=True)

    # --- restart -------------------------------------------------------------------------

    def _never_spawned(self, alloc: dict, group: dict) -> bool:
        if alloc["DesiredStatus"] != "run":
            return False
        return all(
            alloc["TaskStates"].get(task["Name"], {}).get("State", "pending") == "pending"
            and not TaskHandle(alloc["ID"], task, self.run_dir).file("handle").exists()
            for task in group["Tasks"]
        )

    def reattach(self) -> None:
        """After an agent restart: watch supervisors that still run, record the ones that ended."""
        self._disk_task = asyncio.get_running_loop().create_task(self._watch_disk())
        if any(self.node.drivers.get(name) for name in ("raw_exec", "exec")):
            self.warm.fill()
        if self.disk_pool is not None:
            self.disk_pool.clear()  # what a stopped agent left ready
            self.refill_disks(DEFAULT_SIZE_MB)
        for alloc in list(self.store.allocs()):
            filesystem = self.filesystem(alloc["ID"])
            if alloc["ClientStatus"] in TERMINAL_CLIENT:
                if filesystem.image.exists():  # it ended while the agent was away
                    self.after_cleanup(alloc["ID"], filesystem.release)
                continue
            group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
            if self._never_spawned(alloc, group):
                # No task of it had a handle yet (the agent stopped while it was being set up):
                # as TaskRunner.Restore does with no persisted TaskHandle
                # (client/allocrunner/taskrunner/task_runner.go), there is nothing to recover and
                # the allocation simply runs, from a clean directory.
                self._destroy_files(alloc["ID"])
                restart = asyncio.get_running_loop().create_task(self.start(alloc))
                self._restarts.add(restart)
                restart.add_done_callback(self._restarts.discard)
                continue
            ar = self.allocs[alloc["ID"]] = AllocRunner(self, alloc["ID"])
            alloc_disk = disk.AllocDisk(self.alloc_dir(alloc["ID"]), group["EphemeralDisk"]["SizeMB"], filesystem)
            alloc_disk.reattach()
            ar.disk = alloc_disk
            ar.start_watching(alloc_disk)
            if any(
                e["Type"] == "Killing" and e["DisplayMessage"] == wire.TIMEOUT_REASON
                for ts in alloc["TaskStates"].values()
                for e in ts["Events"]
            ):
                ar.timed_out = True
            if any(e["Type"] == "Disk Resources Exceeded" for ts in alloc["TaskStates"].values() for e in ts["Events"]):
                ar.disk_exceeded = True
            tasks = ar.tasks
            for task in group["Tasks"]:
                tr = TaskRunner(ar, task)
                handle = tr.handle
                tasks[task["Name"]] = tr
                tr.load_handle()
                status = read_status(handle.status_path)
                sup_pid = int(status.get("sup_pid", 0))
                if procfacts.same_process(sup_pid, int(status.get("sup_start", 0))) and "finished" not in status:
                    handle.sup_pid = sup_pid
                    handle.listening = True  # it wrote its status, which it does with its handlers in place
                    if alloc["TaskStates"][task["Name"]]["State"] == "pending" and "started" in status:
                        tr.update(wire.task_event("Started"), state="running", StartedAt=int(status["started"]))
                    tr.watch()
                elif alloc["TaskStates"][task["Name"]]["State"] != "dead":
                    tr.record_exit(alloc, status)
            if alloc["ID"] in self.allocs and not alloc_terminal(alloc):
                ar.arm_deadline(alloc, group)
            if alloc["DesiredStatus"] == "stop":
                # The stop may have been requested just before the crash; repeating it is harmless.
                for tr in tasks.values():
                    tr.handle.signal(signal.SIGTERM)
        for bucket in list(self.store.buckets.values()):
            self.collect(bucket)  # purged while (or just before) the agent was away
