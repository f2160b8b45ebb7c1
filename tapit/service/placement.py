"""Waiting for Nomad to place a task: placed, queued behind a blocked evaluation, or never.

When no node has room, Nomad's scheduler keeps a blocked evaluation and places the task once
room appears (nomad/blocked_evals.go): a node frees capacity, or joins, as an autoscaler's do.
So a failed placement is "queued", not failed, and the wait goes on. Only where room can never
appear does tapit give up at once: on the embedded agent's one node, when it lacks the task's
driver, or has less than the task asks even with nothing else running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tapit.errors import nomad_errors
from tapit.model import TaskRecord
from tapit.translate.status import QUEUED_PREFIX, fits_empty_node, latest_allocation, never_placed, placement_failure

if TYPE_CHECKING:
    from tapit.service.tasks import TaskService

# A failed placement changes only the evaluations, never the allocations a wait blocks on, so
# the evaluations are read between short waits.
POLL_S = 1.0


def await_placement(
    service: TaskService,
    record: TaskRecord,
    cancel: threading.Event,
    on_queued: Callable[[str], None] = lambda message: None,
) -> dict | None:
    """The task's allocation once Nomad places it. None when it never will (the record then says
    why: failed and its job stopped, or lost when its job is gone) or when `cancel` is set.
    Each new reason it is queued for goes to `on_queued` as "queued: <Nomad's reason>" and into
    the record's reason."""
    nomad = service._nomad(record)
    index = 0
    # Announced per wait, not judged by the record: reading the record may already have put
    # the reason there (translate/status.py), and the waiting user must still be told.
    announced = None
    while not cancel.is_set():
        with nomad_errors():
            allocs, index = nomad.jobs.allocations(record.nomad_job_id, index=index, wait=POLL_S)
            if allocs:
                return latest_allocation(allocs)
            evals = nomad.jobs.evaluations(record.nomad_job_id)
            if not evals and nomad.jobs.info(record.nomad_job_id) is None:
                # Purged or collected: Nomad answers an unknown job's allocations with 200 [],
                # so waiting on would never end (nomad/job_endpoint.go Allocations).
                service.refresh(record)
                return None
        reason = placement_failure(evals)
        if reason is None:
            continue
        if _never_placed(service, record, evals):
            service._fail_placement(record, reason)
            return None
        queued = QUEUED_PREFIX + reason
        if record.reason != queued:
            service._keep(record, {"reason": queued})
        if announced != queued:
            announced = queued
            on_queued(queued)
    return None


def _never_placed(service: TaskService, record: TaskRecord, evals: list[dict]) -> bool:
    """Whether room for the task can never appear (see the module's docstring)."""
    if not service.connection.embedded:
        return False
    if never_placed(evals) is not None:
        return True
    nomad = service._nomad(record)
    with nomad_errors():
        job = nomad.jobs.info(record.nomad_job_id)
        nodes = [nomad.nodes.info(stub["ID"]) for stub in nomad.nodes.list()]
    return job is not None and not any(fits_empty_node(job, node) for node in nodes)
