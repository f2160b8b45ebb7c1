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
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tapit.config import AppConfig, load_config
from tapit.errors import Offline, Refused, RuntimeUnavailable, TaskNotFound, UsageError, nomad_errors
from tapit.model import (
    TERMINAL,
    UNKNOWN_OUTCOME,
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
from tapit.service.connection import Cluster, Connection, resolve_connection
from tapit.service.history import History, HistoryUnwritable
from tapit.service.submission import submit
from tapit.service.trail import Trail, TrailRefused
from tapit.translate import jobspec, status
from tapit.translate.status import Observation, observe

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient

# The embedded agent's node attribute naming the limits this machine cannot enforce.
UNENFORCED_ATTRIBUTE = "tapit.limits.unenforced"
LIVE_TOPICS = ["Job", "Allocation"]
# The events view: what happens to tapit's jobs, their evaluations and allocations.
EVENT_TOPICS = ["Job", "Allocation", "Evaluation"]
UNCONFIRMED_SUBMISSION = (
    "outcome unknown: its submission was never confirmed and Nomad has no such job (it never started, or was collected)"
)
# The newest tasks `list` reads from the trail; older ones are in the trail for `show task`.
LIST_LIMIT = 200
TRAIL_READERS = 8


class TaskService:
    """tapit's one API. Methods with a leading underscore are for the service's own modules
    (logs.py, consoles.py)."""

    def __init__(self, history: History, config: AppConfig, connect: Callable[[], Connection]):
        self.history = history
        self.config = config
        self.cluster = Cluster(connect)
        # Why the last read could not record what it learnt (a read-only history), for a warning.
        self.unrecorded: HistoryUnwritable | None = None
        # The cluster's copy of the trail (tapit/service/trail.py); the history is its local cache.
        self.trail = Trail(self.cluster.client)
        # Why the cluster would not keep the trail (no variables ACL, an old Nomad), for a warning.
        self.unshared: TrailRefused | None = None
        # Why the last list or show could not reach Nomad and showed the local copy instead.
        self.offline: Offline | None = None
        # Whether the last list with a limit left older tasks out.
        self.more = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> TaskService:
        config = load_config(environ=environ)
        return cls(History(state_dir()), config, lambda: resolve_connection(environ, config))

    @property
    def connection(self) -> Connection:
        return self.cluster.connection

    def _nomad(self, record: TaskRecord | None = None) -> NomadClient:
        """The client for the record's namespace (the connection's without a record)."""
        return self.cluster.client(record.nomad_namespace if record else None)

    def close(self) -> None:
        self.cluster.close()

    def reconnect(self) -> None:
        """Forget the connection, so the next call resolves it afresh: the embedded agent may have
        been restarted on another port (or needs starting again)."""
        self.cluster.reconnect()

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
        namespace = self.connection.settings.namespace
        clients = [self._nomad()] + ([self.cluster.client("default")] if namespace != "default" else [])
        return archivist_notice.notice_once(clients)

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

    def _refreshed(self, records: builtins.list[TaskRecord]) -> builtins.list[TaskRecord]:
        """The unfinished records brought up to date with Nomad, a few at once: after many tasks
        ended unwatched, each costs a few round trips to Nomad (its allocation, its logs, the
        trail), most of it waiting for the answer."""
        unfinished = [r for r in records if not r.terminal]
        if len(unfinished) < 2:
            return [self.refresh(r) if not r.terminal else r for r in records]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=TRAIL_READERS) as pool:
            fresh = dict(zip((r.id for r in unfinished), pool.map(self.refresh, unfinished)))
        return [fresh.get(r.id, r) for r in records]

    @contextmanager
    def _batched_history(self) -> Iterator[None]:
        """The history's updates in one write at the end; what cannot be written is still shown."""
        try:
            with self.history.batched():
                yield
        except HistoryUnwritable as exc:
            self.unrecorded = exc

    def _with_trail(
        self,
        local: builtins.list[TaskRecord],
        namespace: str,
        held: set[str] | None = None,
        limit: int | None = None,
    ) -> builtins.list[TaskRecord]:
        """`local` and the trail's newest tasks that it lacks, read from the trail into the history.
        `held`: local holds the history's recent records only, and these are the ids of all it
        holds; a task it holds beyond them is older than every one of them, so it is not among the
        newest `limit` once local has as many."""
        try:
            pointers, _ = self.trail.recent(LIST_LIMIT, namespace=namespace)
        except TrailRefused as exc:
            self.unshared = exc
            return local
        known = {r.id for r in local}
        wanted = [p for p in pointers if p.task_id not in known]
        if wanted and held is not None:
            older = {p.task_id for p in wanted if p.task_id in held}
            wanted = [p for p in wanted if p.task_id not in older]
            if older and len(local) < (limit or 0):
                local = local + [r for r in self.history.all() if r.id in older]
        if not wanted:
            return local
        from concurrent.futures import ThreadPoolExecutor  # only when there is something to read

        # One read per record: a few at once, for a new machine's first list on a distant cluster.
        with ThreadPoolExecutor(max_workers=TRAIL_READERS) as pool:
            shared = pool.map(lambda p: self._shared(p.task_id, p.namespace), wanted)
            fetched = [r for r in shared if r is not None]
        return local + self._cache(*fetched)

    def _shared(self, task_id: str, namespace: str | None = None) -> TaskRecord | None:
        """The trail's record of the task, None without one (or a trail)."""
        try:
            return self.trail.read(task_id, namespace)
        except TrailRefused as exc:
            self.unshared = exc
            return None

    def _cache(self, *records: TaskRecord) -> builtins.list[TaskRecord]:
        """Keep records read from the trail in the local history, its cache."""
        try:
            if records:
                self.history.add_missing(*records)
        except HistoryUnwritable as exc:
            self.unrecorded = exc
        return builtins.list(records)

    def _remote_records(self, namespace: str | None = None) -> builtins.list[TaskRecord]:
        """tapit jobs in Nomad that this machine's history does not have (started by teammates)."""
        with nomad_errors():
            stubs = self._nomad().jobs.list(prefix=self.config.job_prefix, namespace=namespace)
        return [r for r in map(status.record_from_stub, stubs) if r is not None]

    # --- keep records in step with Nomad --------------------------------------

    def refresh(self, record: TaskRecord) -> TaskRecord:
        """Bring a record up to date with Nomad; enforce the deadline; archive logs when it ends.

        A history that cannot be written does not stop a read: the record is brought up to date
        here only, and `unrecorded` says why it was not kept."""
        if record.terminal and (record.logs_archived or record.error):
            return record
        nomad = self._nomad(record)
        with nomad_errors():
            try:
                allocs = nomad.jobs.allocations(record.nomad_job_id)
                evals = nomad.jobs.evaluations(record.nomad_job_id) if not allocs else []
            except NomadNotFound:
                allocs, evals = [], []
            gone = not allocs and not evals and nomad.jobs.info(record.nomad_job_id) is None
        limit_mb = jobspec.memory_mb(record.memory_gb) if record.memory_gb else None
        seen = observe(allocs, evals, limit_mb)
        ended = self._ended_meanwhile(record) if gone or seen.status in TERMINAL else None
        if ended is not None:
            return ended
        if gone:
            # Unless a teammate or an archivist recorded its end in the trail (the merge keeps
            # that), nothing can tell how it ended any more: say so, never guess.
            if record.terminal:
                return self._keep(record, {})
            reason = UNKNOWN_OUTCOME if record.status != "submitting" else UNCONFIRMED_SUBMISSION
            return self._keep(record, {"status": "unknown", "reason": reason})
        changes = changes_from(record, seen)
        state = changes.get("status", record.status)
        try:
            if state in TERMINAL and not record.logs_archived and seen.alloc_id:
                changes.update(task_logs.archive(self, record, seen.alloc_id))
            elif state == "running" and _past(record.deadline_at, task_logs.DEADLINE_GRACE_S):
                self._stop_job(record)
                changes["stop_requested_by"] = "deadline"
        except HistoryUnwritable as exc:
            self.unrecorded = exc
        return self._keep(record, changes)

    def _ended_meanwhile(self, record: TaskRecord) -> TaskRecord | None:
        """The history's record when another writer has ended the task since `record` was read.

        A console's client stops and purges its job and then writes how it ended; a reader holding
        the record from before (the TUI's live feed) must not take the stopped or vanished job for
        an end of its own (lost, failed)."""
        if record.terminal:
            return None
        try:
            kept = self.history.get(record.id)
        except TaskNotFound:
            return None
        return kept if kept.terminal else None

    def _keep(self, record: TaskRecord, changes: dict, share: bool = False) -> TaskRecord:
        """_apply for reads: what cannot be recorded is still shown."""
        try:
            return self._apply(record, changes, share)
        except HistoryUnwritable as exc:
            self.unrecorded = exc
            for key, value in changes.items():
                setattr(record, key, value)
            return record

    def _apply(self, record: TaskRecord, changes: dict, share: bool = False) -> TaskRecord:
        """Record the changes here, then in the cluster's trail, where they are merged with what
        other writers recorded (tapit/trail/records.py merge); the record as merged. `share`
        writes the trail even without changes: it may know more than this machine."""
        self.history.update(record.id, changes)
        for key, value in changes.items():
            setattr(record, key, value)
        if changes or share:
            merged = self._share(record)
            learnt = {k: v for k, v in merged.to_dict().items() if getattr(record, k) != v}
            self.history.update(record.id, learnt)
            for key, value in learnt.items():
                setattr(record, key, value)
        return record

    def _share(self, record: TaskRecord) -> TaskRecord:
        """The record merged into the trail; as it is when the trail cannot be written, since the
        history holds it and the next write shares it."""
        try:
            return self.trail.write(record)
        except TrailRefused as exc:
            self.unshared = exc
        except Offline as exc:
            self.offline = exc  # what is shown is this machine's copy
        return record

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
    ) -> TaskRecord:
        """Stream the task's output from its start until it ends; return the final record
        (tapit/service/logs.py wait says how)."""
        return task_logs.wait(self, task_id, sink, cancel, on_queued)

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

    def _stop_job(self, record: TaskRecord, purge: bool = False) -> None:
        with nomad_errors():
            self._nomad(record).jobs.deregister(record.nomad_job_id, purge=purge)

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


