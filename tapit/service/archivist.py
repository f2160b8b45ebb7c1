"""The archivist: the cluster's own keeper of tapit's trail, so that nothing depends on the laptop
that started a task, nor on Nomad keeping its job.

It lists tapit's jobs in every namespace when it starts (so a restart catches up), then follows
Nomad's event stream (Job and Allocation topics) and sweeps again every SWEEP_S. For every tapit
task it sees it:

* writes the record to the trail (tapit/service/trail.py: merged, with check-and-set, so several
  archivists and every CLI agree on it) as the task goes, and its final one when it ends;
* ships its logs to the log store while they are produced (tapit/service/logship.py), resuming
  after the last chunk in the store, so a restart loses and repeats nothing;
* samples its usage (peak memory, CPU time) from the client's allocation stats;
* enforces max_hours where the server dropped MaxRunDuration (Nomad before 2.0.3 ignores the
  field it does not know, so the stored job comes back without it);
* ends the console jobs whose session is gone: a console's keep-alive ends by itself once its
  client stops extending the idle deadline, and the archivist purges the job CONSOLE_PURGE_S
  later, as the client would have (tapit/service/consoles.py says how a console lives).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tapit.errors import TapitError, nomad_errors
from tapit.model import TERMINAL, TaskRecord, parse_iso
from tapit.nomad.client import NomadClient
from tapit.nomad.errors import NomadError
from tapit.service.logship import LogShipper, ShipConflict, Shipped
from tapit.service.record_keeper import changes_from
from tapit.service.tasks import LIVE_TOPICS, TaskService
from tapit.service.trail import Trail
from tapit.trail.logstore import LogStore, LogStoreError
from tapit.translate import jobspec, status

SWEEP_S = 30.0  # the event stream can drop a subscriber that falls behind: a sweep makes up for it
FLUSH_S = 2.0  # how soon a task's output reaches the store
# How long Nomad may take to act on max_run_duration itself before the archivist steps in, as
# the CLI allows (tapit/service/logs.py DEADLINE_GRACE_S).
DEADLINE_GRACE_S = 5.0
RETRY_S = 2.0
# A console's job is purged this long after it ended: a client that is only slow to close it
# purges it itself, having recorded how its session ended.
CONSOLE_PURGE_S = 60.0
ALL_NAMESPACES = "*"


class Archivist:
    def __init__(
        self, service: TaskService, store: LogStore, say: Callable[[str], None], job_prefix: str | None = None
    ):
        self.service, self.store, self.say = service, store, say
        self.trail = Trail(service.cluster.client)
        self.prefix = service.config.job_prefix if job_prefix is None else job_prefix
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def _nomad(self, namespace: str | None) -> NomadClient:
        return self.service.cluster.client(namespace)

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Until `stop` is set: sweep, then follow the event stream, sweeping every SWEEP_S."""
        sweeper = threading.Thread(target=self._sweep_every, daemon=True, name="archivist-sweep")
        index = self.sweep()
        sweeper.start()
        while not self.stop.is_set():
            try:
                with nomad_errors():
                    stream = self._nomad(ALL_NAMESPACES).event_stream.stream(LIVE_TOPICS, index, stop=self.stop)
                    for message in stream:
                        index = max(index, message.get("Index", index))
                        for namespace, job_id in _jobs_of(message, self.prefix):
                            self.visit(namespace, job_id)
            except TapitError as exc:
                self.say(f"event stream: {exc}; sweeping instead until it answers")
                self.stop.wait(RETRY_S)
        sweeper.join(timeout=5)
        for watch in list(self._watches.values()):
            watch.shipper.close()

    def _sweep_every(self) -> None:
        while not self.stop.wait(SWEEP_S):
            try:
                self.sweep()
            except TapitError as exc:
                self.say(f"sweep: {exc}")

    def sweep(self) -> int:
        """Visit every tapit job in every namespace, and every task being shipped; the index to
        follow events from."""
        with nomad_errors():
            stubs = self._nomad(ALL_NAMESPACES).jobs.list(prefix=self.prefix, namespace=ALL_NAMESPACES)
        seen = set()
        for stub in stubs:
            if (stub.get("Meta") or {}).get(jobspec.META_TASK_ID):
                seen.add((stub.get("Namespace", "default"), stub["ID"]))
        for namespace, job_id in seen | set(self._watches):
            self.visit(namespace, job_id)
        return max((s.get("ModifyIndex", 0) for s in stubs), default=0)

    # --- one job ----------------------------------------------------------------------------

    def visit(self, namespace: str, job_id: str) -> None:
        """Bring the task's record up to date, and start or finish shipping its logs."""
        with self._lock:
            try:
                self._visit(namespace, job_id)
            except (TapitError, ShipConflict) as exc:
                self.say(f"job {job_id} in {namespace}: {exc}")
            except Exception as exc:  # a bug: said, and the other tasks are still kept
                self.say(f"job {job_id} in {namespace}: internal error: {type(exc).__name__}: {exc}")

    def _visit(self, namespace: str, job_id: str) -> None:
        nomad = self._nomad(namespace)
        with nomad_errors():
            job = nomad.jobs.info(job_id)
            if job is None:
                return self._gone(namespace, job_id)
            meta = job.get("Meta") or {}
            task_id = meta.get(jobspec.META_TASK_ID)
            if not task_id:
                return None
            allocs = nomad.jobs.allocations(job_id)
            evals = [] if allocs else nomad.jobs.evaluations(job_id)
        recorded = self.trail.read(task_id, namespace)
        record = recorded or record_from_job(job)
        limit_mb = jobspec.memory_mb(record.memory_gb) if record.memory_gb else None
        seen = status.observe(allocs, evals, limit_mb)
        changes = changes_from(record, seen)
        record = replace(record, **changes)
        if record.status == "running":
            self._enforce_deadline(nomad, job, record)
        if seen.alloc_id and record.status in ("running", *TERMINAL):
            file_size = jobspec.log_file_size({"Job": job})
            record = self._ship(nomad, record, seen.alloc_id, file_size, _unenforced_deadline(job, record))
        with nomad_errors():
            purged = nomad.jobs.info(job_id) is None
        if purged and self.trail.read(task_id, namespace) is None:
            # `delete task` purged the job, then removed the record: nothing of it is written back.
            self.store.remove_task(namespace, task_id)
            return None
        # A record read above is only updated: should `delete task` remove it from here on, the
        # write finds none and puts nothing back.
        written = self.trail.write(record) if recorded is None else self.trail.update(record)
        if written is None:
            self.store.remove_task(namespace, task_id)
            return None
        record = written
        if record.kind == "console" and record.terminal and record.logs_url and _ended_before(record, CONSOLE_PURGE_S):
            # The keep-alive ended by itself: its client is gone. Purge it as the client would.
            with nomad_errors():
                nomad.jobs.deregister(job_id, purge=True)
            self.say(f"console {task_id}: its session is gone; purged its job {job_id}")

    def _enforce_deadline(self, nomad: NomadClient, job: dict, record: TaskRecord) -> None:
        deadline = _unenforced_deadline(job, record)
        if record.stop_requested_by or deadline is None:
            return  # being stopped already, or Nomad enforces it, or there is none
        if datetime.now(UTC) > deadline + timedelta(seconds=DEADLINE_GRACE_S):
            with nomad_errors():
                nomad.jobs.deregister(record.nomad_job_id)
            record.stop_requested_by = "deadline"
            self.say(
                f"task {record.id}: past max_hours={record.max_hours:g} on a server without MaxRunDuration; stopped"
            )

    # --- logs and usage ---------------------------------------------------------------------

    def _ship(
        self, nomad: NomadClient, record: TaskRecord, alloc_id: str, file_size: int, deadline: datetime | None
    ) -> TaskRecord:
        key = (record.nomad_namespace, record.nomad_job_id)
        watch = self._watches.get(key)
        if watch is None:
            if record.logs_url and record.terminal:
                return record  # shipped already, by this archivist or another
            shipper = LogShipper(self.store, nomad, record.nomad_namespace, record.id, alloc_id, file_size)
            watch = self._watches[key] = _Watch(shipper, alloc_id, record.nomad_job_id, deadline)
            watch.peak_memory_bytes, watch.cpu_seconds = record.peak_memory_bytes, record.cpu_seconds
            watch.start(self, nomad)
        if watch.shipper.conflict:
            # Another archivist wrote a chunk this one was about to: it ships the task now. A
            # later visit starts afresh from the store, should that one stop.
            del self._watches[key]
            watch.stop.set()
            watch.shipper.close()
            self.say(f"task {record.id}: another archivist ships its logs")
            return _with_usage(record, watch)
        if not record.terminal:
            return _with_usage(record, watch)
        return self._finish(key, watch, record)

    def _finish(
        self, key: tuple[str, str], watch: _Watch, record: TaskRecord, lost_why: str | None = None
    ) -> TaskRecord:
        """The task has ended (or its job is gone): ship the rest of its logs. A store that fails
        leaves the watch in place, to be tried again at the next visit, and the record says so."""
        watch.stop.set()
        try:
            with nomad_errors():
                shipped = watch.shipper.finish(lost_why)
        except ShipConflict:
            shipped = None  # another archivist ships it: its record says where
        except LogStoreError as exc:
            return replace(_with_usage(record, watch), logs_error=str(exc))
        except TapitError as exc:
            return self._finish(key, watch, record, f"the logs could not be read to their end: {exc}")
        del self._watches[key]
        return _with_usage(record, watch) if shipped is None else _shipped(_with_usage(record, watch), shipped)

    def _gone(self, namespace: str, job_id: str) -> None:
        """The job was purged while its logs were being shipped: keep what reached the store."""
        key = (namespace, job_id)
        watch = self._watches.get(key)
        if watch is None:
            return
        record = self.trail.read(watch.shipper.task_id, namespace)
        if record is None:
            return
        why = "Nomad purged the job before its logs were read to their end"
        self.trail.update(self._finish(key, watch, record, why))


