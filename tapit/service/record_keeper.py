"""Keeping a task's record in step: with what Nomad reports of its job (the deadline enforced and
its output archived as it ends, tapit/service/logs.py), and with the cluster's trail, where other
writers' records are merged in (tapit/trail/records.py). TaskService (tapit/service/tasks.py)
builds tapit's API on this; the service's own modules call its underscored methods."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tapit.config import AppConfig
from tapit.errors import Offline, TapitError, TaskNotFound, nomad_errors
from tapit.model import TERMINAL, UNKNOWN_OUTCOME, TaskRecord, parse_iso
from tapit.nomad.errors import NomadNotFound
from tapit.service import archivist_notice
from tapit.service import logs as task_logs
from tapit.service.connection import Cluster, Connection
from tapit.service.history import History, HistoryUnwritable
from tapit.service.trail import Trail, TrailRefused
from tapit.translate import jobspec, status
from tapit.translate.status import Observation, observe

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient

UNCONFIRMED_SUBMISSION = (
    "outcome unknown: its submission was never confirmed and Nomad has no such job (it never started, or was collected)"
)

# The newest tasks `list` reads from the trail; older ones are in the trail for `show task`.
LIST_LIMIT = 200
TRAIL_READERS = 8
# At most this many jobs are named in an allocations list's filter (its URL stays short).
FILTERED_JOBS = 50
# How long the answer to "does an archivist ship this cluster's logs?" stands (a TUI lists often).
ARCHIVIST_CHECK_S = 30.0


class RecordKeeper:
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
        self._ships: tuple[float, bool] | None = None  # (when asked, whether an archivist ships)

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
            if state in TERMINAL and not record.logs_archived and seen.alloc_id and self.downloads_ended_logs():
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

    def _keep(self, record: TaskRecord, changes: dict, share: bool = False, trail: bool = True) -> TaskRecord:
        """_apply for reads: what cannot be recorded is still shown."""
        try:
            return self._apply(record, changes, share, trail)
        except HistoryUnwritable as exc:
            self.unrecorded = exc
            for key, value in changes.items():
                setattr(record, key, value)
            return record

    def _apply(self, record: TaskRecord, changes: dict, share: bool = False, trail: bool = True) -> TaskRecord:
        """Record the changes here, then in the cluster's trail, where they are merged with what
        other writers recorded (tapit/trail/records.py merge); the record as merged. `share`
        writes the trail even without changes: it may know more than this machine; without
        `trail`, the changes are kept here only (an archivist keeps the trail)."""
        self.history.update(record.id, changes)
        for key, value in changes.items():
            setattr(record, key, value)
        if trail and (changes or share):
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

    # --- records from the trail and Nomad ----------------------------------------

    def _refreshed(self, records: list[TaskRecord]) -> list[TaskRecord]:
        """The unfinished records brought up to date with Nomad.

        Where an archivist ships the cluster's logs and keeps its trail, from one list of the
        allocations (_listed): an ended task's logs are left to it (`show logs` reads what it
        shipped, or archives them then), and the trail to it. Where none does, each record is
        refreshed on its own, its logs archived here as it is found ended, a few at once: the
        slower way, but then this machine's archive is the only copy once Nomad collects the job.
        A record the list does not answer is asked alone: one never placed, or whose allocations
        Nomad collected (a dead batch job's go with their evaluation, or with the job:
        nomad/core_sched.go gcEval and jobGC), where only its evaluations, the job or the trail
        can tell more."""
        unfinished = [r for r in records if not r.terminal]
        if not unfinished:
            return records
        fresh = self._listed(unfinished) if self._archivist_ships() else {}
        rest = [r for r in unfinished if r.id not in fresh]
        if len(rest) < 2:
            fresh.update((r.id, self.refresh(r)) for r in rest)
        else:
            from concurrent.futures import ThreadPoolExecutor

            # After many tasks ended unwatched, each costs a few round trips to Nomad (its
            # allocation, its logs, the trail), most of it waiting for the answer.
            with ThreadPoolExecutor(max_workers=TRAIL_READERS) as pool:
                fresh.update(zip((r.id for r in rest), pool.map(self.refresh, rest)))
        return [fresh.get(r.id, r) for r in records]

    def _archivist_clients(self) -> list[NomadClient]:
        """Where an archivist is looked for: the connection's namespace, and "default"."""
        namespace = self.connection.settings.namespace
        return [self._nomad()] + ([self.cluster.client("default")] if namespace != "default" else [])

    def _archivist_ships(self) -> bool:
        """Whether an archivist ships this cluster's logs and keeps its trail: the job
        tapit-archivist runs, or the embedded agent's node says it runs its own
        (tapit/service/archivist_notice.py). One that cannot be seen counts as none."""
        now = time.monotonic()
        if self._ships is None or now - self._ships[0] > ARCHIVIST_CHECK_S:
            try:
                ships = archivist_notice.archivist_running(self._archivist_clients())
            except TapitError:
                ships = False  # what follows asks Nomad again, and says why it cannot
            self._ships = (now, ships)
        return self._ships[1]

    def downloads_ended_logs(self) -> bool:
        """Whether the logs of a task that ended unwatched are downloaded into this machine's
        history when a read finds it ended. Not from the embedded agent of this home while its
        archivist ships them, to the store in the same home (tapit/agent/archivist_child.py): a
        second copy on the same disk, which `show logs` reads no faster (and, should Nomad no
        longer have them, waits for the archivist's copy). A cluster's store is elsewhere, and may
        not even be readable from here: the history's copy is then the one a laptop can rely on.
        What `--wait` and `--follow` print is archived from their stream wherever they run."""
        return not (self.connection.started_agent and self._archivist_ships())

    def _listed(self, records: list[TaskRecord]) -> dict[str, TaskRecord]:
        """The records whose jobs have allocations, brought up to date from one list of every
        allocation in their namespace (or every namespace): no per-task request, no log copied and
        no trail written, since the archivist does both. {task id: record}."""
        namespaces = {r.nomad_namespace for r in records}
        namespace = next(iter(namespaces)) if len(namespaces) == 1 else "*"
        # A few jobs are named in the request (a TUI's running tasks on a busy cluster); many,
        # and the whole namespace's list is one answer where the filter would be a long URL.
        jobs = [r.nomad_job_id for r in records] if len(records) <= FILTERED_JOBS else []
        with nomad_errors():
            stubs = self._nomad().allocations.list(namespace=namespace, job_ids=jobs)
        by_job: dict[tuple[str, str], list[dict]] = {}
        for stub in stubs:
            job_id = stub.get("JobID") or ""
            if job_id.startswith(self.config.job_prefix):
                by_job.setdefault((stub.get("Namespace") or namespace, job_id), []).append(stub)
        fresh = {}
        for record in records:
            allocs = by_job.get((record.nomad_namespace, record.nomad_job_id))
            if allocs:
                fresh[record.id] = self._observed(record, allocs)
        return fresh

    def _observed(self, record: TaskRecord, allocs: list[dict]) -> TaskRecord:
        """refresh, from allocations already read, with the logs and the trail left to the
        archivist: the changes are recorded in the history only."""
        limit_mb = jobspec.memory_mb(record.memory_gb) if record.memory_gb else None
        seen = observe(allocs, [], limit_mb)
        ended = self._ended_meanwhile(record) if seen.status in TERMINAL else None
        if ended is not None:
            return ended
        changes = changes_from(record, seen)
        if changes.get("status", record.status) == "running" and _past(record.deadline_at, task_logs.DEADLINE_GRACE_S):
            self._stop_job(record)
            changes["stop_requested_by"] = "deadline"
        return self._keep(record, changes, trail=False)

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
        local: list[TaskRecord],
        namespace: str,
        held: set[str] | None = None,
        limit: int | None = None,
    ) -> list[TaskRecord]:
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

    def _cache(self, *records: TaskRecord) -> list[TaskRecord]:
        """Keep records read from the trail in the local history, its cache."""
        try:
            if records:
                self.history.add_missing(*records)
        except HistoryUnwritable as exc:
            self.unrecorded = exc
        return list(records)

    def _remote_records(self, namespace: str | None = None) -> list[TaskRecord]:
        """tapit jobs in Nomad that this machine's history does not have (started by teammates)."""
        with nomad_errors():
            stubs = self._nomad().jobs.list(prefix=self.config.job_prefix, namespace=namespace)
        return [r for r in map(status.record_from_stub, stubs) if r is not None]

    def _stop_job(self, record: TaskRecord, purge: bool = False) -> None:
        with nomad_errors():
            self._nomad(record).jobs.deregister(record.nomad_job_id, purge=purge)


def changes_from(record: TaskRecord, seen: Observation) -> dict:
    """The record fields that differ from what Nomad now reports."""
    state = seen.status
    reason: str | None
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
    fresh: dict[str, str | int | None] = {
        "status": state,
        "exit_code": exit_code,
        "started_at": seen.started_at,
        "finished_at": seen.finished_at,
        "nomad_alloc_id": seen.alloc_id,
        "node_name": seen.node_name,
        "reason": reason,
        "disk_limit": seen.disk_limit,
    }
    changes: dict[str, str | int | None] = {k: v for k, v in fresh.items() if v is not None and getattr(record, k) != v}
    if record.status == "submitting" and record.reason:
        changes["reason"] = reason  # Nomad has the job: the doubt about its submission is over
    return changes


def _past(deadline_at: str | None, grace_s: float) -> bool:
    if not deadline_at:
        return False
    return datetime.now(timezone.utc) > parse_iso(deadline_at) + timedelta(seconds=grace_s)
