"""A task's output: waiting for it while it runs, showing it, and archiving it when it ends.

Each log is copied out of Nomad by a LogCopy (tapit/service/logcopy.py), byte-exact across
rotation, into the sink and the history's archive at once, so a followed task's logs are never
downloaded twice and outlive its Nomad job, even one purged the moment its task ended, before
an archivist could ship it. The functions take the TaskService they serve
(tapit/service/tasks.py), which exposes them as `wait` and `logs`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from tapit.errors import LogsGone, UsageError, nomad_errors
from tapit.model import TaskRecord, parse_iso
from tapit.nomad.errors import NomadNotFound
from tapit.paths import agent_dir
from tapit.service import log_arrival
from tapit.service.history import HistoryUnwritable
from tapit.service.placement import await_placement
from tapit.trail.logformat import store_of
from tapit.trail.logstore import LogStore, LogStoreError
from tapit.translate import jobspec

if TYPE_CHECKING:
    from tapit.service.logcopy import LogArchive, LogCopy
    from tapit.service.record_keeper import RecordKeeper
    from tapit.service.tasks import TaskService

LOG_TYPES = ("stdout", "stderr")
OutputSink = Callable[[str, bytes], None]
# How long Nomad may take to act on max_run_duration itself before tapit steps in.
DEADLINE_GRACE_S = 5.0
# Short enough that a cancelled wait (the TUI moving to another task) lets go of its connection soon.
BLOCKING_WAIT_S = 10.0
# How long `show logs` waits for an archivist to ship an ended task whose logs Nomad no longer has
# (it ships a task within moments of its end), and how often it looks.
SHIPMENT_WAIT_S = 15.0
SHIPMENT_POLL_S = 0.2


def wait(
    service: TaskService,
    task_id: str,
    sink: OutputSink,
    cancel: threading.Event | None = None,
    on_queued: Callable[[str], None] = lambda message: None,
    blocking_wait_s: float = BLOCKING_WAIT_S,
) -> TaskRecord:
    """Stream the task's output from its start until it ends; return the final record.

    While Nomad has no room for it, the task is queued and the wait goes on; `on_queued` hears
    why (tapit/service/placement.py).

    What is streamed is archived as it arrives, so the logs are never downloaded twice.
    Setting `cancel` (the TUI does, when the user looks at another task) stops the delivery
    at once and returns within one blocking wait (`blocking_wait_s`, shorter for a caller that
    must be let go sooner). A sink that fails (a closed pipe) gets
    nothing more; its error is raised once the task has ended and its logs are archived.
    """
    cancel = cancel or threading.Event()
    record = service.get(task_id)
    if record.terminal and record.logs_archived:
        _replay_archive(service, record, sink)
        return record
    if record.terminal and record.logs_url:
        _replay_store(record, record.logs_url, sink)
        return record
    alloc = await_placement(service, record, cancel, on_queued)
    if alloc is None:
        return service.refresh(record)
    alloc, index = wait_while(service, alloc, {"pending"}, record, cancel, wait_s=blocking_wait_s)
    if cancel.is_set():
        return record
    # Only a followed task's frames arrive in the order they were written: the arrival is kept then.
    following = alloc["ClientStatus"] == "running"
    try:
        copies = _log_copies(service, record, alloc, sink, cancel, keep_arrival=following)
    except HistoryUnwritable as exc:
        service.unrecorded = exc  # follow it all the same; it is archived once the history can be written
        copies = _log_copies(service, record, alloc, sink, cancel, archive=False)
    try:
        with nomad_errors():
            if following:
                for copy in copies:
                    copy.follow()
                wait_while(service, alloc, {"running"}, record, cancel, index, blocking_wait_s)
                if cancel.is_set():
                    return record
                for copy in copies:
                    copy.finish()
            else:
                for copy in copies:
                    copy.read_all()
        if cancel.is_set():
            return record  # what was copied is incomplete: never archived
        service._keep(record, _keep_archive(service, copies))
    finally:
        for copy in copies:
            copy.close()
    record = service.refresh(record)
    if error := next((c.sink_error for c in copies if c.sink_error), None):
        raise error
    return record


def wait_while(
    service: TaskService,
    alloc: dict,
    statuses: set[str],
    record: TaskRecord,
    cancel: threading.Event,
    index: int = 0,
    wait_s: float = BLOCKING_WAIT_S,
) -> tuple[dict, int]:
    """Block on the allocation until its ClientStatus leaves `statuses`, enforcing tapit's deadline."""
    nomad = service._nomad(record)
    while alloc.get("ClientStatus") in statuses and not cancel.is_set():
        wait = wait_s
        if record.deadline_at and not record.stop_requested_by:
            remaining = (parse_iso(record.deadline_at) - datetime.now(timezone.utc)).total_seconds()
            if remaining + DEADLINE_GRACE_S <= 0:
                service._stop_job(record)
                service._apply(record, {"stop_requested_by": "deadline"})
            wait = max(0.5, min(wait, remaining + DEADLINE_GRACE_S))
        with nomad_errors():
            alloc, index = nomad.allocations.info(alloc["ID"], index=index, wait=wait)
    return alloc, index


