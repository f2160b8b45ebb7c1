"""The client side: runs allocations' tasks under supervisors and reports their state as Nomad's
task runner does (task events, TaskStates, ClientStatus), across agent restarts.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tapit.paths import open_private, private_dir, write_private

from . import allocdir, disk, engine
from . import structs as wire
from .cgroups import Cgroups, TaskCgroup
from .node import DATACENTER, UNSHARE, Node
from .state.store import Bucket, Store
from .structs.alloc import TERMINAL_CLIENT, alloc_terminal

log = logging.getLogger("tapit.agent")
SUPERVISOR = str(Path(__file__).with_name("supervisor.py"))
CONTAINER_SUPERVISOR = "tapit.agent.container_supervisor"
MAX_EVENTS = 10
LOST_REASON = "task process vanished while the agent was down; no exit status was recorded"
# The agent saw the supervisor go (killed from outside, or it failed) before it said how the task ended.
SUPERVISOR_DIED_REASON = "the task's supervisor exited ({how}) before recording how the task ended"
HARD_KILL_REASON = "the embedded agent was stopped with --kill-tasks"
DISK_KILL_REASON = "the allocation outgrew its ephemeral disk"
COLLECTED_GRACE_S = 60.0  # how long a purged job's allocations and evaluations stay readable
# command/agent/host/host.go DefaultEnvDenyList, the client's default `env.denylist`: what a host
# task (raw_exec, exec) never inherits of the agent's environment (task_dir_hook.go SetHostEnvvars).
ENV_DENYLIST = {
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "CONSUL_LICENSE_PATH",
    "NOMAD_LICENSE_PATH",
    "VAULT_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_METADATA_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
}
# ...and, as an operator would add to that list, tapit's own settings (TAPIT_HOME says where the
# agent's token is): a task gets Nomad's task environment, nothing of tapit's.
ENV_DENY_PREFIX = "TAPIT_"


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


class TaskNotRunning(Exception):
    """client/allocrunner/taskrunner/errors ErrTaskNotRunning."""


def inherited(name: str) -> bool:
    return name not in ENV_DENYLIST and not name.startswith(ENV_DENY_PREFIX)


def clean_env_var(name: str) -> str:
    """helper.CleanEnvVar: characters outside [A-Za-z0-9_.] become '_'."""
    return "".join(
        c if c in "_." or c.isascii() and (c.isalpha() or (i and c.isdigit())) else "_" for i, c in enumerate(name)
    )


def read_status(path: Path) -> dict:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def proc_start(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


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


class Runner:
    def __init__(self, store: Store, node: Node, cgroups: Cgroups, root: Path):
        self.store = store
        self.node = node
        self.cgroups = cgroups
        self.alloc_root = private_dir(root / "allocs")
        self.run_dir = private_dir(root / "run")
        self.disks_dir = private_dir(root / "disks")
        self.disk_mechanism = disk.fingerprint(self.disks_dir)
        node.attributes[disk.ATTRIBUTE] = self.disk_mechanism
        self.handles: dict[str, dict[str, TaskHandle]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.timed_out: set[str] = set()
        self.disks: dict[str, disk.AllocDisk] = {}
        self.disk_exceeded: set[str] = set()
        self.on_alloc_terminal = lambda alloc: None
        self._disk_task: asyncio.Task | None = None
        self._cleanups: dict[str, asyncio.Task] = {}  # releasing or destroying an allocation's disk
        self._starting: set[str] = set()  # allocations start() is still bringing up
        self._stop_requested: set[str] = set()  # ...and those of them stopped meanwhile
        self._restarts: set[asyncio.Task] = set()  # allocations started afresh by reattach()

    # --- task state bookkeeping -----------------------------------------------------------

    def _update(
        self,
        alloc_id: str,
        task_name: str | None,
        *events: dict,
        state: str | None = None,
        failed: bool | None = None,
        **times,
    ) -> None:
        """Append task events and recompute the alloc's client status, in one AllocationUpdated."""
        if alloc_id not in self.store.alloc_bucket:
            return  # collected with its purged job: nothing of it is written again
        alloc = self.store.alloc(alloc_id)
        with self.store.txn("AllocationUpdated") as tx:
            if task_name is not None:
                ts = alloc["TaskStates"][task_name]
                ts["Events"] = (ts["Events"] + list(events))[-MAX_EVENTS:]
                if state:
                    ts["State"] = state
                if failed is not None:
                    ts["Failed"] = failed
                for key, value in times.items():
                    ts[key] = wire.rfc3339nano(value)
            self._client_status(alloc)
            tx.put_alloc(alloc)
        if alloc["ClientStatus"] in TERMINAL_CLIENT:
            self._forget(alloc_id)
            self.on_alloc_terminal(alloc)
            self.collect(self.store.alloc_bucket[alloc_id])

    def _client_status(self, alloc: dict) -> None:
        """alloc_runner.clientAlloc/getClientStatus."""
        if alloc["ClientStatus"] == "lost":
            return
        states = alloc["TaskStates"].values()
        if alloc["ID"] in self.timed_out and all(s["State"] == "dead" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "complete", wire.TIMEOUT_REASON
        elif any(s["State"] == "dead" and s["Failed"] for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "failed", "Failed tasks"
        elif any(s["State"] == "running" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "running", "Tasks are running"
        elif any(s["State"] == "pending" for s in states):
            alloc["ClientStatus"], alloc["ClientDescription"] = "pending", "No tasks have started"
        else:
            alloc["ClientStatus"], alloc["ClientDescription"] = "complete", "All tasks have completed"

    def _forget(self, alloc_id: str) -> None:
        timer = self.timers.pop(alloc_id, None)
        if timer:
            timer.cancel()
        for handle in self.handles.pop(alloc_id, {}).values():
            self._close(handle)
        self.timed_out.discard(alloc_id)
        self.disk_exceeded.discard(alloc_id)
        alloc_disk = self.disks.pop(alloc_id, None)
        if alloc_disk is not None:
            self._stop_watching(alloc_disk)
            if alloc_disk.filesystem is not None:  # its limit has done its work: keep the logs only
                self._after_cleanup(alloc_id, alloc_disk.filesystem.release)

    def _close(self, handle: TaskHandle) -> None:
        if handle.pidfd >= 0:
            asyncio.get_running_loop().remove_reader(handle.pidfd)
            os.close(handle.pidfd)
            handle.pidfd = -1

    # --- starting ------------------------------------------------------------------------

    def alloc_dir(self, alloc_id: str) -> Path:
        return self.alloc_root / alloc_id

    def filesystem(self, alloc_id: str) -> disk.Filesystem:
        return disk.Filesystem(self.disks_dir / f"{alloc_id}.img", self.alloc_dir(alloc_id))

    def task_env(self, alloc: dict, task: dict, group: dict) -> dict[str, str]:
        """The environment Nomad's taskenv builder gives a task (client/taskenv/env.go): a host
        process inherits the agent's environment and sees host paths; a container sees only
        Nomad's variables, with the paths its binds mount (/alloc, /local, /secrets)."""
        job = alloc["Job"]
        res = task["Resources"]
        if task["Driver"] == "docker":
            env = {}
            dirs = (engine.CONTAINER_ALLOC_DIR, engine.CONTAINER_TASK_DIR, engine.CONTAINER_SECRETS_DIR)
        else:
            env = {k: v for k, v in os.environ.items() if inherited(k)}
            task_dir = self.alloc_dir(alloc["ID"]) / task["Name"]
            dirs = (str(task_dir.parent / "alloc"), str(task_dir / "local"), str(task_dir / "secrets"))
        env.update(
            {
                "NOMAD_ALLOC_DIR": dirs[0],
                "NOMAD_TASK_DIR": dirs[1],
                "NOMAD_SECRETS_DIR": dirs[2],
                "NOMAD_MEMORY_LIMIT": str(res["MemoryMB"]),
                "NOMAD_CPU_LIMIT": str(res["CPU"]),
                "NOMAD_ALLOC_ID": alloc["ID"],
                "NOMAD_SHORT_ALLOC_ID": alloc["ID"][:8],
                "NOMAD_ALLOC_NAME": alloc["Name"],
                "NOMAD_GROUP_NAME": group["Name"],
                "NOMAD_ALLOC_INDEX": alloc["Name"].rsplit("[", 1)[1].rstrip("]"),
                "NOMAD_TASK_NAME": task["Name"],
                "NOMAD_JOB_ID": job["ID"],
                "NOMAD_JOB_NAME": job["Name"],
                "NOMAD_DC": DATACENTER,
                "NOMAD_NAMESPACE": job["Namespace"],
                "NOMAD_REGION": job["Region"],
            }
        )
        if res["MemoryMaxMB"]:
            env["NOMAD_MEMORY_MAX_LIMIT"] = str(res["MemoryMaxMB"])
        if res["Cores"]:
            env["NOMAD_CPU_CORES"] = ",".join(str(i) for i in range(res["Cores"]))
        if job["ParentID"]:
            env["NOMAD_JOB_PARENT_ID"] = job["ParentID"]
        # Job meta, overridden by group meta, overridden by task meta (Job.CombinedTaskMeta).
        meta = {**(job["Meta"] or {}), **(group["Meta"] or {}), **(task["Meta"] or {})}
        for key, value in meta.items():
            env[clean_env_var(f"NOMAD_META_{key.upper()}")] = value
            env[clean_env_var(f"NOMAD_META_{key}")] = value
        env.update(task["Env"] or {})
        return env

    async def start(self, alloc: dict) -> None:
        group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
        alloc_dir = self.alloc_dir(alloc["ID"])
        handles = self.handles.setdefault(alloc["ID"], {})
        self._starting.add(alloc["ID"])
        try:
            await self._start(alloc, group, alloc_dir, handles)
        finally:
            self._starting.discard(alloc["ID"])
            self._stop_requested.discard(alloc["ID"])

    async def _start(self, alloc: dict, group: dict, alloc_dir: Path, handles: dict) -> None:
        try:
            private_dir(alloc_dir)
            alloc_disk = disk.AllocDisk(alloc_dir, group["EphemeralDisk"]["SizeMB"], self.filesystem(alloc["ID"]))
            self.disks[alloc["ID"]] = alloc_disk
            await asyncio.to_thread(alloc_disk.set_up, self.disk_mechanism)
            self._start_watching(alloc["ID"], alloc_disk)
            allocdir.build_shared(alloc_dir, any(t["Driver"] == "docker" for t in group["Tasks"]))
            self._arm_deadline(alloc, group)
        except Exception as exc:  # e.g. no room or no permission for the alloc dir
            log.exception("setting up allocation %s failed", alloc["ID"])
            for task in group["Tasks"]:
                self._start_failed(alloc["ID"], TaskHandle(alloc["ID"], task, self.run_dir), exc)
            return
        for task in group["Tasks"]:
            if alloc["ID"] in self._stop_requested:  # stopped while it was being set up: never run
                self._update(
                    alloc["ID"], task["Name"], wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns()
                )
                continue
            handle = TaskHandle(alloc["ID"], task, self.run_dir)
            try:
                self._update(alloc["ID"], task["Name"], wire.task_event("Received"))
                allocdir.build_task(alloc_dir, task["Name"], task["Driver"] == "docker")
                self._update(
                    alloc["ID"],
                    task["Name"],
                    wire.task_event("Task Setup", Message="Building Task Directory"),
                    wire.task_event("Task Setup", Message=alloc_disk.description()),
                )
                handles[task["Name"]] = handle
                await self._spawn(alloc, group, handle)
            except Exception as exc:
                log.exception("starting task %s of allocation %s failed", task["Name"], alloc["ID"])
                self._start_failed(alloc["ID"], handle, exc)

    def _start_failed(self, alloc_id: str, handle: TaskHandle, exc: Exception) -> None:
        """Whatever went wrong on the way to a running task fails it, as a runDriver error does in
        Nomad (Driver Failure, then Not Restarting): an allocation is never left pending."""
        alloc = self.store.alloc(alloc_id)
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
            self._fail_start(handle, str(exc) or type(exc).__name__)
        except Exception:
            log.exception("recording the failure of task %s of allocation %s failed", handle.name, alloc_id)

    async def _spawn(self, alloc: dict, group: dict, handle: TaskHandle) -> None:
        task = handle.task
        if task["Driver"] not in self.node.drivers or not self.node.drivers[task["Driver"]]:
            return self._fail_start(handle, f'driver "{task["Driver"]}" is not available on this node')
        kill_signal = getattr(signal, task["KillSignal"] or "SIGINT", None)
        if not isinstance(kill_signal, signal.Signals):
            return self._fail_start(handle, f"invalid kill signal {task['KillSignal']!r}")
        deadline = 0.0
        if group["MaxRunDuration"]:
            deadline = (alloc["CreateTime"] + group["MaxRunDuration"]) / wire.SECOND
        logs = self.alloc_dir(alloc["ID"]) / "alloc" / "logs"
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
        handle.env = self.task_env(alloc, task, group)
        if task["Driver"] == "docker":
            supervisor = await self._container_spec(alloc, handle, spec, kill_signal)
        else:
            supervisor = self._process_spec(alloc, handle, spec, kill_signal)
        if supervisor is None:
            return
        spec_path = handle.file("spec")
        write_private(spec_path, marshal.dumps(spec))
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        log_fd = open_private(handle.file("log"), os.O_WRONLY | os.O_APPEND)
        # A plain (v)fork+exec rather than asyncio's subprocess: no child watcher thread per task,
        # and the supervisor gets its own session so that it outlives the agent.  Not os.posix_spawn:
        # glibc's leaves its internal signals (32, 33) ignored in the child, which every task would
        # inherit, and Python cannot set those back to SIG_DFL.
        try:
            handle.proc = subprocess.Popen(
                [*supervisor, str(spec_path)],
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=log_fd,
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
            os.close(log_fd)
        handle.sup_pid = handle.proc.pid
        self._watch(handle)
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
            self._update(
                handle.alloc_id,
                handle.name,
                wire.task_event("Started", when=started),
                state="running",
                StartedAt=started,
            )

    def _process_spec(
        self, alloc: dict, handle: TaskHandle, spec: dict, kill_signal: signal.Signals
    ) -> list[str] | None:
        """raw_exec and exec: the command runs as a host process in a cgroup of its own."""
        task = handle.task
        config = task["Config"] or {}
        command = config.get("command")
        if not isinstance(command, str) or not command:
            error = '1 error occurred:\n\t* missing required field "command"\n\n'
            self._update(
                handle.alloc_id,
                handle.name,
                wire.task_event("Failed Validation", ValidationError=error),
                *self._not_restarting("Error was unrecoverable"),
                state="dead",
                failed=True,
                FinishedAt=wire.now_ns(),
            )
            return None
        res = task["Resources"]
        cpu = res["CPU"] or res["Cores"] * self.node.mhz_per_core
        cgroup = self.cgroups.create(
            f"{alloc['ID']}.{task['Name']}", res["MemoryMaxMB"] or res["MemoryMB"], cpu, self.node.mhz_per_core
        )
        handle.cgroup = cgroup
        handle.cwd = config.get("work_dir") or str(self.alloc_dir(alloc["ID"]) / task["Name"])
        argv = [command, *[str(a) for a in config.get("args") or []]]
        isolated = task["Driver"] == "exec"
        spec.update(
            {
                "argv": UNSHARE + argv if isolated else argv,
                "env": handle.env,
                "cwd": handle.cwd,
                "procs": cgroup.procs if cgroup else [],
                "cgroup_dirs": [str(d) for d in (cgroup.dirs.values() if cgroup else ())],
                "oom_file": self._oom_file(cgroup),
                "kill_signal": int(kill_signal),
                "signal_group": isolated,
            }
        )
        self._persist(handle)
        # python -S: the supervisor needs the standard library only, and starts faster without site.
        return [sys.executable, "-I", "-S", SUPERVISOR]

    async def _container_spec(
        self, alloc: dict, handle: TaskHandle, spec: dict, kill_signal: signal.Signals
    ) -> list[str] | None:
        """docker: the agent gets the image (reporting a download as a task event), then creates
        and starts the container itself, which is quick with the engine's client already loaded;
        the container supervisor, slower to start, attaches to it afterwards.  The engine keeps
        the container's output from its first byte, so nothing is lost in between."""
        import aiodocker

        task = handle.task
        image = (task["Config"] or {}).get("image")
        if not image:
            self._fail_start(handle, "image name required for docker driver")
            return None

        def downloading(ref: str) -> None:
            self._update(handle.alloc_id, handle.name, wire.driver_event("Downloading image", {"image": ref}))
            log.info("pulling %s for allocation %s", ref, handle.alloc_id)

        name = engine.container_name(task["Name"], alloc["ID"])
        spec.update(
            {
                "engine": self.node.engine.url,
                "api_version": self.node.engine.api_version,
                "name": name,
                "tty": bool((task["Config"] or {}).get("tty")),
                "kill_signal": kill_signal.name,
            }
        )
        async with self.node.engine.client() as docker:
            await engine.ensure_image(docker, image, downloading)
            if handle.pending_signal:  # stopped while the image came
                self._update(
                    handle.alloc_id, handle.name, wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns()
                )
                return None
            # Known before the container exists: a crash from here on leaves a container that a
            # restarted agent finds by name and removes (_destroy_remnants), never an unknown one.
            self._persist(handle)
            try:
                # A container of this name is the remnant of an earlier attempt that never ran.
                await docker.containers.container(name).delete(force=True)
            except aiodocker.DockerError:
                pass
            container = await docker.containers.create(
                engine.container_config(
                    alloc_id=alloc["ID"],
                    task=task,
                    env=handle.env,
                    alloc_dir=self.alloc_dir(alloc["ID"]),
                    total_compute=self.node.total_cpu,
                ),
                name=name,
            )
            try:
                await container.start()
                pid = (await container.show())["State"]["Pid"]
            except aiodocker.DockerError:
                await container.delete(force=True)
                raise
        handle.cgroup = self.cgroups.of_process(pid) if pid else None
        self._update(handle.alloc_id, handle.name, wire.task_event("Started"), state="running", StartedAt=wire.now_ns())
        return [sys.executable, "-I", "-m", CONTAINER_SUPERVISOR]

    @staticmethod
    def in_task_namespaces(handle: TaskHandle, argv: list[str]) -> list[str]:
        """An exec session into an `exec` task joins the task's pid and mount namespaces, as
        Nomad's executor does: through the first child of the task's `unshare`, which is pid 1
        in them (unshare itself stays in the agent's pid namespace)."""
        return ["nsenter", f"--target={Runner.namespace_init(handle)}", "--pid", "--mount", "--", *argv]

    @staticmethod
    def namespace_init(handle: TaskHandle) -> int:
        """The first child of an `exec` task's `unshare`: pid 1 of the task's namespaces."""
        pid = handle.pid  # read from the status file
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            raise ProcessLookupError("the task's namespaces are gone") from None

    def _persist(self, handle: TaskHandle) -> None:
        """The handle and the allocation on disk, and no stale status, before the task's process or
        container exists: a crash at any later moment can never orphan an unknown task."""
        handle.status_path.unlink(missing_ok=True)
        cg = handle.cgroup
        meta = {
            "cgroup_version": cg.version if cg else "",
            "cgroup_dirs": {k: str(v) for k, v in cg.dirs.items()} if cg else {},
            "env": handle.env,
            "cwd": handle.cwd,
        }
        write_private(handle.file("handle"), marshal.dumps(meta))
        self.store.flush()

    def _load_handle(self, handle: TaskHandle) -> None:
        try:
            meta = marshal.loads(handle.file("handle").read_bytes())
        except (OSError, EOFError, ValueError):
            return
        if meta["cgroup_version"]:
            handle.cgroup = Cgroups.attach(meta["cgroup_version"], meta["cgroup_dirs"])
        elif handle.task["Driver"] == "docker" and handle.pid:
            # The engine's cgroup for the container: read for usage figures, never removed by us.
            handle.cgroup = self.cgroups.of_process(handle.pid)
        handle.env, handle.cwd = meta["env"], meta["cwd"]

    @staticmethod
    def _oom_file(cgroup: TaskCgroup | None) -> str:
        if not cgroup or "memory" not in cgroup.dirs:
            return ""
        name = "memory.events" if cgroup.version == "v2" else "memory.oom_control"
        return str(cgroup.dirs["memory"] / name)

    def _fail_start(self, handle: TaskHandle, error: str) -> None:
        self._update(
            handle.alloc_id,
            handle.name,
            wire.task_event("Driver Failure", DriverError=error),
            *self._not_restarting("Error was unrecoverable"),
            state="dead",
            failed=True,
            FinishedAt=wire.now_ns(),
        )

    @staticmethod
    def _not_restarting(reason: str) -> list[dict]:
        return [wire.task_event("Not Restarting", RestartReason=reason, FailsTask=True)]

    def _watch(self, handle: TaskHandle) -> None:
        try:
            handle.pidfd = os.pidfd_open(handle.sup_pid)
        except ProcessLookupError:
            asyncio.get_running_loop().call_soon(self._supervisor_exited, handle)
            return
        asyncio.get_running_loop().add_reader(handle.pidfd, self._supervisor_exited, handle)

    # --- exits ---------------------------------------------------------------------------

    def _supervisor_exited(self, handle: TaskHandle) -> None:
        if handle.proc is not None:
            handle.proc.poll()  # reap it through its Popen, which then knows it is gone
        elif handle.pidfd >= 0:
            try:
                os.waitid(os.P_PIDFD, handle.pidfd, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                pass  # not our child: a supervisor we reattached to after a restart
        self._close(handle)
        alloc = self.store.alloc(handle.alloc_id)
        if alloc is None or alloc["TaskStates"][handle.name]["State"] == "dead":
            return
        # What it wrote in its last moments, before the next look at its disk, counts too.
        self._check_disk(handle.alloc_id, ended=handle.name)
        status = read_status(handle.status_path)
        if "finished" in status or "error" in status:
            return self._record_exit(alloc, handle, status)
        # The agent saw the supervisor go without saying how the task ended (killed from
        # outside, or failing itself): as when a Nomad executor dies under a running client
        # (drivers/rawexec/handle.go run: Wait's error becomes the ExitResult's Err), the task
        # terminates with that error as its exit message and fails. Lost is for a task the agent
        # finds gone on its return (_record_exit).
        code = handle.proc.returncode if handle.proc is not None else None
        how = "cause unknown" if code is None else f"signal {-code}" if code < 0 else f"exit code {code}"
        self._destroy_remnants(handle)
        self._update(
            alloc["ID"],
            handle.name,
            wire.task_event(
                "Terminated",
                ExitCode=0,
                Signal=0,
                OOMKilled=False,
                ExitMessage=SUPERVISOR_DIED_REASON.format(how=how),
            ),
            *self._not_restarting("Policy allows no restarts"),
            state="dead",
            failed=True,
            FinishedAt=wire.now_ns(),
        )

    def _record_exit(self, alloc: dict, handle: TaskHandle, status: dict) -> None:
        alloc_id, name = alloc["ID"], handle.name
        ts = alloc["TaskStates"][name]
        if "error" in status:
            return self._fail_start(handle, status["error"])
        if "finished" not in status:
            self._destroy_remnants(handle)
            alloc["ClientStatus"], alloc["ClientDescription"] = "lost", LOST_REASON
            return self._update(
                alloc_id,
                name,
                wire.task_event("Failed Restoring Task", Message=LOST_REASON, FailsTask=True),
                state="dead",
                failed=True,
                FinishedAt=wire.now_ns(),
            )
        if ts["State"] == "pending":  # the agent died before it saw "started"
            self._update(
                alloc_id,
                name,
                wire.task_event("Started", when=int(status["started"])),
                state="running",
                StartedAt=int(status["started"]),
            )
        finished = int(status["finished"])
        events = []
        kill_reason = status.get("kill_reason", "")
        if kill_reason == "deadline" and alloc_id not in self.timed_out:
            # The supervisor hit the deadline while the agent was away.
            self.timed_out.add(alloc_id)
            events.append(self._killing_event(handle.task, alloc_id, int(status["kill_started"])))
        code, sig, oom = int(status["exit_code"]), int(status["signal"]), int(status.get("oom", 0)) > 0
        fields = {"ExitCode": code, "Signal": sig, "OOMKilled": oom}
        if oom:
            fields["ExitMessage"] = "OOM Killed"
        elif code and handle.task["Driver"] == "docker":
            fields["ExitMessage"] = f"Docker container exited with non-zero exit code: {code}"
        if dropped := int(status.get("log_dropped", 0)):
            # Never lost silently: the output that found its disk full is counted where it ended.
            message = f"{dropped} bytes of the task's output were not kept: its disk was full"
            events.append(wire.task_event("Disk Resources Exceeded", when=finished, Message=message))
        events.append(wire.task_event("Terminated", when=finished, **fields))
        killed = bool(kill_reason) or alloc["DesiredStatus"] == "stop"
        failed = alloc_id in self.disk_exceeded or kill_reason == "disk"
        if kill_reason == "hard" and alloc["DesiredStatus"] != "stop":
            # Nobody stopped its job: it went down with the agent (tapit agent stop --kill-tasks),
            # which is a failure of the task, never a completion.
            events.insert(-1, wire.task_event("Killing", when=finished, KillReason=HARD_KILL_REASON))
            failed = True
        if killed:
            events.append(wire.task_event("Killed"))
        elif code or sig:
            events += self._not_restarting("Policy allows no restarts")
            failed = True
        self._update(alloc_id, name, *events, state="dead", failed=failed, FinishedAt=finished)

    def _destroy_remnants(self, handle: TaskHandle) -> None:
        """Whatever the vanished task left in its cgroup goes too, as Nomad's cgroup destroy does;
        a container left behind is removed through its engine."""
        if handle.task["Driver"] == "docker":
            asyncio.get_running_loop().create_task(self._remove_container(handle))
            return
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

    async def _remove_container(self, handle: TaskHandle) -> None:
        try:
            async with self.node.engine.client() as docker:
                await docker.containers.container(engine.container_name(handle.name, handle.alloc_id)).delete(
                    force=True
                )
        except Exception:  # gone already, or the engine too: nothing is left to remove here
            log.info("no container left for task %s of allocation %s", handle.name, handle.alloc_id)

    # --- stopping ------------------------------------------------------------------------

    def _killing_event(self, task: dict, alloc_id: str, when: int | None = None) -> dict:
        timeout = min(task["KillTimeout"], wire.DEFAULT_MAX_KILL_TIMEOUT)
        display = wire.TIMEOUT_REASON if alloc_id in self.timed_out else None
        return wire.task_event("Killing", when=when, display=display, KillTimeout=timeout)

    def kill(self, alloc_id: str) -> None:
        """Stop every running task of the alloc: kill signal, SIGKILL after KillTimeout (in the supervisor)."""
        alloc = self.store.alloc(alloc_id)
        for name, handle in list(self.handles.get(alloc_id, {}).items()):
            ts = alloc["TaskStates"][name]
            if ts["State"] == "dead":
                continue
            self._update(alloc_id, name, self._killing_event(handle.task, alloc_id))
            self._send(handle, signal.SIGTERM)
        if alloc_id in self._starting:
            # start() is still setting the allocation up: it marks what it has not started yet
            # dead itself, once it can (marked here, the task would start all the same).
            self._stop_requested.add(alloc_id)
            return
        # Tasks that never got a process (still pending, no supervisor) are simply marked dead.
        for name, ts in alloc["TaskStates"].items():
            if ts["State"] == "pending" and name not in self.handles.get(alloc_id, {}):
                self._update(alloc_id, name, wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns())

    async def signal_task(self, alloc_id: str, task_name: str, name: str) -> None:
        """The task runner's Signal: a "Signaling" event, then the driver's SignalTask.  raw_exec
        and exec look the name up (consul-template's signals.SignalLookup, exactly as written)
        and send SIGINT for one they do not know (drivers/rawexec/driver.go, drivers/exec); the
        docker driver refuses it (signals.Parse, which upper-cases it first).  raw_exec signals
        the task's process, exec the first process in its namespaces (libcontainer's init),
        docker the container (ContainerKill).  TaskNotRunning when no driver handle is held."""
        alloc = self.store.alloc(alloc_id)
        handle = self.handles.get(alloc_id, {}).get(task_name)
        if handle is None or alloc["TaskStates"][task_name]["State"] != "running":
            raise TaskNotRunning("Task not running")
        driver = handle.task["Driver"]
        event = wire.task_event("Signaling")
        event["Details"]["signal"] = name
        self._update(alloc_id, task_name, event)
        if driver == "docker":
            if name.upper() not in SIGNAL_LOOKUP:
                valid = " ".join(f'"{s}"' for s in sorted(SIGNAL_LOOKUP))
                raise ValueError(f'failed to parse signal: invalid signal "{name}" - valid signals are [{valid}]')
            async with self.node.engine.client() as docker:
                await docker.containers.container(engine.container_name(task_name, alloc_id)).kill(signal=name)
            return
        signum = SIGNAL_LOOKUP.get(name)
        if signum is None:
            log.warning("unknown signal to send to task, using SIGINT instead: %s (task %s)", name, task_name)
            signum = signal.SIGINT
        os.kill(self.namespace_init(handle) if driver == "exec" else handle.pid, signum)

    @staticmethod
    def _send(handle: TaskHandle, sig: signal.Signals) -> None:
        if handle.listening:
            handle.signal(sig)
        elif handle.pending_signal != signal.SIGUSR2:  # a kill at once is never softened to a stop
            # No supervisor ready for it yet (still starting, or an image downloading): _spawn sends it.
            handle.pending_signal = sig

    def _arm_deadline(self, alloc: dict, group: dict) -> None:
        if not group["MaxRunDuration"]:
            return
        delay = (alloc["CreateTime"] + group["MaxRunDuration"] - wire.now_ns()) / wire.SECOND
        self.timers[alloc["ID"]] = asyncio.get_running_loop().call_later(
            max(0.0, delay), self._deadline_passed, alloc["ID"]
        )

    def _deadline_passed(self, alloc_id: str) -> None:
        """alloc_runner.EnforceMaxRunDurationTimeout."""
        self.timers.pop(alloc_id, None)
        alloc = self.store.alloc(alloc_id)
        if alloc is None or alloc_terminal(alloc):
            return
        self.timed_out.add(alloc_id)
        self.kill(alloc_id)

    def _start_watching(self, alloc_id: str, alloc_disk: disk.AllocDisk) -> None:
        alloc_disk.start_watch()
        if alloc_disk.watch is not None:
            asyncio.get_running_loop().add_reader(alloc_disk.watch.fileno(), self._on_disk_events, alloc_id)

    @staticmethod
    def _stop_watching(alloc_disk: disk.AllocDisk) -> None:
        if alloc_disk.watch is not None:
            asyncio.get_running_loop().remove_reader(alloc_disk.watch.fileno())
            alloc_disk.watch.close()
            alloc_disk.watch = None

    def _on_disk_events(self, alloc_id: str) -> None:
        self.disks[alloc_id].watch.on_events()  # always: unread, they would keep the loop waking
        self._check_disk(alloc_id)

    async def _watch_disk(self) -> None:
        """The size-limited filesystems' free space, often; the watched trees counted afresh, now and then."""
        next_rescan = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(disk.FILESYSTEM_CHECK_S)
            rescan = loop.time() >= next_rescan
            if rescan:
                next_rescan = loop.time() + disk.RESCAN_S
            for alloc_id, alloc_disk in list(self.disks.items()):
                if alloc_disk.watch is not None:
                    if not rescan:
                        continue
                    alloc_disk.watch.rescan()
                self._check_disk(alloc_id)

    def _check_disk(self, alloc_id: str, ended: str = "") -> None:
        """Ephemeral disk: an allocation whose directory outgrows EphemeralDisk.SizeMB is killed at
        once, and fails (the task `ended` has exited already: it only fails)."""
        alloc = self.store.alloc(alloc_id)
        alloc_disk = self.disks.get(alloc_id)
        if alloc is None or alloc_disk is None or alloc_id in self.disk_exceeded or alloc_terminal(alloc):
            return
        used = alloc_disk.used()
        if used <= alloc_disk.limit:
            return
        self.disk_exceeded.add(alloc_id)
        message = f"allocation directory uses {used / disk.MIB:.2f} MB, over its {alloc_disk.size_mb} MB ephemeral disk"
        for name, handle in self.handles.get(alloc_id, {}).items():
            if alloc["TaskStates"][name]["State"] == "dead":
                continue
            exceeded = wire.task_event(
                "Disk Resources Exceeded", Message=message, DiskLimit=alloc_disk.limit, FailsTask=True
            )
            if name == ended:
                self._update(alloc_id, name, exceeded)
                continue
            self._update(alloc_id, name, exceeded, wire.task_event("Killing", KillReason=DISK_KILL_REASON))
            # Not the kill signal and a kill timeout: every moment of grace is more written.
            self._send(handle, signal.SIGUSR2)

    # --- cleaning up ---------------------------------------------------------------------

    def _after_cleanup(self, alloc_id: str, work) -> None:
        """Run `work` (blocking file work on the allocation's directory) in a thread, after any
        earlier such work on the same allocation."""
        previous = self._cleanups.get(alloc_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
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
            self._after_cleanup(alloc_id, lambda alloc_id=alloc_id: self._destroy_files(alloc_id))

    def collect_alloc(self, alloc_id: str) -> bool:
        """client/gc.go Collect: a terminal allocation's runner destroyed (its directory, disk and
        run files go); False for one that is not terminal, or already collected."""
        alloc = self.store.alloc(alloc_id)
        if alloc is None or alloc["ClientStatus"] not in TERMINAL_CLIENT or alloc_id in self.handles:
            return False
        if not self.alloc_dir(alloc_id).exists():
            return False
        self._after_cleanup(alloc_id, lambda: self._destroy_files(alloc_id))
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
        for alloc in list(self.store.allocs()):
            filesystem = self.filesystem(alloc["ID"])
            if alloc["ClientStatus"] in TERMINAL_CLIENT:
                if filesystem.image.exists():  # it ended while the agent was away
                    self._after_cleanup(alloc["ID"], filesystem.release)
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
            alloc_disk = disk.AllocDisk(self.alloc_dir(alloc["ID"]), group["EphemeralDisk"]["SizeMB"], filesystem)
            alloc_disk.reattach()
            self.disks[alloc["ID"]] = alloc_disk
            self._start_watching(alloc["ID"], alloc_disk)
            if any(
                e["Type"] == "Killing" and e["DisplayMessage"] == wire.TIMEOUT_REASON
                for ts in alloc["TaskStates"].values()
                for e in ts["Events"]
            ):
                self.timed_out.add(alloc["ID"])
            if any(e["Type"] == "Disk Resources Exceeded" for ts in alloc["TaskStates"].values() for e in ts["Events"]):
                self.disk_exceeded.add(alloc["ID"])
            handles = self.handles.setdefault(alloc["ID"], {})
            for task in group["Tasks"]:
                handle = TaskHandle(alloc["ID"], task, self.run_dir)
                handles[task["Name"]] = handle
                self._load_handle(handle)
                status = read_status(handle.status_path)
                sup_pid = int(status.get("sup_pid", 0))
                if sup_pid and proc_start(sup_pid) == int(status["sup_start"]) and "finished" not in status:
                    handle.sup_pid = sup_pid
                    handle.listening = True  # it wrote its status, which it does with its handlers in place
                    if alloc["TaskStates"][task["Name"]]["State"] == "pending" and "started" in status:
                        self._update(
                            alloc["ID"],
                            task["Name"],
                            wire.task_event("Started"),
                            state="running",
                            StartedAt=int(status["started"]),
                        )
                    self._watch(handle)
                elif alloc["TaskStates"][task["Name"]]["State"] != "dead":
                    self._record_exit(alloc, handle, status)
            if alloc["ID"] in self.handles and not alloc_terminal(alloc):
                self._arm_deadline(alloc, group)
            if alloc["DesiredStatus"] == "stop":
                # The stop may have been requested just before the crash; repeating it is harmless.
                for handle in handles.values():
                    handle.signal(signal.SIGTERM)
        for bucket in list(self.store.buckets.values()):
            self.collect(bucket)  # purged while (or just before) the agent was away


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
