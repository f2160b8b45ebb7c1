"""The service layer: create, wait, list, show, stop, delete and logs.

The CLI and the TUI both call this and nothing else to touch Nomad or the
history. It records a task before submitting it, keeps the record in step with
what Nomad reports, enforces tapit's own deadline where Nomad has none, and
archives a task's output when it ends so its logs outlive the Nomad job.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, Mapping

from tapit import vcpu
from tapit.config import AppConfig, load_config
from tapit.errors import Refused, RuntimeUnavailable, TaskNotFound, UsageError
from tapit.history import History, HistoryUnwritable
from tapit.logcopy import LogCopy, log_file_size
from tapit.model import TERMINAL, TaskRecord, new_task_id, now_iso, parse_iso
from tapit.nomad import jobspec
from tapit.nomad.client import NomadClient, NomadError, NomadNotFound
from tapit.nomad.settings import NomadSettings
from tapit.nomad.status import Observation, observe
from tapit.params import TaskSpec
from tapit.paths import state_dir

LOG_TYPES = ("stdout", "stderr")
OutputSink = Callable[[str, bytes], None]
# How long Nomad may take to act on max_run_duration itself before tapit steps in.
DEADLINE_GRACE_S = 5.0
# Short enough that a cancelled wait (the TUI moving to another task) lets go of its connection soon.
BLOCKING_WAIT_S = 10.0
PLACEMENT_WAIT_S = 1.0
# The embedded agent's node attribute naming the limits this machine cannot enforce.
UNENFORCED_ATTRIBUTE = "tapit.limits.unenforced"


def default_initiator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    cpu_percent: float  # of one core, as Nomad reports it


@dataclass(frozen=True)
class Connection:
    settings: NomadSettings
    embedded: bool


def resolve_connection(environ: Mapping[str, str], config: AppConfig) -> Connection:
    """NOMAD_ADDR when set, through the SSH bastion if one is configured; otherwise the embedded
    agent, started on first use."""
    if environ.get("NOMAD_ADDR"):
        settings = NomadSettings.from_env(environ)
        if config.namespace and "NOMAD_NAMESPACE" not in environ:
            settings = replace(settings, namespace=config.namespace)
        if config.ssh:
            settings = _through_ssh(settings, config.ssh)
        return Connection(settings, embedded=False)
    if config.ssh and config.sources.get("ssh", "").startswith("$"):
        # Asked for on the command line; an ssh in tapit.toml describes the cluster's route and
        # does not stop the same app from running on the embedded agent.
        raise UsageError("--ssh (TAPIT_SSH) reaches NOMAD_ADDR through a bastion, but NOMAD_ADDR is not set")
    from tapit.agent.daemon import AgentStartError, ensure_running

    try:
        agent = ensure_running()
    except AgentStartError as exc:
        raise RuntimeUnavailable(f"could not start the embedded agent: {exc}") from None
    settings = replace(NomadSettings.from_env(environ, default_address=agent.address), token=agent.token)
    return Connection(settings, embedded=True)


def _through_ssh(settings: NomadSettings, ssh: str) -> NomadSettings:
    from tapit.config import parse_ssh_target
    from tapit.nomad.tunnel import TunnelError, through_ssh  # imports asyncssh: only when used

    try:
        with nomad_errors():
            return through_ssh(settings, parse_ssh_target(ssh))
    except TunnelError as exc:
        raise RuntimeUnavailable(str(exc)) from None


@contextmanager
def nomad_errors() -> Iterator[None]:
    """Nomad unreachable or refusing: one line naming the address, exit code 3."""
    try:
        yield
    except NomadError as exc:
        raise RuntimeUnavailable(str(exc)) from None


class TaskService:
    def __init__(self, history: History, config: AppConfig, connect: Callable[[], Connection]):
        self.history = history
        self.config = config
        self._connect = connect
        self._connection: Connection | None = None
        self._client: NomadClient | None = None
        self._namespaced: dict[str, NomadClient] = {}  # for tasks created in another namespace
        # Why the last read could not record what it learnt (a read-only history), for a warning.
        self.unrecorded: HistoryUnwritable | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "TaskService":
        config = load_config(environ=environ)
        return cls(History(state_dir()), config, lambda: resolve_connection(environ, config))

    # Connecting is deferred so that bad input is refused without touching Nomad.
    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    @property
    def nomad(self) -> NomadClient:
        if self._client is None:
            self._client = NomadClient(self.connection.settings)
        return self._client

    def _nomad_for(self, record: TaskRecord) -> NomadClient:
        """A task lives in the namespace it was created in, whatever the namespace is now."""
        settings = self.connection.settings
        if record.nomad_namespace in (settings.namespace, ""):
            return self.nomad
        if record.nomad_namespace not in self._namespaced:
            self._namespaced[record.nomad_namespace] = NomadClient(replace(settings, namespace=record.nomad_namespace))
        return self._namespaced[record.nomad_namespace]

    def close(self) -> None:
        for client in (self._client, *self._namespaced.values()):
            if client is not None:
                client.close()

    def reconnect(self) -> None:
        """Forget the connection, so the next call resolves it afresh: the embedded agent may have
        been restarted on another port (or needs starting again)."""
        self.close()
        self._connection, self._client, self._namespaced = None, None, {}

    # --- create -------------------------------------------------------------

    def create(self, spec: TaskSpec, kind: str = "task", argv: list[str] | None = None) -> TaskRecord:
        """Record the task, then register its job. A failed submission stays in the trail with its error."""
        connection = self.connection
        driver = jobspec.choose_driver(spec, self.config, connection.embedded)
        if driver == jobspec.IMAGE_DRIVER and not (spec.image or spec.docker_tag) and self.config.image_from_job:
            spec = replace(spec, image=self.deployed_image(self.config.image_from_job))
        if driver == jobspec.IMAGE_DRIVER and jobspec.image_for(spec, self.config) is None:
            raise UsageError("no image to run: give image=<ref>, or set image_repository in tapit.toml")
        task_id = new_task_id()
        created_at = now_iso()
        namespace = connection.settings.namespace
        job = jobspec.build_job(
            task_id=task_id,
            spec=spec,
            config=replace(self.config, mhz_per_vcpu=self.vcpu_mhz(driver).mhz),
            driver=driver,
            namespace=namespace,
            created_at=created_at,
            kind=kind,
            argv=argv,
        )
        record = TaskRecord(
            id=task_id,
            command=spec.command,
            status="pending",
            image=jobspec.image_for(spec, self.config) if driver == jobspec.IMAGE_DRIVER else None,
            docker_tag=spec.docker_tag,
            memory_gb=spec.memory_gb,
            cpu=spec.cpu,
            max_hours=spec.max_hours,
            ephemeral_storage_gb=spec.ephemeral_storage_gb,
            initiated_by=spec.initiated_by,
            created_at=created_at,
            nomad_job_id=job["ID"],
            nomad_namespace=namespace,
            kind=kind,
            deadline_at=_deadline(created_at, spec.max_hours),
        )
        self.history.add(record)
        try:
            with nomad_errors():
                self.nomad.register_job(job)
        except RuntimeUnavailable as exc:
            self.history.update(task_id, {"status": "failed", "error": str(exc), "reason": "submission failed"})
            raise
        return record

    def vcpu_mhz(self, driver: str | None = None) -> vcpu.VcpuMhz:
        """The MHz a vCPU is for a task on `driver` (by default a task's without an image)."""
        connection = self.connection
        if driver is None:
            driver = self.config.driver or (jobspec.HOST_DRIVER if connection.embedded else jobspec.IMAGE_DRIVER)
        return vcpu.resolve(self.config, self.nomad, driver, connection.settings.address, state_dir())

    def deployed_image(self, job_id: str) -> str:
        """The docker image the app's job runs now (config image_from_job): that of its newest running
        allocation, which during a deployment may differ from the job's latest version; the job's
        own spec when nothing runs."""
        with nomad_errors():
            try:
                allocs = self.nomad.job_allocations(job_id)
            except NomadNotFound:
                allocs = []
            running = [a for a in allocs if a.get("ClientStatus") == "running"]
            if running:
                newest = max(running, key=lambda a: (a.get("JobVersion", 0), a.get("CreateIndex", 0)))
                job = self.nomad.get_allocation(newest["ID"]).get("Job") or {}
            else:
                job = self.nomad.get_job(job_id)
        where = f"Nomad job {job_id!r} (image_from_job, namespace {self.connection.settings.namespace!r})"
        if job is None:
            raise UsageError(f"there is no {where}")
        images = [
            (task.get("Config") or {}).get("image")
            for group in job.get("TaskGroups") or ()
            for task in group.get("Tasks") or ()
            if task.get("Driver") == jobspec.IMAGE_DRIVER
        ]
        if not any(images):
            raise UsageError(f"the {where} has no docker task with an image to inherit")
        return next(image for image in images if image)

    def unenforced_limits(self) -> list[str]:
        """Limits the embedded agent's node says it cannot enforce here (no cgroups, say)."""
        if not self.connection.embedded:
            return []  # a cluster's nodes enforce what their drivers support
        with nomad_errors():
            nodes = self.nomad.list_nodes()
            attributes = self.nomad.get_node(nodes[0]["ID"]).get("Attributes") or {} if nodes else {}
        return [name for name in attributes.get(UNENFORCED_ATTRIBUTE, "").split(",") if name]

    # --- read ---------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord:
        """The task from the history, or from Nomad when a teammate started it."""
        if not task_id:
            raise UsageError("task= is empty; use task=<id> as printed by `tapit list tasks`")
        try:
            return self.history.get(task_id)
        except TaskNotFound:
            for record in self._remote_records():
                if record.id == task_id:
                    return record
            raise

    def show(self, task_id: str) -> TaskRecord:
        return self.refresh(self.get(task_id))

    def usage(self, record: TaskRecord) -> Usage | None:
        """What a running task uses now, from Nomad's allocation stats."""
        if record.status != "running" or not record.nomad_alloc_id:
            return None
        with nomad_errors():
            try:
                stats = self.nomad.alloc_stats(record.nomad_alloc_id)
            except NomadNotFound:
                return None
        resource = stats.get("ResourceUsage") or {}
        memory = resource.get("MemoryStats") or {}
        cpu = resource.get("CpuStats") or {}
        return Usage(
            memory_bytes=memory.get("RSS") or memory.get("Usage") or 0, cpu_percent=float(cpu.get("Percent") or 0.0)
        )

    def list(self, namespace: str | None = None) -> list[TaskRecord]:
        """Tasks in the connection's namespace, or in `namespace`: "*" spans every namespace the
        token may list."""
        wanted = namespace or self.connection.settings.namespace
        records = [r for r in self.history.all() if wanted == "*" or r.nomad_namespace == wanted]
        known = {r.id for r in records}
        refreshed = [self.refresh(r) if not r.terminal else r for r in records]
        refreshed += [r for r in self._remote_records(wanted) if r.id not in known]
        return sorted(refreshed, key=lambda r: r.created_at, reverse=True)

    def _remote_records(self, namespace: str | None = None) -> list[TaskRecord]:
        """tapit jobs in Nomad that this machine's history does not have (started by teammates)."""
        with nomad_errors():
            stubs = self.nomad.list_jobs(prefix=self.config.job_prefix, namespace=namespace)
        return [r for r in (record_from_stub(s, self.config) for s in stubs) if r is not None]

    # --- keep records in step with Nomad --------------------------------------

    def refresh(self, record: TaskRecord) -> TaskRecord:
        """Bring a record up to date with Nomad; enforce the deadline; archive logs when it ends.

        A history that cannot be written does not stop a read: the record is brought up to date
        here only, and `unrecorded` says why it was not kept."""
        if record.terminal and (record.logs_archived or record.error):
            return record
        with nomad_errors():
            try:
                nomad = self._nomad_for(record)
                allocs = nomad.job_allocations(record.nomad_job_id)
                evals = nomad.job_evaluations(record.nomad_job_id) if not allocs else []
            except NomadNotFound:
                allocs, evals = [], []
        if not allocs and not evals and not self._job_exists(record):
            changes = (
                {}
                if record.terminal
                else {"status": "lost", "reason": "its Nomad job is gone (purged or garbage-collected) before it ended"}
            )
            return self._keep(record, changes)
        limit_mb = jobspec.memory_mb(record.memory_gb) if record.memory_gb else None
        seen = observe(allocs, evals, limit_mb)
        changes = changes_from(record, seen)
        status = changes.get("status", record.status)
        try:
            if status in TERMINAL and not record.logs_archived and seen.alloc_id:
                changes.update(self._archive(record, seen.alloc_id))
            elif status == "running" and _past(record.deadline_at, DEADLINE_GRACE_S):
                self._stop_job(record)
                changes["stop_requested_by"] = "deadline"
        except HistoryUnwritable as exc:
            self.unrecorded = exc
        return self._keep(record, changes)

    def _keep(self, record: TaskRecord, changes: dict) -> TaskRecord:
        """_apply for reads: what cannot be recorded is still shown."""
        try:
            return self._apply(record, changes)
        except HistoryUnwritable as exc:
            self.unrecorded = exc
            for key, value in changes.items():
                setattr(record, key, value)
            return record

    def _job_exists(self, record: TaskRecord) -> bool:
        with nomad_errors():
            return self._nomad_for(record).get_job(record.nomad_job_id) is not None

    def _apply(self, record: TaskRecord, changes: dict) -> TaskRecord:
        self.history.update(record.id, changes)
        for key, value in changes.items():
            setattr(record, key, value)
        return record

    def _archive(self, record: TaskRecord, alloc_id: str) -> dict:
        """Copy the ended task's logs from Nomad into the history, streamed to disk; the changes
        that record it."""
        with nomad_errors():
            alloc = self._nomad_for(record).get_allocation(alloc_id)
        copies = self._log_copies(record, alloc, sink=None, cancel=threading.Event())
        try:
            with nomad_errors():
                for copy in copies:
                    copy.read_all()
            return self._keep_archive(copies)
        finally:
            for copy in copies:
                copy.close()

    def _log_copies(
        self, record: TaskRecord, alloc: dict, sink: OutputSink | None, cancel: threading.Event, archive: bool = True
    ) -> list[LogCopy]:
        nomad = self._nomad_for(record)
        file_size = log_file_size(alloc, jobspec.TASK_NAME)
        copies = []
        try:
            for log_type in LOG_TYPES:
                writer = self.history.archive_writer(record.id, log_type) if archive else None
                deliver = (lambda data, log_type=log_type: sink(log_type, data)) if sink else None
                copies.append(
                    LogCopy(nomad, alloc["ID"], jobspec.TASK_NAME, log_type, file_size, deliver, writer, cancel)
                )
        except BaseException:
            for copy in copies:
                copy.close()
            raise
        return copies

    def _keep_archive(self, copies: list[LogCopy]) -> dict:
        """Put the copies' archives in place; the record's changes that say so, and what was lost."""
        lost = {copy.log_type: copy.lost_bytes for copy in copies if copy.lost_bytes}
        changes = {"logs_lost_bytes": lost} if lost else {}
        if all(copy.archive is not None for copy in copies):
            try:
                for copy in copies:
                    copy.commit()
                changes["logs_archived"] = True
            except HistoryUnwritable as exc:
                self.unrecorded = exc
        return changes

    # --- wait and follow ------------------------------------------------------

    def wait(self, task_id: str, sink: OutputSink, cancel: threading.Event | None = None) -> TaskRecord:
        """Stream the task's output from its start until it ends; return the final record.

        What is streamed is archived as it arrives, so the logs are never downloaded twice.
        Setting `cancel` (the TUI does, when the user looks at another task) stops the delivery
        at once and returns within one blocking wait. A sink that fails (a closed pipe) gets
        nothing more; its error is raised once the task has ended and its logs are archived.
        """
        cancel = cancel or threading.Event()
        record = self.get(task_id)
        if record.terminal and record.logs_archived:
            self._replay_archive(record, sink)
            return record
        alloc = self._wait_for_placement(record, cancel)
        if alloc is None:
            return self.refresh(record)
        alloc, index = self._wait_while(alloc, {"pending"}, record, cancel)
        if cancel.is_set():
            return record
        try:
            copies = self._log_copies(record, alloc, sink, cancel)
        except HistoryUnwritable as exc:
            self.unrecorded = exc  # follow it all the same; it is archived once the history can be written
            copies = self._log_copies(record, alloc, sink, cancel, archive=False)
        try:
            with nomad_errors():
                if alloc["ClientStatus"] == "running":
                    for copy in copies:
                        copy.follow()
                    self._wait_while(alloc, {"running"}, record, cancel, index)
                    if cancel.is_set():
                        return record
                    for copy in copies:
                        copy.finish()
                else:
                    for copy in copies:
                        copy.read_all()
            if cancel.is_set():
                return record  # what was copied is incomplete: never archived
            self._keep(record, self._keep_archive(copies))
        finally:
            for copy in copies:
                copy.close()
        record = self.refresh(record)
        if error := next((c.sink_error for c in copies if c.sink_error), None):
            raise error
        return record

    def _wait_for_placement(self, record: TaskRecord, cancel: threading.Event) -> dict | None:
        """The task's allocation once Nomad places it, or None when placement failed (the job is then stopped)."""
        index = 0
        while not cancel.is_set():
            with nomad_errors():
                # Short waits: a failed placement changes only the evaluations, never the
                # allocations this blocks on, so the evaluations are read between waits.
                allocs, index = self.nomad.wait_job_allocations(record.nomad_job_id, index, PLACEMENT_WAIT_S)
                if allocs:
                    return max(allocs, key=lambda a: a.get("CreateIndex", 0))
                seen = observe([], self.nomad.job_evaluations(record.nomad_job_id))
            if seen.reason:
                self._stop_job(record)
                self._apply(
                    record, {"status": "failed", "reason": f"not placed: {self.explain_placement(seen.reason)}"}
                )
                return None
        return None

    def explain_placement(self, reason: str) -> str:
        """A placement failure with its fix, where tapit knows it."""
        if "missing drivers" in reason and self.connection.embedded:
            return (
                f"{reason}: the embedded agent found no Docker or Podman engine to run images; start one "
                "(or set DOCKER_HOST to its socket, then restart the agent), drop image=/docker_tag=, "
                "or point NOMAD_ADDR at a cluster"
            )
        return reason

    def _wait_while(
        self, alloc: dict, statuses: set[str], record: TaskRecord, cancel: threading.Event, index: int = 0
    ) -> tuple[dict, int]:
        """Block on the allocation until its ClientStatus leaves `statuses`, enforcing tapit's deadline."""
        while alloc.get("ClientStatus") in statuses and not cancel.is_set():
            wait = BLOCKING_WAIT_S
            if record.deadline_at and not record.stop_requested_by:
                remaining = (parse_iso(record.deadline_at) - datetime.now(timezone.utc)).total_seconds()
                if remaining + DEADLINE_GRACE_S <= 0:
                    self._stop_job(record)
                    self._apply(record, {"stop_requested_by": "deadline"})
                wait = max(0.5, min(wait, remaining + DEADLINE_GRACE_S))
            with nomad_errors():
                alloc, index = self.nomad.wait_allocation(alloc["ID"], index, wait)
        return alloc, index

    def _replay_archive(self, record: TaskRecord, sink: OutputSink) -> None:
        for log_type in LOG_TYPES:
            for chunk in self.history.archived_chunks(record.id, log_type):
                sink(log_type, chunk)

    def logs(self, task_id: str, sink: OutputSink, follow: bool = False) -> TaskRecord:
        """Print the task's output; with follow, keep going until it ends (same as waiting on it).

        The record's logs_lost_bytes says what Nomad's rotation removed before it could be read."""
        if follow:
            return self.wait(task_id, sink)
        record = self.show(task_id)
        if record.logs_archived:
            self._replay_archive(record, sink)
        elif record.nomad_alloc_id:
            with nomad_errors():
                alloc = self._nomad_for(record).get_allocation(record.nomad_alloc_id)
                copies = self._log_copies(record, alloc, sink, threading.Event(), archive=False)
                for copy in copies:
                    copy.read_all()
            if lost := {c.log_type: c.lost_bytes for c in copies if c.lost_bytes}:
                record.logs_lost_bytes = lost  # what this read found missing; the archive records its own
        return record

    # --- stop and delete --------------------------------------------------------

    def stop(self, task_id: str, requested_by: str | None = None) -> TaskRecord:
        """Stop a running task and wait until it has ended.

        Nomad sends the task's kill signal, then SIGKILL after its kill timeout.
        """
        record = self.show(task_id)
        if record.terminal:
            return record
        self._apply(record, {"stop_requested_by": requested_by or default_initiator()})
        self._stop_job(record)
        if not record.nomad_alloc_id:  # never placed: nothing ran
            return self._apply(record, {"status": "stopped", "reason": f"stopped by {record.stop_requested_by}"})
        with nomad_errors():
            alloc = self.nomad.get_allocation(record.nomad_alloc_id)
        self._wait_while(alloc, {"pending", "running"}, record, threading.Event())
        return self.refresh(record)

    def _stop_job(self, record: TaskRecord) -> None:
        with nomad_errors():
            self._nomad_for(record).deregister_job(record.nomad_job_id, purge=False)

    def delete(self, task_id: str) -> TaskRecord:
        """Remove a finished task's record and everything archived of it, and purge its Nomad job.

        The job is purged last: a history that refuses the removal keeps the record, the archive
        and the job, and `delete` can be run again."""
        record = self.show(task_id)
        if not record.terminal:
            raise Refused(f"task {task_id} is {record.status}; stop it first: tapit stop task task={task_id}")
        self.history.remove(task_id)
        with nomad_errors():
            self._nomad_for(record).deregister_job(record.nomad_job_id, purge=True)
        return record


def changes_from(record: TaskRecord, seen: Observation) -> dict:
    """The record fields that differ from what Nomad now reports."""
    status = seen.status
    if record.stop_requested_by == "deadline" and status in ("stopped", "complete", "failed"):
        status, reason = "timed_out", "killed: exceeded max_hours"
    elif record.status == "failed" and record.reason and record.reason.startswith("not placed"):
        status, reason = record.status, record.reason
    else:
        reason = seen.reason
    if status == "stopped" and record.stop_requested_by:
        reason = f"stopped by {record.stop_requested_by}"
    exit_code = seen.exit_code
    if record.kind == "console":
        # A console's own program runs in an exec session and its client records how it ended;
        # what Nomad reports is the keep-alive, which only ends on its own once the client is gone.
        exit_code = None
        if status == "complete":
            status, reason = "stopped", "its client went away; ended by the idle timeout or max_hours"
    fresh = {
        "status": status,
        "exit_code": exit_code,
        "started_at": seen.started_at,
        "finished_at": seen.finished_at,
        "nomad_alloc_id": seen.alloc_id,
        "node_name": seen.node_name,
        "reason": reason,
        "disk_limit": seen.disk_limit,
    }
    return {k: v for k, v in fresh.items() if v is not None and getattr(record, k) != v}


def record_from_stub(stub: dict, config: AppConfig) -> TaskRecord | None:
    """A task record from a tapit job's list stub and Meta, for tasks started elsewhere."""
    meta = stub.get("Meta") or {}
    task_id = meta.get(jobspec.META_TASK_ID)
    if not task_id:
        return None
    counts = ((stub.get("JobSummary") or {}).get("Summary") or {}).get(jobspec.GROUP_NAME) or {}
    if stub.get("Status") != "dead":
        status = "running" if counts.get("Running") else "pending"
    elif counts.get("Failed"):
        status = "failed"
    elif counts.get("Lost"):
        status = "lost"
    else:
        status = "complete"
    return TaskRecord(
        id=task_id,
        command=meta.get(jobspec.META_COMMAND, ""),
        status=status,
        image=None,
        docker_tag=None,
        memory_gb=0.0,
        cpu=0.0,
        max_hours=None,
        ephemeral_storage_gb=0.0,
        initiated_by=meta.get(jobspec.META_INITIATED_BY, ""),
        created_at=meta.get(jobspec.META_CREATED_AT, ""),
        nomad_job_id=stub["ID"],
        nomad_namespace=stub.get("Namespace", "default"),
        kind=meta.get(jobspec.META_KIND, "task"),
    )


def _deadline(created_at: str, max_hours: float | None) -> str | None:
    if max_hours is None:
        return None
    moment = parse_iso(created_at) + timedelta(hours=max_hours)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _past(deadline_at: str | None, grace_s: float) -> bool:
    if not deadline_at:
        return False
    return datetime.now(timezone.utc) > parse_iso(deadline_at) + timedelta(seconds=grace_s)
