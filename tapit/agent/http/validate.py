"""/v1/validate/job (command/agent/job_endpoint.go ValidateJobRequest, then nomad/job_endpoint.go
Job.Validate): the job canonicalized and put through the validators the register path uses, its
errors in the reply rather than as an error status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..structs import namespace as namespace_structs
from .auth import require
from .encode import encode
from .errors import HTTPError
from .jobs import decode_body
from .routing import WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def validate_job(agent: Agent, request: web.Request) -> web.Response:
    body = await decode_body(request, structs.VALIDATE_REQUEST)
    job = body.get("Job")
    if job is None:
        raise HTTPError(400, "Job must be specified")
    # ApiJobToStructJob canonicalizes the job; the request's namespace is the job's.
    job = structs.canonicalize_job(job)
    require(request, job["Namespace"], "read-job")  # Job.Validate: read-job in the job's namespace
    reply: dict[str, object] = {"DriverConfigValidated": True, "ValidationErrors": None, "Error": "", "Warnings": ""}
    try:
        structs.validate_job(job, namespace_structs.job_errors(job, agent.store.namespaces.get(job["Namespace"])))
    except structs.ValidationError as exc:
        reply.update(ValidationErrors=exc.errors, Error=str(exc))
    return encode(request, reply)


ENDPOINTS = (Endpoint(WRITE, "/v1/validate/job", validate_job, "job_endpoint.go ValidateJobRequest"),)
