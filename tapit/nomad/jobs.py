"""Jobs: register, read, list and deregister them, and their allocations and evaluations
(api/jobs.go, command/agent/job_endpoint.go)."""

from __future__ import annotations

import builtins
from typing import overload

import nomad.api

from tapit.nomad.errors import NomadNotFound
from tapit.nomad.transport import Indexed, Transport, path_id

# nomad/structs/job.go RegisterEnforceIndexErrPrefix, and EnforceIndex's text for index 0.
ENFORCE_INDEX_REFUSED = "Enforcing job modify index"
JOB_ALREADY_EXISTS = f"{ENFORCE_INDEX_REFUSED} 0: job already exists"


class Jobs:
    def __init__(self, transport: Transport):
        self._t = transport
        self._jobs = transport.python_nomad(nomad.api.Jobs)
        self._job = transport.python_nomad(nomad.api.Job)

    def register(self, job: dict, enforce_index: int | None = None) -> dict:
        """POST /v1/jobs {"Job": job}; the JobRegisterResponse (EvalID, JobModifyIndex, Warnings...).

        With `enforce_index`, only over that JobModifyIndex, 0 meaning only if there is no such
        job (nomad/job_endpoint.go Register, structs.Job.EnforceIndex): a refusal is a 500 whose
        text starts with ENFORCE_INDEX_REFUSED."""
        body: dict = {"Job": job}
        if enforce_index is not None:
            body.update(EnforceIndex=True, JobModifyIndex=enforce_index)
        return self._t.rest(lambda: self._jobs.register_job(body), self._t.needs("submit-job"))

    def info(self, job_id: str) -> dict | None:
        """The job, or None when Nomad has none by that ID (purged or garbage-collected)."""
        try:
            return self._t.rest(lambda: self._job.get_job(path_id(job_id)), self._t.needs("read-job"), lookup=True)
        except NomadNotFound:
            return None

    def list(self, prefix: str, namespace: str | None = None) -> builtins.list[dict]:
        """JobListStubs with Meta; namespace "*" lists every namespace the token can read."""
        ns = namespace or self._t.settings.namespace
        return self._t.rest(
            lambda: self._jobs.get_jobs(prefix=prefix or None, namespace=ns, meta=True),
            self._t.needs("list-jobs", ns),
        )

    @overload
    def allocations(self, job_id: str) -> builtins.list[dict]: ...
    @overload
    def allocations(self, job_id: str, *, index: int, wait: float | None = None) -> Indexed[builtins.list[dict]]: ...
    def allocations(self, job_id: str, *, index: int | None = None, wait: float | None = None):
        """The job's allocation stubs; given `index`, a blocking query that answers once they
        change past it, or after `wait` seconds, with the index to wait on next."""
        if index is not None:
            return self._t.blocking(f"/v1/job/{path_id(job_id)}/allocations", index, wait, self._t.needs("read-job"))
        return self._t.rest(lambda: self._job.get_allocations(path_id(job_id)), self._t.needs("read-job"), lookup=True)

    def evaluations(self, job_id: str) -> builtins.list[dict]:
        return self._t.rest(lambda: self._job.get_evaluations(path_id(job_id)), self._t.needs("read-job"), lookup=True)

    def deregister(self, job_id: str, purge: bool = False) -> dict:
        """DELETE /v1/job/:id; an unknown job is not an error (EvalID "")."""
        needs = '"submit-job" or "purge-job"' if purge else '"submit-job" or "deregister-job"'
        return self._t.rest(
            # Like Go, send purge only when set (python-nomad would send "False").
            lambda: self._job.deregister_job(path_id(job_id), purge=True if purge else None),
            f'capability {needs} in namespace "{self._t.settings.namespace}"',
        )
