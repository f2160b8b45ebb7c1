"""Jobs: /v1/jobs and /v1/job/<id>... (command/agent/job_endpoint.go JobsRequest and
JobSpecificRequest, then the RPCs of nomad/job_endpoint.go).

JobSpecificRequest takes the job ID as whatever precedes the path's suffix, so an ID may hold
slashes: the suffixed routes come first, in the order of its switch, each `{job_id:.*}` taking
every character up to the suffix, and a path with none of its suffixes is the job itself
(jobCRUD).  A suffix of that switch the agent does not serve is never read as part of a job ID."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import cramjam
from aiohttp import web

from .. import structs
from ..job_plan import plan
from ..node import knows_max_run_duration
from ..structs import gojson
from ..structs import namespace as namespace_structs
from ..structs.job import ENFORCE_INDEX_PREFIX
from ..structs.job_diff import annotate, job_diff
from .auth import request_acl, require
from .decode import decode_body, write_namespace, write_request
from .encode import encode
from .errors import HTTPError
from .job_dispatch import dispatch_job
from .job_scale import job_scale, job_scale_status
from .query import (
    BLOCKING,
    QUERY_META,
    apply_filter,
    blocking,
    in_namespace,
    namespace,
    parse_bool_param,
    query_bool,
    query_bool_lax,
)
from .routing import ANY, DELETE, GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

_EVALUATE_REQUEST = write_request(
    "structs.JobEvaluateRequest",
    {"JobID": gojson.STRING, "EvalOptions": gojson.Struct("structs.EvalOptions", {"ForceReschedule": gojson.BOOL})},
)


def _job(agent: Agent, request: web.Request) -> dict | None:
    return agent.store.job(namespace(request), request.match_info["job_id"])


async def list_jobs(agent: Agent, request: web.Request) -> web.Response:
    store = agent.store
    headers = await blocking(store, request, ("jobs", "job_summary"))
    with_meta = parse_bool_param(request, "meta", False)
    prefix = request.query.get("prefix", "")
    acl = request_acl(request)  # a wildcard lists only the namespaces the token may list
    jobs = [
        j
        for j in store.jobs()
        if in_namespace(request, j)
        and j["ID"].startswith(prefix)
        and (acl is None or acl.allows(j["Namespace"], "list-jobs"))
    ]
    jobs = apply_filter(request, sorted(jobs, key=lambda j: (j["Namespace"], j["ID"])))
    stubs = [structs.job_stub(j, store.summary(store.bucket_for(j["Namespace"], j["ID"])), with_meta) for j in jobs]
    return encode(request, stubs, headers=headers)


async def register_job(agent: Agent, request: web.Request) -> web.Response:
    return await _update(agent, request, None)


async def update_job(agent: Agent, request: web.Request) -> web.Response:
    return await _update(agent, request, request.match_info["job_id"])


async def _decode_job(
    agent: Agent,
    request: web.Request,
    path_id: str | None,
    id_missing: str,
    id_mismatch: str,
    shape: gojson.Struct = structs.REGISTER_REQUEST,
) -> tuple[dict, dict]:
    """The api request's body and its job as the server's admission controllers leave it
    (apiJobAndRequestToStructs, then Canonicalize and the validators, the namespace check first),
    with the handler's own checks (CodedError(400)); what the validators refuse is uncoded (500)."""
    body = await decode_body(request, shape)
    job = body.get("Job")
    if job is None:
        raise HTTPError(400, "Job must be specified")
    if not knows_max_run_duration():
        # A server before 2.0.3 has no api.TaskGroup.MaxRunDuration, and Go's decoder drops a
        # field the struct lacks without a word (command/agent/http.go decodeBody).
        for group in job.get("TaskGroups") or ():
            group["MaxRunDuration"] = None
    if job.get("ID") is None:
        raise HTTPError(400, id_missing)
    if path_id is not None and job["ID"] != path_id:
        raise HTTPError(400, id_mismatch)
    job["Namespace"] = request.query.get("namespace") or body.get("Namespace") or job.get("Namespace") or "default"
    job["Region"] = request.query.get("region") or body.get("Region") or job.get("Region") or "global"
    job = structs.canonicalize_job(job)
    ns_errors = namespace_structs.job_errors(job, agent.store.namespaces.get(job["Namespace"]))
    try:
        structs.validate_job(job, ns_errors)
    except structs.ValidationError as exc:
        raise HTTPError(500, str(exc)) from exc
    return body, job


