"""The service layer's tasks: create, list, show, stop, delete, and keeping records in step.

The CLI and the TUI both call this and nothing else to touch Nomad or the history. It records
a task before submitting it, keeps the record in step with what Nomad reports, enforces tapit's
own deadline where Nomad has none, and archives a task's output when it ends so its logs
outlive the Nomad job (tapit/service/logs.py). It raises only tapit's errors (tapit/errors.py)
and returns tapit's types (tapit/model.py), never Nomad's JSON.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tapit.config import AppConfig, load_config
from tapit.errors import Offline, Refused, RuntimeUnavailable, TaskNotFound, UsageError, nomad_errors
from tapit.model import (
    ClusterEvent,
    JobChanges,
    NomadDocuments,
    Placement,
    TaskRecord,
    Usage,
    new_task_id,
    now_iso,
    parse_iso,
)
from tapit.nomad.errors import NomadNotFound
from tapit.params import TaskSpec, default_initiator
from tapit.paths import state_dir
from tapit.service import archivist_notice, vcpu
from tapit.service import logs as task_logs
from tapit.service.connection import Connection, resolve_connection
from tapit.service.history import History
from tapit.service.submission import submit
from tapit.service.record_keeper import RecordKeeper
from tapit.service.trail import TrailRefused
from tapit.translate import jobspec, status

if TYPE_CHECKING:
    pass

# The embedded agent's node attribute naming the limits this machine cannot enforce.
UNENFORCED_ATTRIBUTE = "tapit.limits.unenforced"
LIVE_TOPICS = ["Job", "Allocation"]
# The events view: what happens to tapit's jobs, their evaluations and allocations.
EVENT_TOPICS = ["Job", "Allocation", "Evaluation"]


class TaskService(RecordKeeper):
    """tapit's one API. Methods with a leading underscore are for the service's own modules
    (logs.py, consoles.py); keeping a record in step with Nomad and the trail is RecordKeeper's
    (tapit/service/record_keeper.py)."""

    def __init__(self, history: History, config: AppConfig, connect: Callable[[], Connection]):
        super().__init__(history, config, connect)
        # Whether the last list with a limit left older tasks out.
        self.more = False

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] = os.environ, on_notice: Callable[[str], None] = lambda message: None
    ) -> TaskService:
        """`on_notice` hears what the user should be told while something takes long (History.on_notice)."""
        config = load_config(environ=environ)
        return cls(History(state_dir(), on_notice), config, lambda: resolve_connection(environ, config))

    # --- create -------------------------------------------------------------

    def create(self, spec: TaskSpec, kind: str = "task", argv: builtins.list[str] | None = None) -> TaskRecord:
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
        work_dir = _creation_dir() if connection.embedded and driver != jobspec.IMAGE_DRIVER else None
        job = jobspec.build_job(
            task_id=task_id,
            spec=spec,
            config=replace(self.config, mhz_per_vcpu=self.vcpu_mhz(driver).mhz),
            driver=driver,
            namespace=namespace,
            created_at=created_at,
            kind=kind,
            argv=argv,
            work_dir=work_dir,
        )
        record = TaskRecord(
            id=task_id,
            command=spec.command,
            status="submitting",
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
            work_dir=work_dir,
        )
        self.history.add(record)
        try:
            self._keep(record, {}, share=True)  # in the cluster's trail before its job exists
        except RuntimeUnavailable:
            pass  # registering meets the same failure, says it plainly, and records it
        return submit(self, record, job)

    def archivist_notice(self) -> str | None:
        """What holds without an archivist, said once per cluster that has none (the embedded
        agent runs its own: tapit/agent/archivist_child.py). One reached by its address is asked
        like any cluster: its archivist may be switched off."""
        if self.connection.started_agent:
            return None
        return archivist_notice.notice_once(self._archivist_clients())

    def vcpu_mhz(self, driver: str | None = None) -> vcpu.VcpuMhz:
        """The MHz a vCPU is for a task on `driver` (by default a task's without an image)."""
        connection = self.connection
        if driver is None:
            driver = self.config.driver or (jobspec.HOST_DRIVER if connection.embedded else jobspec.IMAGE_DRIVER)
        return vcpu.resolve(self.config, self._nomad(), driver, connection.settings.address, state_dir())

    def deployed_image(self, job_id: str) -> str:
        """The docker image the app's job runs now (config image_from_job): that of its newest running
        allocation, which during a deployment may differ from the job's latest version; the job's
        own spec when nothing runs."""
        nomad = self._nomad()
        with nomad_errors():
            try:
                allocs = nomad.jobs.allocations(job_id)
            except NomadNotFound:
                allocs = []
            running = [a for a in allocs if a.get("ClientStatus") == "running"]
            if running:
                newest = max(running, key=lambda a: (a.get("JobVersion", 0), a.get("CreateIndex", 0)))
                job = nomad.allocations.info(newest["ID"]).get("Job") or {}
            else:
                job = nomad.jobs.info(job_id)
        where = f"Nomad job {job_id!r} (image_from_job, namespace {self.connection.settings.namespace!r})"
        if job is None:
            raise UsageError(f"there is no {where}")
        images = jobspec.images_of(job)
        if not images:
            raise UsageError(f"the {where} has no docker task with an image to inherit")
        return images[0]

    def unenforced_limits(self) -> builtins.list[str]:
        """Limits the embedded agent's node says it cannot enforce here (no cgroups, say)."""
        if not self.connection.embedded:
            return []  # a cluster's nodes enforce what their drivers support
        nomad = self._nomad()
        with nomad_errors():
            nodes = nomad.nodes.list()
            attributes = nomad.nodes.info(nodes[0]["ID"]).get("Attributes") or {} if nodes else {}
        return [name for name in attributes.get(UNENFORCED_ATTRIBUTE, "").split(",") if name]

    # --- read ---------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord:
        """The task from the local history, else from the cluster's trail (kept in the history
        from then on), else from Nomad's jobs (started by a tapit that keeps no trail)."""
        if not task_id:
            raise UsageError("task= is empty; use task=<id> as printed by `tapit list tasks`")
        try:
            return self.history.get(task_id)
        except TaskNotFound:
            shared = self._shared(task_id)
            if shared is not None:
                return self._cache(shared)[0]
            for record in self._remote_records():
                if record.id == task_id:
                    return record
            raise

    def show(self, task_id: str) -> TaskRecord:
        """The task brought up to date with Nomad and merged with the trail, where a teammate or
        an archivist may have recorded more (its end, its usage, its last lines of output).
        Nomad out of reach, the local copy (`offline` says why)."""
        self.offline = None
        record = self.get(task_id)
        if settled(record):
            return record
        try:
            return self._keep(self.refresh(record), {}, share=True)
        except Offline as exc:
            self.offline = exc
            return record

    def usage(self, record: TaskRecord) -> Usage | None:
        """What a running task uses now, from Nomad's allocation stats."""
        if record.status != "running" or not record.nomad_alloc_id or self.offline:
            return None
        with nomad_errors():
            try:
                return status.usage(self._nomad(record).allocations.stats(record.nomad_alloc_id))
            except NomadNotFound:
                return None

    def placement(self, record: TaskRecord) -> Placement | None:
        """Where the task was placed, with what, and its events there; None before it is placed
        and once Nomad has collected its allocation."""
        if not record.nomad_alloc_id:
            return None
        with nomad_errors():
            try:
                return status.placement(self._nomad(record).allocations.info(record.nomad_alloc_id))
            except NomadNotFound:
                return None

    def documents(self, record: TaskRecord) -> NomadDocuments:
        """The task's job and allocation as Nomad has them now."""
        nomad = self._nomad(record)
        with nomad_errors():
            job = nomad.jobs.info(record.nomad_job_id) if record.nomad_job_id else None
            allocation = None
            if record.nomad_alloc_id:
                try:
                    allocation = nomad.allocations.info(record.nomad_alloc_id)
                except NomadNotFound:
                    pass
        return NomadDocuments(job, allocation)

    def namespaces(self) -> builtins.list[str]:
        """The namespaces the token may see, by name."""
        with nomad_errors():
            return sorted(n.get("Name") or "" for n in self._nomad().namespaces.list() or ())

    def events(
        self, namespace: str | None = None, index: int = 0, stop: threading.Event | None = None
    ) -> Iterator[ClusterEvent]:
        """Events about tapit's jobs from Nomad's event stream, as they come ("*": every namespace)."""
        prefix = self.config.job_prefix
        with nomad_errors():
            for message in self.cluster.client(namespace).event_stream.stream(EVENT_TOPICS, index, stop=stop):
                arrived = datetime.now(timezone.utc)
                for event in message.get("Events") or ():
                    job_id, ns, summary = status.event_summary(event)
                    if job_id.startswith(prefix):
                        at = status.event_modified_at(event) or arrived
                        yield ClusterEvent(
                            at, event.get("Index") or 0, event.get("Topic"), event.get("Type"), job_id, ns, summary
                        )

    def changes(self, index: int = 0, stop: threading.Event | None = None) -> Iterator[JobChanges]:
        """The live feed: from Nomad's event stream at `index` on, which of tapit's jobs each
        message changed (often none). Ends when `stop` is set or the stream does."""
        prefix = self.config.job_prefix
        with nomad_errors():
            for message in self._nomad().event_stream.stream(LIVE_TOPICS, index, stop=stop):
                jobs = {status.event_job_id(event) for event in message.get("Events") or ()}
                yield JobChanges(message.get("Index", index), tuple(sorted(j for j in jobs if j.startswith(prefix))))

    def list(self, namespace: str | None = None, limit: int | None = None) -> builtins.list[TaskRecord]:
        """Tasks in the connection's namespace, or in `namespace`: "*" spans every namespace the
        token may list. The local history first, then the trail's newest tasks (kept in the
        history from then on), brought up to date with Nomad, then Nomad's tapit jobs that
        neither has. Nomad out of reach, the local copy (`offline` says why).

        With `limit`, the newest `limit` of them and every unfinished one, read from the
        history's recent records rather than all of it (`more` says whether some were left out).
        The records it refreshes are written to the history together, in one write."""
        self.offline = None
        wanted = namespace or self.connection.settings.namespace
        if limit is None:
            kept, held = self.history.all(), None
        else:
            kept, held = self.history.recent()
        local = [r for r in kept if wanted == "*" or r.nomad_namespace == wanted]
        try:
            records = self._with_trail(local, wanted, held, limit)
            with self._batched_history():
                records = self._refreshed(records)
            known = {r.id for r in records}
            records += [r for r in self._remote_records(wanted) if r.id not in known]
        except Offline as exc:
            if not local:
                raise
            self.offline, records = exc, local
        records.sort(key=lambda r: r.created_at, reverse=True)
        if limit is None:
            return records
        shown = records[:limit] + [r for r in records[limit:] if not r.terminal]
        self.more = len(shown) < len(records)
        return shown

    # --- keep records in step with Nomad --------------------------------------

    def refuse_unplaceable(self, record: TaskRecord) -> TaskRecord:
        """Fail at once a task the embedded agent's one node can never run (an image with no
        container engine, say), with the reason, rather than leave it pending. The agent
        evaluates a job as it registers it (tapit/agent/scheduler.py register), so the answer is
        there already. On a cluster Nomad keeps the task queued for a node that may come."""
        if not self.connection.embedded:
            return record
        nomad = self._nomad(record)
        with nomad_errors():
            if nomad.jobs.allocations(record.nomad_job_id):
                return record
            reason = status.never_placed(nomad.jobs.evaluations(record.nomad_job_id))
        return record if reason is None else self._fail_placement(record, reason)

    def _fail_placement(self, record: TaskRecord, reason: str) -> TaskRecord:
        """Stop the job Nomad could not place, and record why."""
        self._stop_job(record)
        return self._apply(record, {"status": "failed", "reason": f"not placed: {self.explain_placement(reason)}"})

    def explain_placement(self, reason: str) -> str:
        """A placement failure with its fix, where tapit knows it."""
        if "missing drivers" in reason and self.connection.embedded:
            return (
                f"{reason}: the embedded agent found no Docker or Podman engine to run images; start one "
                "(or set DOCKER_HOST to its socket, then restart the agent), drop image=/docker_tag=, "
                "or point NOMAD_ADDR at a cluster"
            )
        return reason

    # --- wait and logs (tapit/service/logs.py) ------------------------------------

    def wait(
        self,
        task_id: str,
        sink: task_logs.OutputSink,
        cancel: threading.Event | None = None,
        on_queued: Callable[[str], None] = lambda message: None,
        blocking_wait_s: float = task_logs.BLOCKING_WAIT_S,
    ) -> TaskRecord:
        """Stream the task's output from its start until it ends; return the final record
        (tapit/service/logs.py wait says how)."""
        return task_logs.wait(self, task_id, sink, cancel, on_queued, blocking_wait_s)

    def logs(self, task_id: str, sink: task_logs.OutputSink, follow: bool = False) -> TaskRecord:
        """Print the task's output; with follow, keep going until it ends (same as waiting on it)."""
        return task_logs.show(self, task_id, sink, follow)

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
            alloc = self._nomad(record).allocations.info(record.nomad_alloc_id)
        task_logs.wait_while(self, alloc, {"pending", "running"}, record, threading.Event())
        return self.refresh(record)

    def delete(self, task_id: str) -> TaskRecord:
        """Remove a finished task's record and everything archived of it, and purge its Nomad job.

        The job is purged last: a history that refuses the removal keeps the record, the archive
        and the job, and `delete` can be run again."""
        record = self.show(task_id)
        if not record.terminal:
            raise Refused(f"task {task_id} is {record.status}; stop it first: tapit stop task task={task_id}")
        self.history.remove(task_id)
        # The job before the trail and the log store: an archivist writes nothing for a job that is
        # gone (tapit/service/archivist.py), so none puts back what is removed after it.
        self._stop_job(record, purge=True)
        try:
            self.trail.delete(record)
        except TrailRefused as exc:
            self.unshared = exc
        task_logs.remove_stored(self, record)
        return record


def settled(record: TaskRecord) -> bool:
    """Nothing more will be learnt of the task: it has ended, and the local copy holds what the
    archivist wrote when it shipped the logs (logs_url, with the usage and last lines). After
    that write the archivist writes nothing of it (tapit/service/archivist.py _ship), so the
    trail's record is the local one and neither Nomad nor the trail need asking."""
    return record.terminal and bool(record.logs_url) and record.logs_error is None


def _creation_dir() -> str | None:
    """Where a host task on the embedded agent starts: the directory it is created from, as a
    command typed in that shell would (`python scripts/x.py` finds the script). A cluster's node
    has no such directory, and a container keeps its image's working directory. None when this
    process's directory is gone: the task starts in its allocation's directory, as on Nomad."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _deadline(created_at: str, max_hours: float | None) -> str | None:
    if max_hours is None:
        return None
    moment = parse_iso(created_at) + timedelta(hours=max_hours)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
