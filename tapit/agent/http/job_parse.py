"""/v1/jobs/parse (command/agent/job_endpoint.go JobsParseRequest): an HCL2 jobspec read into the
api.Job it describes (jobspec2.ParseWithConfig, here structs/jobspec_hcl.py), canonicalized when
the request asks.  Nothing is registered."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..structs import gojson, jobspec_hcl
from .auth import require
from .decode import decode_body
from .encode import encode
from .errors import HTTPError
from .routing import WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

# api/jobs.go JobsParseRequest
PARSE_REQUEST = gojson.Struct(
    "api.JobsParseRequest", {"JobHCL": gojson.STRING, "Variables": gojson.STRING, "Canonicalize": gojson.BOOL}
)


async def parse_job(agent: Agent, request: web.Request) -> web.Response:
    # parseNamespace: the query's namespace, else default; parse-job or submit-job there.
    require(request, request.query.get("namespace") or "default", "parse-job", "submit-job")
    body = await decode_body(request, PARSE_REQUEST)
    if not body.get("JobHCL"):
        raise HTTPError(400, "Job spec is empty")
    try:
        job = await asyncio.to_thread(jobspec_hcl.parse, body["JobHCL"], body.get("Variables") or "")
    except jobspec_hcl.ParseError as exc:
        raise HTTPError(400, f"Failed to parse job: {exc}") from exc
    if body.get("Canonicalize"):
        # api.Job.Canonicalize's defaults, as a registered JSON job gets them (structs/job.py
        # canonicalize_job, the register path's ApiJobToStructJob).
        job = structs.canonicalize_job(job)
    return encode(request, job)


ENDPOINTS = (Endpoint(WRITE, "/v1/jobs/parse", parse_job, "job_endpoint.go JobsParseRequest", ("namespace",)),)