def _check_update(existing: dict | None, job: dict) -> None:
    """nomad/job_endpoint.go validateJobUpdate."""
    if existing is None:
        if job["Dispatched"]:
            raise HTTPError(500, "job can't be submitted with 'Dispatched' set")
        return
    if existing["Type"] != job["Type"]:
        raise HTTPError(500, f'cannot update job from type "{existing["Type"]}" to "{job["Type"]}"')
    for kind, field in (("periodic", "Periodic"), ("parameterized", "ParameterizedJob")):
        if existing[field] and not job[field]:
            raise HTTPError(500, f"cannot update {kind} job to being non-{kind}")
        if job[field] and not existing[field]:
            raise HTTPError(500, f"cannot update non-{kind} job to being {kind}")
    if existing["Dispatched"] != job["Dispatched"]:
        raise HTTPError(500, "field 'Dispatched' is read-only")


def _enforce_index(existing: dict | None, want: int) -> None:
    """structs.Job.EnforceIndex."""
    if want == 0 and existing:
        raise HTTPError(500, f"{ENFORCE_INDEX_PREFIX} 0: job already exists")
    if want and not existing:
        raise HTTPError(500, f"{ENFORCE_INDEX_PREFIX} {want}: job does not exist")
    if want and existing and existing["JobModifyIndex"] != want:
        raise HTTPError(
            500,
            f"{ENFORCE_INDEX_PREFIX} {want}: job exists with conflicting job modify index: {existing['JobModifyIndex']}",
        )


