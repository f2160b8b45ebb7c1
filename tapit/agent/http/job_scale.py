"""Scaling a job's groups: /v1/job/<id>/scale (command/agent/job_endpoint.go jobScaleStatus and
jobScaleAction, then nomad/job_endpoint.go ScaleStatus and Scale)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..structs import gojson
from ..structs.job import ENFORCE_INDEX_PREFIX
from .decode import decode_body, write_namespace
from .encode import encode
from .errors import HTTPError
from .query import QUERY_META, blocking, namespace

if TYPE_CHECKING:
    from ..agent import Agent

_SCALING_REQUEST = gojson.Struct(
    "api.ScalingRequest",
    {
        "Count": gojson.INT64,
        "Target": gojson.STRING_MAP,
        "Message": gojson.STRING,
        "Error": gojson.BOOL,
        "Meta": gojson.Map("map[string]interface {}", gojson.ANY),
        "Region": gojson.STRING,
        "Namespace": gojson.STRING,
        "SecretID": gojson.STRING,
        "PolicyOverride": gojson.BOOL,
        "JobModifyIndex": gojson.UINT64,
    },
    promoted=dict.fromkeys(("Region", "Namespace", "SecretID"), "WriteRequest"),
)


async def job_scale_status(agent: Agent, request: web.Request) -> web.Response:
    """jobScaleStatus, then Job.ScaleStatus."""
    headers = await blocking(agent.store, request, ("jobs", "allocs", "scaling_event"))
    bucket = agent.store.bucket(namespace(request), request.match_info["job_id"])
    if bucket is None or bucket.job is None:
        raise HTTPError(404, "job not found")
    job = bucket.job
    groups = {
        g["Name"]: {
            "Desired": g["Count"],
            "Placed": 0,
            "Running": 0,
            "Healthy": 0,
            "Unhealthy": 0,
            "Events": bucket.scaling_events.get(g["Name"]),
        }
        for g in job["TaskGroups"]
    }
    index = job["ModifyIndex"]
    for alloc in bucket.allocs.values():
        if structs.alloc_terminal(alloc) or alloc["TaskGroup"] not in groups:
            continue
        groups[alloc["TaskGroup"]]["Placed"] += 1
        groups[alloc["TaskGroup"]]["Running"] += alloc["ClientStatus"] == "running"
        index = max(index, alloc["ModifyIndex"])
    index = max([index, *(e["CreateIndex"] for events in bucket.scaling_events.values() for e in events)])
    headers["X-Nomad-Index"] = str(index)
    status = {
        "JobID": job["ID"],
        "Namespace": job["Namespace"],
        "JobCreateIndex": job["CreateIndex"],
        "JobModifyIndex": job["ModifyIndex"],
        "JobStopped": job["Stop"],
        "TaskGroups": groups,
    }
    return encode(request, status, headers=headers)


async def job_scale(agent: Agent, request: web.Request) -> web.Response:
    """jobScaleAction, then Job.Scale and JobScaleRequest.Validate."""
    job_id = request.match_info["job_id"]
    body = await decode_body(request, _SCALING_REQUEST)
    target = body.get("Target") or {}
    if target.get("Job") and target["Job"] != job_id:
        raise HTTPError(400, "job ID in payload did not match URL")
    ns = write_namespace(request, body)
    if target.get("Namespace") and target["Namespace"] != ns:
        raise HTTPError(400, "namespace in payload did not match header")
    group_name = target.get("Group", "")
    if not group_name:
        raise HTTPError(400, "missing task group name for scaling action")
    count = body.get("Count")
    if count is not None:
        if count < 0:
            raise HTTPError(400, "scaling action count can't be negative")
        if body.get("Error"):
            raise HTTPError(400, "scaling action should not contain count if error is true")
    job = agent.store.job(ns, job_id)
    if job is None:
        raise HTTPError(404, f'job "{job_id}" not found')
    if job["Type"] == "system" and count is not None and count > 1:
        raise HTTPError(400, 'jobs of type "system" can only be scaled between 0 and 1')
    group = next((g for g in job["TaskGroups"] if g["Name"] == group_name), None)
    if group is None:
        raise HTTPError(400, f'task group "{group_name}" specified for scaling does not exist in job')
    if count is not None:
        scaling = group["Scaling"] or {}
        if scaling and count < scaling.get("Min", 0):
            raise HTTPError(400, f"group count was less than scaling policy minimum: {count} < {scaling['Min']}")
        if scaling and scaling.get("Max", 0) < count:
            raise HTTPError(400, f"group count was greater than scaling policy maximum: {count} > {scaling['Max']}")
        total = sum(g["Count"] for g in job["TaskGroups"]) - group["Count"] + count
        if total > structs.job_validate.JOB_MAX_COUNT:
            raise HTTPError(
                500,
                f"total count was greater than configured job_max_count: {total} > {structs.job_validate.JOB_MAX_COUNT}",
            )
        want = body.get("JobModifyIndex") or 0
        if want and want != job["JobModifyIndex"]:
            raise HTTPError(
                500,
                f"{ENFORCE_INDEX_PREFIX} {want}: job exists with conflicting job modify index: {job['JobModifyIndex']}",
            )
    event = {
        "Time": structs.now_ns(),
        "Count": count,
        "PreviousCount": group["Count"],
        "Message": body.get("Message") or "",
        "Error": bool(body.get("Error")),
        "Meta": body.get("Meta"),
        "EvalID": None,
        "CreateIndex": 0,
    }
    reply, index = agent.scheduler.scale(job, group_name, count, event)
    reply.update(Index=index, **QUERY_META)
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})
