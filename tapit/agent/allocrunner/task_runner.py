"""One task of an allocation (client/allocrunner/taskrunner/task_runner.go): starts it through
its driver under a supervisor, waits for the supervisor and records how the task ended, as
Nomad's task runner does (task events, TaskState)."""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import signal
import subprocess
from typing import TYPE_CHECKING

from tapit.paths import open_private, write_private

from .. import structs as wire
from ..drivers.base import Driver, TaskHandle, read_status

if TYPE_CHECKING:
    from .alloc_runner import AllocRunner

log = logging.getLogger("tapit.agent")
LOST_REASON = "task process vanished while the agent was down; no exit status was recorded"
# The agent saw the supervisor go (killed from outside, or it failed) before it said how the task ended.
SUPERVISOR_DIED_REASON = "the task's supervisor exited ({how}) before recording how the task ended"
HARD_KILL_REASON = "the embedded agent was stopped with --kill-tasks"


def not_restarting(reason: str) -> list[dict]:
    return [wire.task_event("Not Restarting", RestartReason=reason, FailsTask=True)]


class TaskRunner:
    def __init__(self, ar: AllocRunner, task: dict):
        self.ar = ar
        self.runner = ar.runner
        self.handle = TaskHandle(ar.alloc_id, task, self.runner.run_dir)
        self.alloc: dict = {}  # the allocation as start() was given it
        self.group: dict = {}
        # Set while a restart the user asked for waits for the task to exit (lifecycle.go
        # restartImpl: the restart tracker's restartTriggered).
        self.restarting: asyncio.Future | None = None
        self._rerun: asyncio.Task | None = None

    @property
    def driver(self) -> Driver:
        return self.runner.drivers[self.handle.task["Driver"]]

    not_restarting = staticmethod(not_restarting)

    def update(self, *events: dict, **kwargs) -> None:
        self.ar.update(self.handle.name, *events, **kwargs)

    # --- starting ------------------------------------------------------------------------

    def start_failed(self, exc: Exception) -> None:
        """Whatever went wrong on the way to a running task fails it, as a runDriver error does in
        Nomad (Driver Failure, then Not Restarting): an allocation is never left pending."""
        handle = self.handle
        alloc = self.runner.store.alloc(handle.alloc_id)
        if alloc is None or alloc["TaskStates"][handle.name]["State"] != "pending":
            return  # it started (or ended) after all; its supervisor reports the rest
        if handle.proc is not None:
            # A supervisor we lost track of: it kills its task and exits (reaped by subprocess).
            handle.proc.send_signal(signal.SIGUSR1)
        elif handle.cgroup is not None:
            for path in handle.cgroup.dirs.values():  # no supervisor will remove them
                try:
                    path.rmdir()
                except OSError:
                    pass
        try:
            self.fail_start(str(exc) or type(exc).__name__)
        except Exception:
            log.exception("recording the failure of task %s of allocation %s failed", handle.name, handle.alloc_id)

    async def spawn(self, alloc: dict, group: dict) -> None:
        handle = self.handle
        self.alloc, self.group = alloc, group
        task = handle.task
        node = self.runner.node
        if task["Driver"] not in node.drivers or not node.drivers[task["Driver"]]:
            return self.fail_start(f'driver "{task["Driver"]}" is not available on this node')
        kill_signal = getattr(signal, task["KillSignal"] or "SIGINT", None)
        if not isinstance(kill_signal, signal.Signals):
            return self.fail_start(f"invalid kill signal {task['KillSignal']!r}")
        deadline = 0.0
        if group["MaxRunDuration"]:
            deadline = (alloc["CreateTime"] + group["MaxRunDuration"]) / wire.SECOND
        logs = self.runner.alloc_dir(alloc["ID"]) / "alloc" / "logs"
        log_cfg = task["LogConfig"]
        spec = {
            "status": str(handle.status_path),
            "stdout": str(logs / f"{task['Name']}.stdout"),
            "stderr": str(logs / f"{task['Name']}.stderr"),
            "max_bytes": max(1, log_cfg["MaxFileSizeMB"]) * 1024 * 1024,
            "max_files": max(1, log_cfg["MaxFiles"]),
            "kill_timeout": min(task["KillTimeout"], wire.DEFAULT_MAX_KILL_TIMEOUT) / wire.SECOND,
            "deadline": deadline,
        }
        handle.env = self.runner.task_env(alloc, task, group)
        supervisor = await self.driver.start(self, spec, kill_signal)
        if supervisor is None:
            return
        spec_path = handle.file("spec")
        spec["log"] = str(handle.file("log"))  # a warm supervisor opens its stderr itself
        write_private(spec_path, marshal.dumps(spec))
        warm = self.runner.warm
        taken = warm.take(str(spec_path)) if supervisor == warm.argv else None
        if taken is not None:
            handle.proc, read_fd = taken
        else:
            handle.proc, read_fd = _start_supervisor(supervisor, spec_path, handle.file("log"))
        handle.sup_pid = handle.proc.pid
        self.watch()
        line = await read_line(read_fd)
        # The supervisor reports only once its signal handlers are in place: a stop that came
        # before (kill() kept it pending) is sent now, when it can no longer kill the supervisor.
        handle.listening = True
        if handle.pending_signal:
            handle.signal(handle.pending_signal)
        if line.startswith("started ") and alloc["TaskStates"][handle.name]["State"] == "pending":
            # The supervisor's own time of the start, the clock that also stamps `finished`: read
            # here, after a short task may already have ended, the agent's clock would put
            # StartedAt after FinishedAt, which Nomad's task runner never does (updateStateImpl).
            started = int(read_status(handle.status_path).get("started") or wire.now_ns())
            self.update(wire.task_event("Started", when=started), state="running", StartedAt=started)
        if supervisor == warm.argv:
            warm.fill()  # for the next task, once this one is recorded running

    def persist(self) -> None:
        """The handle and the allocation on disk, and no stale status, before the task's process or
        container exists: a crash at any later moment can never orphan an unknown task."""
        handle = self.handle
        handle.status_path.unlink(missing_ok=True)
        cg = handle.cgroup
        meta = {
            "cgroup_version": cg.version if cg else "",
            "cgroup_dirs": {k: str(v) for k, v in cg.dirs.items()} if cg else {},
            "env": handle.env,
            "cwd": handle.cwd,
        }
        write_private(handle.file("handle"), marshal.dumps(meta))
        self.runner.store.flush()

    def load_handle(self) -> None:
        try:
            meta = marshal.loads(self.handle.file("handle").read_bytes())
        except (OSError, EOFError, ValueError):
            return
        self.driver.recover(self.handle, meta)

    def fail_start(self, error: str) -> None:
        self.update(
            wire.task_event("Driver Failure", DriverError=error),
            *not_restarting("Error was unrecoverable"),
            state="dead",
            failed=True,
            FinishedAt=wire.now_ns(),
        )

    def watch(self) -> None:
        self.driver.wait(self.handle, self.supervisor_exited)

    def close(self) -> None:
        handle = self.handle
        if handle.pidfd >= 0:
            asyncio.get_running_loop().remove_reader(handle.pidfd)
            os.close(handle.pidfd)
            handle.pidfd = -1

    # --- restarts ------------------------------------------------------------------------

    async def restart(self, event: dict) -> None:
        """lifecycle.go Restart/restartImpl: the event first, then the task killed with its kill
        signal, and a wait until it has exited; record_exit then runs it again in place."""
        loop = asyncio.get_running_loop()
        self.restarting = restarting = loop.create_future()
        self.update(event)
        self.driver.stop(self.handle, signal.SIGTERM)
        await restarting

    def _restarted(self, events: list[dict], finished: int | None) -> None:
        """task_runner.go shouldRestart for a triggered restart: "Restarting" with no delay and no
        reason, the task pending again (Restarts counted, LastRestart stamped: appendEvent), then
        the MAIN loop's next run of the task."""
        restart = wire.task_event("Restarting", StartDelay=0, RestartReason="")
        ts = self.ar.alloc()["TaskStates"][self.handle.name]
        times = {"FinishedAt": finished} if finished is not None else {}  # a dead task keeps its own
        self.update(
            *events,
            restart,
            state="pending",
            restarts=ts["Restarts"] + 1,
            LastRestart=restart["Time"],
            **times,
        )
        self.handle = TaskHandle(self.handle.alloc_id, self.handle.task, self.runner.run_dir)
        self._rerun = asyncio.get_running_loop().create_task(self._run_again(self.ar.alloc()))

    def rerun_dead(self) -> None:
        """The run loop woken from its wait after the task died (task_runner.go ALLOC_RESTART):
        shouldRestart for the triggered restart, and the task run again."""
        self.close()
        self._restarted([], None)

    async def _run_again(self, alloc: dict) -> None:
        try:
            await self.spawn(alloc, self.group)
        except Exception as exc:
            log.exception("restarting task %s of allocation %s failed", self.handle.name, self.handle.alloc_id)
            self.start_failed(exc)

    def _restart_done(self) -> bool:
        """Whether a requested restart was waiting on this exit (and no stop came meanwhile)."""
        restarting, self.restarting = self.restarting, None
        if restarting is None:
            return False
        if not restarting.done():
            restarting.set_result(None)
        return self.ar.alloc()["DesiredStatus"] != "stop" and not self.ar.timed_out and not self.ar.disk_exceeded

    # --- exits ---------------------------------------------------------------------------

    def supervisor_exited(self, handle: TaskHandle) -> None:
        if handle.proc is not None:
            handle.proc.poll()  # reap it through its Popen, which then knows it is gone
        elif handle.pidfd >= 0:
            try:
                os.waitid(os.P_PIDFD, handle.pidfd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass  # not our child: a supervisor we reattached to after a restart
        self.close()
        alloc = self.runner.store.alloc(handle.alloc_id)
        if alloc is None or alloc["TaskStates"][handle.name]["State"] == "dead":
            return
        # What it wrote in its last moments, before the next look at its disk, counts too.
        self.ar.check_disk(ended=handle.name)
        status = self.driver.inspect(handle)
        if "finished" in status or "error" in status:
            return self.record_exit(alloc, status)
        # The agent saw the supervisor go without saying how the task ended (killed from
        # outside, or failing itself): as when a Nomad executor dies under a running client
        # (drivers/rawexec/handle.go run: Wait's error becomes the ExitResult's Err), the task
        # terminates with that error as its exit message and fails. Lost is for a task the agent
        # finds gone on its return (record_exit).
        self._restart_done()  # a restart waiting on it ends with the task
        code = handle.proc.returncode if handle.proc is not None else None
        how = "cause unknown" if code is None else f"signal {-code}" if code < 0 else f"exit code {code}"
        self.driver.destroy(handle)
        self.update(
            wire.task_event(
                "Terminated",
                ExitCode=0,
                Signal=0,
                OOMKilled=False,
                ExitMessage=SUPERVISOR_DIED_REASON.format(how=how),
            ),
            *not_restarting("Policy allows no restarts"),
            state="dead",
            failed=True,
            FinishedAt=wire.now_ns(),
        )

    def record_exit(self, alloc: dict, status: dict) -> None:
        handle, ar = self.handle, self.ar
        name = handle.name
        ts = alloc["TaskStates"][name]
        restart = self._restart_done()
        if "error" in status:
            return self.fail_start(status["error"])
        if "finished" not in status:
            self.driver.destroy(handle)
            alloc["ClientStatus"], alloc["ClientDescription"] = "lost", LOST_REASON
            return self.update(
                wire.task_event("Failed Restoring Task", Message=LOST_REASON, FailsTask=True),
                state="dead",
                failed=True,
                FinishedAt=wire.now_ns(),
            )
        if ts["State"] == "pending":  # the agent died before it saw "started"
            self.update(
                wire.task_event("Started", when=int(status["started"])),
                state="running",
                StartedAt=int(status["started"]),
            )
        finished = int(status["finished"])
        events = []
        kill_reason = status.get("kill_reason", "")
        if kill_reason == "deadline" and not ar.timed_out:
            # The supervisor hit the deadline while the agent was away.
            ar.timed_out = True
            events.append(ar.killing_event(handle.task, int(status["kill_started"])))
        code, sig, oom = int(status["exit_code"]), int(status["signal"]), int(status.get("oom", 0)) > 0
        exit_message: dict[str, str] = {}
        if oom:
            exit_message["ExitMessage"] = "OOM Killed"
        elif code and (message := self.driver.exit_message(code)):
            exit_message["ExitMessage"] = message
        if dropped := int(status.get("log_dropped", 0)):
            # Never lost silently: the output that found its disk full is counted where it ended.
            message = f"{dropped} bytes of the task's output were not kept: its disk was full"
            events.append(wire.task_event("Disk Resources Exceeded", when=finished, Message=message))
        events.append(
            wire.task_event("Terminated", when=finished, ExitCode=code, Signal=sig, OOMKilled=oom, **exit_message)
        )
        if restart and kill_reason in ("", "request"):
            return self._restarted(events, finished)
        killed = bool(kill_reason) or alloc["DesiredStatus"] == "stop"
        failed = ar.disk_exceeded or kill_reason == "disk"
        if kill_reason == "hard" and alloc["DesiredStatus"] != "stop":
            # Nobody stopped its job: it went down with the agent (tapit agent stop --kill-tasks),
            # which is a failure of the task, never a completion.
            events.insert(-1, wire.task_event("Killing", when=finished, KillReason=HARD_KILL_REASON))
            failed = True
        if killed:
            events.append(wire.task_event("Killed"))
        elif code or sig:
            events += not_restarting("Policy allows no restarts")
            failed = True
        self.update(*events, state="dead", failed=failed, FinishedAt=finished)


def _start_supervisor(supervisor: list[str], spec_path, log_path) -> tuple[subprocess.Popen, int]:
    """A supervisor of the task's own: (its process, the read end of its stdout)."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    log_fd = open_private(log_path, os.O_WRONLY | os.O_APPEND)
    # A plain (v)fork+exec rather than asyncio's subprocess: no child watcher thread per task,
    # and the supervisor gets its own session so that it outlives the agent.  Not os.posix_spawn:
    # glibc's leaves its internal signals (32, 33) ignored in the child, which every task would
    # inherit, and Python cannot set those back to SIG_DFL.
    try:
        proc = subprocess.Popen(
            [*supervisor, str(spec_path)],
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=log_fd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        os.close(log_fd)
    return proc, read_fd


async def read_line(fd: int) -> str:
    """The supervisor's one-line report, read without blocking the loop."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    buf = bytearray()

    def on_readable() -> None:
        chunk = os.read(fd, 4096)
        buf.extend(chunk)
        if not chunk or b"\n" in buf:
            loop.remove_reader(fd)
            os.close(fd)
            done.set_result(buf.decode(errors="replace").split("\n", 1)[0])

    loop.add_reader(fd, on_readable)
    return await done