class _Watch:
    """A task being shipped: its shipper, flushed every FLUSH_S, its usage sampled as often, and
    its deadline watched where only the archivist enforces it."""

    def __init__(self, shipper: LogShipper, alloc_id: str, job_id: str, deadline: datetime | None):
        self.shipper, self.alloc_id, self.job_id = shipper, alloc_id, job_id
        self.deadline = deadline  # max_hours that only the archivist enforces
        self.peak_memory_bytes: int | None = None
        self.cpu_seconds: float | None = None
        self._sampled_at: float | None = None
        self.stop = threading.Event()
        self._logged_error: str | None = None

    def start(self, archivist: Archivist, nomad: NomadClient) -> None:
        self.shipper.follow()
        thread = threading.Thread(target=self._tick, args=(archivist, nomad), daemon=True, name="archivist-ship")
        thread.start()

    def _tick(self, archivist: Archivist, nomad: NomadClient) -> None:
        while not self.stop.wait(FLUSH_S):
            self.shipper.flush()
            if self.shipper.conflict:
                return  # the next visit lets the task go
            error = self.shipper.error
            if error is not None and str(error) != self._logged_error:
                self._logged_error = str(error)
                archivist.say(f"task {self.shipper.task_id}: {error}")
                _note_error(archivist, self.shipper, str(error))
            self.sample(nomad)
            if self.deadline and datetime.now(UTC) > self.deadline + timedelta(seconds=DEADLINE_GRACE_S):
                self.deadline = None  # once: the visit stops it, and its end is seen as any other
                archivist.visit(self.shipper.namespace, self.job_id)

    def sample(self, nomad: NomadClient) -> None:
        """Peak memory and CPU time so far, from the client's allocation stats
        (client/structs/structs.go ResourceUsage: MemoryStats MaxUsage is the cgroup's peak where
        the driver measures it, RSS otherwise; CpuStats Percent is of one core over the last
        interval, so CPU time is its sum over the samples: an estimate, as fine as FLUSH_S)."""
        try:
            stats = nomad.allocations.stats(self.alloc_id)
        except NomadError:
            return  # ended, or the client cannot be asked now: the last sample stands
        now = time.monotonic()
        usage = stats.get("ResourceUsage") or {}
        memory = usage.get("MemoryStats") or {}
        peak = max(int(memory.get("MaxUsage") or 0), int(memory.get("RSS") or 0), int(memory.get("Usage") or 0))
        if peak and (self.peak_memory_bytes is None or peak > self.peak_memory_bytes):
            self.peak_memory_bytes = peak
        percent = (usage.get("CpuStats") or {}).get("Percent")
        if isinstance(percent, (int, float)) and self._sampled_at is not None:
            self.cpu_seconds = (self.cpu_seconds or 0.0) + percent / 100 * (now - self._sampled_at)
        self._sampled_at = now