async def _update(agent: Agent, request: web.Request, path_id: str | None) -> web.Response:
    """jobUpdate, then Job.Register."""
    body, job = await _decode_job(agent, request, path_id, "Job ID hasn't been provided", "Job ID does not match name")
    require(request, job["Namespace"], "submit-job", "register-job")  # doRegister, after admission
    priority = body.get("EvalPriority") or 0
    if priority and not 1 <= priority <= 100:
        raise HTTPError(400, "Eval priority must be between 1 and 100 inclusively")
    existing = agent.store.job(job["Namespace"], job["ID"])
    if body.get("EnforceIndex"):
        _enforce_index(existing, body.get("JobModifyIndex") or 0)
    _check_update(existing, job)
    reply, index = agent.scheduler.register(job, priority)
    reply.update(Index=index, **QUERY_META)
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def read_job(agent: Agent, request: web.Request) -> web.Response:
    """jobQuery: a dispatched job's payload is stored compressed and answered decoded."""
    headers = await blocking(agent.store, request, ("jobs",))
    job = _job(agent, request)
    if job is None:
        raise HTTPError(404, "job not found")
    if job["Payload"]:
        raw = cramjam.snappy.decompress_raw(base64.b64decode(job["Payload"]))
        job = {**job, "Payload": base64.b64encode(bytes(raw)).decode()}
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
    raw_priority, priority = request.query.get("eval_priority", ""), 0
    if raw_priority:
        try:
            priority = int(raw_priority, 10)
        except ValueError as exc:  # http.go parseInt, uncoded
            raise HTTPError(
                500,
                f'Failed to parse value of "eval_priority" ({raw_priority}) as a int: '
                f'strconv.Atoi: parsing "{raw_priority}": invalid syntax',
            ) from exc
        if priority > 0 and not 1 <= priority <= 100:
            raise HTTPError(400, "Eval priority must be between 1 and 100 inclusively")
    reply, index = agent.scheduler.deregister(namespace(request), request.match_info["job_id"], purge, priority)
    reply.update(Index=index, **QUERY_META)
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def evaluate_job(agent: Agent, request: web.Request) -> web.Response:
    """jobForceEvaluate, then Job.Evaluate.  EvalOptions.ForceReschedule is decoded and, as the
    agent reschedules no failed allocation, has nothing to act on."""
    job_id = request.match_info["job_id"]
    body: dict = {}
    if request.body_exists:  # COMPAT: without a body, the job of the path is evaluated
        body = await decode_body(request, _EVALUATE_REQUEST)
        if not body.get("JobID"):
            raise HTTPError(400, "Job ID must be specified")
        if job_id and body["JobID"] != job_id:
            raise HTTPError(400, "JobID not same as job name")
    job = agent.store.job(write_namespace(request, body), body.get("JobID") or job_id)
    if job is None:
        raise HTTPError(500, "job not found")
    if job["Periodic"]:
        raise HTTPError(500, "can't evaluate periodic job")
    if structs.is_parameterized(job):
        raise HTTPError(500, "can't evaluate parameterized job")
    reply, index = agent.scheduler.evaluate(job)
    reply.update(Index=index, **QUERY_META)
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def plan_job(agent: Agent, request: web.Request) -> web.Response:
    """jobPlan, then Job.Plan: the scheduler run on a snapshot, nothing written, and the job's Diff
    when asked (tapit/agent/structs/job_diff.py)."""
    body, job = await _decode_job(
        agent,
        request,
        request.match_info["job_id"],
        "Job must have a valid ID",
        "Job ID does not match",
        structs.PLAN_REQUEST,
    )
    existing = agent.store.job(job["Namespace"], job["ID"])
    index = existing["JobModifyIndex"] if existing else 0
    annotations, failed, created = plan(agent.store, agent.scheduler.fit, job, existing)
    reply = {
        "Annotations": {"DesiredTGUpdates": annotations, "PreemptedAllocs": None},
        "FailedTGAllocs": failed,
        "JobModifyIndex": index,
        "CreatedEvals": created,
        # Job.Plan: existingJob.Diff(args.Job, true), then scheduler.Annotate.
        "Diff": annotate(job_diff(existing, job), annotations) if body.get("Diff") else None,
        "NextPeriodicLaunch": structs.ZERO_TIME,
        "Warnings": "",
        "Index": index,
    }
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def job_versions(agent: Agent, request: web.Request) -> web.Response:
    """jobVersions, then Job.GetJobVersions: every version the state store still holds, newest
    first, and with diffs=true the diffs between them."""
    diffs = parse_bool_param(request, "diffs", False)
    version = request.query.get("diff_version", "")
    if version and not version.isdigit():
        raise HTTPError(
            500,
            f'Failed to parse value of "diff_version" ({version}) as a uint64: '
            f'strconv.ParseUint: parsing "{version}": invalid syntax',
        )
    headers = await blocking(agent.store, request, ("jobs",))
    bucket = agent.store.bucket(namespace(request), request.match_info["job_id"])
    versions = [bucket.job, *bucket.versions] if bucket and bucket.job else []
    if not versions:
        raise HTTPError(404, "job versions not found")
    index = max(v["ModifyIndex"] for v in versions)
    headers["X-Nomad-Index"] = str(index)
    reply = {"Versions": versions, "Diffs": _version_diffs(versions, diffs, version), "Index": index}
    return encode(request, {**reply, **QUERY_META}, headers=headers)


def _version_diffs(versions: list[dict], diffs: bool, diff_version: str) -> list[dict] | None:
    """Job.GetJobVersions: each version against the one before it (the oldest against none), or
    every version against diff_version's, old.Diff(new, true)."""
    compare = None
    if diff_version:
        compare = next((v for v in versions if v["Version"] == int(diff_version)), None)
        if compare is None:
            raise HTTPError(500, f"version {diff_version} not found")
    if not diffs:
        return None
    if compare is not None:
        return [job_diff(compare, v) for v in versions]
    return [job_diff(versions[i + 1], versions[i]) for i in range(len(versions) - 1)] or None


