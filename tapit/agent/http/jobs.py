"""Jobs: /v1/jobs and /v1/job/<id>... (command/agent/job_endpoint.go JobsRequest and
JobSpecificRequest).

JobSpecificRequest takes the job ID as whatever precedes the path's suffix, so an ID may hold
slashes: the suffixed routes are listed first, their `{job_id:.*}` taking every character up to
the suffix, and a path with none of the suffixes is the job itself (jobCRUD)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..structs import gojson
from .encode import encode
from .errors import HTTPError
from .query import (
    BLOCKING,
    apply_filter,
    blocking,
    in_namespace,
    namespace,
    parse_bool_param,
    query_bool,
    query_bool_lax,
)
from .routing import DELETE, GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

# A body this large is decoded off the event loop, which keeps answering other requests meanwhile.
DECODE_IN_THREAD_BYTES = 256 * 1024


async def list_jobs(agent: Agent, request: web.Request) -> web.Response:
    store = agent.store
    headers = await blocking(store, request, ("jobs", "job_summary"))
    with_meta = parse_bool_param(request, "meta", False)
    prefix = request.query.get("prefix", "")
    jobs = [j for j in store.jobs() if in_namespace(request, j) and j["ID"].startswith(prefix)]
    jobs = apply_filter(request, sorted(jobs, key=lambda j: (j["Namespace"], j["ID"])))
    stubs = [structs.job_stub(j, store.summary(store.bucket(j["Namespace"], j["ID"])), with_meta) for j in jobs]
    return encode(request, stubs, headers=headers)


async def register_job(agent: Agent, request: web.Request) -> web.Response:
    return await _update(agent, request, None)


async def update_job(agent: Agent, request: web.Request) -> web.Response:
    return await _update(agent, request, request.match_info["job_id"])


async def _update(agent: Agent, request: web.Request, path_id: str | None) -> web.Response:
    """jobUpdate: decodeBody's error and the handler's own checks are CodedError(400); what the
    server's Job.Register refuses reaches http.go wrap as an uncoded error, so a 500."""
    if not request.body_exists:  # http.go decodeBody: req.Body == http.NoBody
        raise HTTPError(400, "Request body is empty")
    raw = await request.read()
    try:
        if len(raw) > DECODE_IN_THREAD_BYTES:
            body = await asyncio.to_thread(gojson.decode, raw, structs.REGISTER_REQUEST)
        else:
            body = gojson.decode(raw, structs.REGISTER_REQUEST)
    except gojson.JSONError as exc:
        raise HTTPError(400, str(exc)) from exc
    job = body.get("Job")
    if job is None:
        raise HTTPError(400, "Job must be specified")
    if job.get("ID") is None:
        raise HTTPError(400, "Job ID hasn't been provided")
    if path_id is not None and job["ID"] != path_id:
        raise HTTPError(400, "Job ID does not match name")
    priority = body.get("EvalPriority") or 0
    if priority and not 1 <= priority <= 100:
        raise HTTPError(400, "Eval priority must be between 1 and 100 inclusively")
    job["Namespace"] = request.query.get("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
    region = request.query.get("region") or body.get("Region") or job.get("Region") or "global"
    job["Region"] = region
    job = structs.canonicalize_job(job)
    try:
        structs.validate_job(job)
    except structs.ValidationError as exc:
        raise HTTPError(500, str(exc)) from exc
    existing = agent.store.job(job["Namespace"], job["ID"])
    if body.get("EnforceIndex"):
        want = body.get("JobModifyIndex") or 0
        if want == 0 and existing:
            raise HTTPError(500, "Enforcing job modify index 0: job already exists")
        if want and not existing:
            raise HTTPError(500, f"Enforcing job modify index {want}: job does not exist")
        if want and existing and existing["JobModifyIndex"] != want:
            raise HTTPError(
                500,
                f"Enforcing job modify index {want}: job exists with conflicting job "
                f"modify index: {existing['JobModifyIndex']}",
            )
    reply, index = agent.scheduler.register(job)
    reply.update(Index=index, LastContact=0, KnownLeader=False, NextToken="")
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def read_job(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("jobs",))
    job = agent.store.job(namespace(request), request.match_info["job_id"])
    if job is None:
        raise HTTPError(404, "job not found")
    return encode(request, job, headers=headers)


async def delete_job(agent: Agent, request: web.Request) -> web.Response:
    # jobDelete parses these itself, with the same wording as parseBool, uncoded (500); its
    # no_shutdown_delay message really has the stray q of its %qq verb.
    purge = parse_bool_param(request, "purge", False)
    parse_bool_param(request, "global", False)
    value = request.query.get("no_shutdown_delay", "")
    query_bool(
        request,
        "no_shutdown_delay",
        False,
        code=500,
        prefix=f'Failed to parse value of "no_shutdown_delay"q ({value}) as a bool: ',
    )
    reply, index = agent.scheduler.deregister(namespace(request), request.match_info["job_id"], purge)
    reply.update(Index=index, LastContact=0, KnownLeader=False, NextToken="")
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def job_allocations(agent: Agent, request: web.Request) -> web.Response:
    store = agent.store
    headers = await blocking(store, request, ("allocs",))
    bucket = store.bucket(namespace(request), request.match_info["job_id"])
    allocs = []
    if bucket:
        show_all = query_bool_lax(request, "all")
        allocs = list(bucket.allocs.values()) if show_all or bucket.job is None else store.current_allocs(bucket)
    allocs.sort(key=lambda a: a["CreateIndex"], reverse=True)
    return encode(request, [structs.alloc_stub(a) for a in allocs], headers=headers)


async def job_evaluations(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("evals",))
    bucket = agent.store.bucket(namespace(request), request.match_info["job_id"])
    evals = sorted(bucket.evals.values(), key=lambda e: e["CreateIndex"], reverse=True) if bucket else []
    return encode(request, [structs.omit_empty(e) for e in evals], headers=headers)


async def job_summary(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("job_summary",))
    bucket = agent.store.bucket(namespace(request), request.match_info["job_id"])
    if bucket is None or bucket.job is None:
        raise HTTPError(404, "job not found")
    return encode(request, agent.store.summary(bucket), headers=headers)


JOB = "/v1/job/{job_id:.+}"
ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/jobs",
        list_jobs,
        "job_endpoint.go jobListRequest",
        (*BLOCKING, "namespace", "prefix", "filter", "meta"),
    ),
    Endpoint(WRITE, "/v1/jobs", register_job, "job_endpoint.go jobUpdate", ("namespace", "region")),
    Endpoint(
        GET,
        "/v1/job/{job_id:.*}/allocations",
        job_allocations,
        "job_endpoint.go jobAllocations",
        (*BLOCKING, "namespace", "all"),
    ),
    Endpoint(
        GET,
        "/v1/job/{job_id:.*}/evaluations",
        job_evaluations,
        "job_endpoint.go jobEvaluations",
        (*BLOCKING, "namespace"),
    ),
    Endpoint(
        GET, "/v1/job/{job_id:.*}/summary", job_summary, "job_endpoint.go jobSummaryRequest", (*BLOCKING, "namespace")
    ),
    Endpoint(GET, JOB, read_job, "job_endpoint.go jobQuery", (*BLOCKING, "namespace")),
    Endpoint(WRITE, JOB, update_job, "job_endpoint.go jobUpdate", ("namespace", "region")),
    Endpoint(
        DELETE, JOB, delete_job, "job_endpoint.go jobDelete", ("namespace", "purge", "global", "no_shutdown_delay")
    ),
)