def _unenforced_deadline(job: dict, record: TaskRecord) -> datetime | None:
    """The task's max_hours deadline when its server does not enforce it: the stored job has no
    MaxRunDuration although the task asked for one (a server before 2.0.3 dropped the field)."""
    group = (job.get("TaskGroups") or [{}])[0]
    if group.get("MaxRunDuration") or not record.max_hours:
        return None
    if record.deadline_at:
        return parse_iso(record.deadline_at)
    return parse_iso(record.created_at) + timedelta(hours=record.max_hours)


def _ended_before(record: TaskRecord, seconds: float) -> bool:
    ended = parse_iso(record.finished_at) if record.finished_at else None
    return ended is not None and datetime.now(UTC) - ended > timedelta(seconds=seconds)


def _note_error(archivist: Archivist, shipper: LogShipper, error: str) -> None:
    record = archivist.trail.read(shipper.task_id, shipper.namespace)
    if record is not None and record.logs_error != error:
        archivist.trail.update(replace(record, logs_error=error))


def _with_usage(record: TaskRecord, watch: _Watch) -> TaskRecord:
    return replace(record, peak_memory_bytes=watch.peak_memory_bytes, cpu_seconds=watch.cpu_seconds)


def _shipped(record: TaskRecord, shipped: Shipped) -> TaskRecord:
    return replace(
        record,
        logs_url=shipped.url,
        logs_sha256=shipped.sha256,
        logs_bytes=shipped.total_bytes,
        logs_lost_bytes=shipped.lost_bytes,
        tail=shipped.tail or None,
        logs_error=None if shipped.complete else f"incomplete: see {shipped.url}manifest.json",
    )