async def job_deployments(agent: Agent, request: web.Request) -> web.Response:
    """jobDeployments: the agent creates no deployments (docs/agent.md), so there are none."""
    query_bool_lax(request, "all")
    headers = await blocking(agent.store, request, ("jobs",))
    return encode(request, [], headers=headers)


async def job_latest_deployment(agent: Agent, request: web.Request) -> web.Response:
    """jobLatestDeployment: null, there being no deployment."""
    headers = await blocking(agent.store, request, ("jobs",))
    return encode(request, None, headers=headers)


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
    """jobSummaryRequest checks no method: any is a read."""
    headers = await blocking(agent.store, request, ("job_summary",))
    bucket = agent.store.bucket(namespace(request), request.match_info["job_id"])
    if bucket is None or bucket.job is None:
        raise HTTPError(404, "job not found")
    summary = agent.store.summary(bucket)
    headers["X-Nomad-Index"] = str(summary["ModifyIndex"])
    return encode(request, summary, headers=headers)


def _suffix(suffix: str) -> str:
    return "/v1/job/{job_id:.*}/" + suffix


# The suffixes JobSpecificRequest routes to handlers the agent does not have (docs/agent.md):
# a path ending in one is no job ID, and answers 404 page not found.
NOT_SERVED = (
    "periodic/force",
    "dispatch/payload",
    "revert",
    "stable",
    "services",
    "submission",
    "actions",
    "action",
    "tag",
)
JOB = "/v1/job/{job_id:(?!.*/(?:%s)$).+}" % "|".join(NOT_SERVED)
ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/jobs",
        list_jobs,
        "job_endpoint.go jobListRequest",
        (*BLOCKING, "namespace", "prefix", "filter", "meta"),
    ),
    Endpoint(WRITE, "/v1/jobs", register_job, "job_endpoint.go jobUpdate", ("namespace", "region")),
    Endpoint(WRITE, _suffix("evaluate"), evaluate_job, "job_endpoint.go jobForceEvaluate", ("namespace",)),
    Endpoint(
        GET, _suffix("allocations"), job_allocations, "job_endpoint.go jobAllocations", (*BLOCKING, "namespace", "all")
    ),
    Endpoint(GET, _suffix("evaluations"), job_evaluations, "job_endpoint.go jobEvaluations", (*BLOCKING, "namespace")),
    Endpoint(WRITE, _suffix("plan"), plan_job, "job_endpoint.go jobPlan", ("namespace", "region")),
    Endpoint(ANY, _suffix("summary"), job_summary, "job_endpoint.go jobSummaryRequest", (*BLOCKING, "namespace")),
    Endpoint(
        WRITE,
        _suffix("dispatch"),
        dispatch_job,
        "job_endpoint.go jobDispatchRequest",
        ("namespace", "idempotency_token"),
    ),
    Endpoint(
        ANY,
        _suffix("versions"),
        job_versions,
        "job_endpoint.go jobVersions",
        (*BLOCKING, "namespace", "diffs", "diff_version"),
    ),
    Endpoint(GET, _suffix("deployments"), job_deployments, "job_endpoint.go jobDeployments", (*BLOCKING, "all")),
    Endpoint(
        GET,
        _suffix("deployment"),
        job_latest_deployment,
        "job_endpoint.go jobLatestDeployment",
        BLOCKING,
    ),
    Endpoint(GET, _suffix("scale"), job_scale_status, "job_endpoint.go jobScaleStatus", (*BLOCKING, "namespace")),
    Endpoint(WRITE, _suffix("scale"), job_scale, "job_endpoint.go jobScaleAction", ("namespace",)),
    Endpoint(GET, JOB, read_job, "job_endpoint.go jobQuery", (*BLOCKING, "namespace")),
    Endpoint(WRITE, JOB, update_job, "job_endpoint.go jobUpdate", ("namespace", "region")),
    Endpoint(
        DELETE,
        JOB,
        delete_job,
        "job_endpoint.go jobDelete",
        ("namespace", "purge", "global", "eval_priority", "no_shutdown_delay"),
    ),
)