def _replay_archive(service: TaskService, record: TaskRecord, sink: OutputSink) -> None:
    """Both archived streams, in the order they arrived when the task was followed."""
    log_arrival.replay(service.history, record.id, LOG_TYPES, sink)


def _replay_store(record: TaskRecord, logs_url: str, sink: OutputSink) -> None:
    """The logs the archivist shipped to the log store, both streams in the order they arrived.
    A shipment that could not reach the end of the logs (its manifest says why, logship.py
    complete) is said so in the record's logs_error, which the CLI prints."""
    store = _stored(record, logs_url)
    for stream, data in store.records(record.nomad_namespace, record.id):
        sink(stream, bytes(data))
    manifest = store.manifest(record.nomad_namespace, record.id) or {}
    if manifest.get("complete") is False:
        record.logs_error = f"incomplete: {manifest.get('lost_why') or 'the archivist did not read them to their end'}"


def remove_stored(service: TaskService, record: TaskRecord) -> None:
    """Remove what an archivist shipped of the task to the log store: where its record says, else
    where this configuration's archivist ships (it may not have said so in the record yet)."""
    if record.logs_url:
        store = _stored(record, record.logs_url)
    else:
        try:
            store = LogStore(log_store_url(service))
        except UsageError:
            return  # no store configured here, and the record names none
    store.remove_task(record.nomad_namespace, record.id)


def _stored(record: TaskRecord, logs_url: str) -> LogStore:
    """The store at the record's `logs_url` (passed apart: only a record that has one is read)."""
    try:
        return LogStore(store_of(logs_url, record.nomad_namespace, record.id))
    except ValueError as exc:
        raise LogStoreError(logs_url, "reading the task's record", exc) from None


def show(service: TaskService, task_id: str, sink: OutputSink, follow: bool = False) -> TaskRecord:
    """Print the task's output; with follow, keep going until it ends (same as waiting on it).

    The record's logs_lost_bytes says what Nomad's rotation removed before it could be read."""
    if follow:
        return wait(service, task_id, sink)
    record = service.get(task_id)
    if not (record.terminal and record.logs_archived):
        record = service.show(task_id)  # an ended task's archived output is all there is to print
    if record.logs_archived:
        _replay_archive(service, record, sink)
    elif record.logs_url:
        _replay_store(record, record.logs_url, sink)
    elif record.nomad_alloc_id or record.status == "unknown":
        _show_from_nomad(service, record, sink)
    return record


def _show_from_nomad(service: TaskService, record: TaskRecord, sink: OutputSink) -> None:
    """The logs as Nomad has them now; should it no longer have them (the job purged and
    collected), the copy an archivist ships, or one line saying they are gone: never nothing."""
    printed = threading.Event()

    def printing(stream: str, data: bytes) -> None:
        printed.set()
        sink(stream, data)

    try:
        if not record.nomad_alloc_id:  # the job went before anyone saw its allocation
            raise LogsGone("Nomad no longer has its job")
        if lost := _read_from_nomad(service, record, printing):
            record.logs_lost_bytes = lost  # what this read found missing; the archive records its own
    except LogsGone as gone:
        if printed.is_set():
            raise LogsGone(f"task {record.id}: {gone}, partway through: what was printed is incomplete") from None
        logs_url = _await_shipment(service, record)
        if logs_url is None:
            raise LogsGone(f"task {record.id}: {gone}, and no copy of its output was kept") from None
        record.logs_url = logs_url
        _replay_store(record, logs_url, sink)


