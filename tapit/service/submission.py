"""Submitting a task's job so that a retry can never start it twice.

The record is in the trail before the job exists (status "submitting"). The job is registered
with EnforceIndex and JobModifyIndex 0, which Nomad applies only if there is no job by that ID
(nomad/job_endpoint.go Register, structs.Job.EnforceIndex), so sending it again is harmless. A
submission whose answer never came (a timeout, a dropped connection) is resolved by looking:
the job exists, it was submitted; it does not, it is sent again. Nothing is guessed: when even
the look gets no answer, the record stays "submitting" with why, and the next read looks again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapit.errors import nomad_errors
from tapit.model import TaskRecord
from tapit.nomad.errors import CLOSED_MID_ANSWER, CLOSED_WITHOUT_ANSWER, NomadError, NomadRefused, NomadUnreachable

if TYPE_CHECKING:
    from tapit.service.tasks import TaskService

# Sending it, then (after a lost answer) looking and sending again once.
ATTEMPTS = 3
# The failures after which the request may have reached Nomad (tapit/nomad/errors.py failure_reason);
# any other (refused, unresolvable, TLS) means it never left this machine.
MAYBE_ARRIVED = ("timed out", CLOSED_WITHOUT_ANSWER, CLOSED_MID_ANSWER)


def submit(service: TaskService, record: TaskRecord, job: dict) -> TaskRecord:
    """Register `record`'s job at most once; the record, "pending" once Nomad has the job."""
    jobs = service._nomad(record).jobs
    lost: NomadError | None = None  # the last attempt whose answer never came
    for attempt in range(ATTEMPTS):
        try:
            jobs.register(job, enforce_index=0)
            break
        except NomadRefused as exc:
            from tapit.nomad.jobs import JOB_ALREADY_EXISTS  # loaded with the client already

            if attempt > 0 and JOB_ALREADY_EXISTS in exc.reason:
                break  # the first attempt did reach Nomad
            _failed(service, record, exc)
        except NomadUnreachable as exc:
            if exc.reason not in MAYBE_ARRIVED:
                _failed(service, record, exc)
            lost = exc
            try:
                if jobs.info(job["ID"]) is not None:
                    break
            except NomadError as look:
                _unconfirmed(service, record, exc, look)
        except NomadError as exc:
            _failed(service, record, exc)
    else:
        assert lost is not None  # an attempt that neither ended the loop nor raised lost its answer
        _unconfirmed(service, record, lost, None)
    return service._keep(record, {"status": "pending", "reason": None})


def _failed(service: TaskService, record: TaskRecord, exc: NomadError) -> None:
    """Nomad certainly has no job: the task stays in the trail with the error."""
    service._keep(record, {"status": "failed", "error": str(exc), "reason": "submission failed"})
    with nomad_errors():
        raise exc


def _unconfirmed(service: TaskService, record: TaskRecord, exc: NomadError, look: NomadError | None) -> None:
    why = f"{exc}; looking for the job then: {look}" if look else str(exc)
    service._keep(record, {"reason": f"submission not confirmed ({why}); tapit looks again when the task is shown"})
    with nomad_errors():
        raise exc