def changes_from(record: TaskRecord, seen: Observation) -> dict:
    """The record fields that differ from what Nomad now reports."""
    state = seen.status
    if record.stop_requested_by == "deadline" and state in ("stopped", "complete", "failed"):
        state, reason = "timed_out", "killed: exceeded max_hours"
    elif record.status == "failed" and record.reason and record.reason.startswith("not placed"):
        state, reason = record.status, record.reason
    else:
        reason = seen.reason
    if state == "stopped" and record.stop_requested_by:
        reason = f"stopped by {record.stop_requested_by}"
    exit_code = seen.exit_code
    if record.kind == "console":
        # A console's own program runs in an exec session and its client records how it ended;
        # what Nomad reports is the keep-alive, which only ends on its own once the client is gone.
        exit_code = None
        if state == "complete":
            state, reason = "stopped", "its client went away; ended by the idle timeout or max_hours"
    fresh = {
        "status": state,
        "exit_code": exit_code,
        "started_at": seen.started_at,
        "finished_at": seen.finished_at,
        "nomad_alloc_id": seen.alloc_id,
        "node_name": seen.node_name,
        "reason": reason,
        "disk_limit": seen.disk_limit,
    }
    changes = {k: v for k, v in fresh.items() if v is not None and getattr(record, k) != v}
    if record.status == "submitting" and record.reason:
        changes["reason"] = reason  # Nomad has the job: the doubt about its submission is over
    return changes


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


def _past(deadline_at: str | None, grace_s: float) -> bool:
    if not deadline_at:
        return False
    return datetime.now(timezone.utc) > parse_iso(deadline_at) + timedelta(seconds=grace_s)