def _read_from_nomad(service: TaskService, record: TaskRecord, sink: OutputSink) -> dict[str, int]:
    """Both logs as Nomad has them now, stream by stream; the bytes its rotation removed."""
    assert record.nomad_alloc_id
    with nomad_errors():
        try:
            alloc = service._nomad(record).allocations.info(record.nomad_alloc_id)
        except NomadNotFound as exc:  # collected by the server's GC with its job
            raise LogsGone(f"Nomad no longer has its allocation ({exc.reason})") from None
        copies = _log_copies(service, record, alloc, sink, threading.Event(), archive=False)
        for copy in copies:
            copy.read_all()
    return {c.log_type: c.lost_bytes for c in copies if c.lost_bytes}


def _await_shipment(service: TaskService, record: TaskRecord) -> str | None:
    """Where the archivist has shipped the task's logs, waiting SHIPMENT_WAIT_S for it to: Nomad
    may collect a job (a purge, on the embedded agent at once) moments after its task ended,
    before the archivist has written its manifest, the last object of a shipment
    (tapit/service/logship.py). None where no archivist ships, or its store cannot be read here."""
    if not service._archivist_ships():
        return None
    try:
        store = LogStore(log_store_url(service))
    except UsageError:
        return None
    deadline = time.monotonic() + SHIPMENT_WAIT_S
    try:
        while store.manifest(record.nomad_namespace, record.id) is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(SHIPMENT_POLL_S)
    except LogStoreError:
        return None
    return store.where(record.nomad_namespace, record.id)


def archive(service: RecordKeeper, record: TaskRecord, alloc_id: str) -> dict:
    """Copy the ended task's logs from Nomad into the history, streamed to disk; the changes
    that record it."""
    with nomad_errors():
        alloc = service._nomad(record).allocations.info(alloc_id)
    copies = _log_copies(service, record, alloc, sink=None, cancel=threading.Event())
    try:
        with nomad_errors():
            for copy in copies:
                copy.read_all()
        return _keep_archive(service, copies)
    except LogsGone:
        return {}  # nothing to archive: `show logs` looks for a shipped copy, or says they are gone
    finally:
        for copy in copies:
            copy.close()


def _log_copies(
    service: RecordKeeper,
    record: TaskRecord,
    alloc: dict,
    sink: OutputSink | None,
    cancel: threading.Event,
    archive: bool = True,
    keep_arrival: bool = False,
) -> list[LogCopy]:
    from tapit.service.logcopy import LogCopy  # the Nomad client's: not for an archived log

    nomad = service._nomad(record)
    file_size = jobspec.log_file_size(alloc)
    copies = []
    arrival = None
    try:
        if archive and keep_arrival:
            arrival = log_arrival.Arrival(service.history.archive_writer(record.id, log_arrival.ARRIVAL), LOG_TYPES)
        for log_type in LOG_TYPES:
            writer = service.history.archive_writer(record.id, log_type) if archive else None
            archive_to: LogArchive | None = writer
            if writer is not None and arrival is not None:
                archive_to = arrival.archive(writer, log_type)
            deliver = (lambda data, log_type=log_type: sink(log_type, data)) if sink else None
            copies.append(
                LogCopy(nomad, alloc["ID"], jobspec.TASK_NAME, log_type, file_size, deliver, archive_to, cancel)
            )
    except BaseException:
        for copy in copies:
            copy.close()
        if arrival is not None:
            arrival.discard()
        raise
    return copies


def _keep_archive(service: RecordKeeper, copies: list[LogCopy]) -> dict:
    """Put the copies' archives in place; the record's changes that say so, and what was lost."""
    lost = {copy.log_type: copy.lost_bytes for copy in copies if copy.lost_bytes}
    changes: dict = {"logs_lost_bytes": lost} if lost else {}
    if all(copy.archive is not None for copy in copies):
        try:
            for copy in copies:
                copy.commit()
            changes["logs_archived"] = True
        except HistoryUnwritable as exc:
            service.unrecorded = exc
    return changes


def log_store_url(service: TaskService) -> str:
    """The store the archivist ships to: log_store, else the embedded agent's under its home."""
    if service.config.log_store:
        return service.config.log_store
    if service.connection.embedded:
        return embedded_log_store()
    raise UsageError(
        'log_store is not set: the archivist ships every task\'s logs there; set log_store = "s3://bucket/prefix" '
        "(or gs://, az://, file:///shared/path) in tapit.toml"
    )


def embedded_log_store() -> str:
    return (agent_dir() / "logstore").as_uri()