def _jobs_of(message: dict, prefix: str) -> set[tuple[str, str]]:
    """The tapit jobs an event stream message concerns, with their namespaces."""
    jobs = set()
    for event in message.get("Events") or ():
        job_id = status.event_job_id(event)
        if job_id.startswith(prefix):
            jobs.add((event.get("Namespace") or "default", job_id))
    return jobs


def record_from_job(job: dict) -> TaskRecord:
    """A record for a task that the trail does not have yet (started by an older tapit, or its
    creator could not write the trail), from what its job says."""
    meta = job.get("Meta") or {}
    group = (job.get("TaskGroups") or [{}])[0]
    task = (group.get("Tasks") or [{}])[0]
    resources = task.get("Resources") or {}
    max_run = group.get("MaxRunDuration")
    max_hours = max_run / jobspec.NANOS_PER_SECOND / 3600 if max_run else _number(meta.get(jobspec.META_MAX_HOURS))
    return TaskRecord(
        id=meta[jobspec.META_TASK_ID],
        command=meta.get(jobspec.META_COMMAND, ""),
        status="pending",
        image=(task.get("Config") or {}).get("image"),
        docker_tag=None,
        memory_gb=(resources.get("MemoryMB") or 0) / 1024,
        cpu=0.0,
        max_hours=max_hours,
        ephemeral_storage_gb=((group.get("EphemeralDisk") or {}).get("SizeMB") or 0) / 1024,
        initiated_by=meta.get(jobspec.META_INITIATED_BY, ""),
        created_at=meta.get(jobspec.META_CREATED_AT, ""),
        nomad_job_id=job["ID"],
        nomad_namespace=job.get("Namespace") or "default",
        kind=meta.get(jobspec.META_KIND, "task"),
    )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None  # a hand-edited job: no deadline to enforce
