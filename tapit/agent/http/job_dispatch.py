"""Dispatching a parameterized job: /v1/job/<id>/dispatch (command/agent/job_endpoint.go
jobDispatchRequest, then nomad/job_endpoint.go Dispatch and validateDispatchRequest)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

import cramjam
from aiohttp import web

from .. import structs
from ..structs import gojson
from .decode import decode_body, write_namespace, write_request
from .encode import encode
from .errors import HTTPError

if TYPE_CHECKING:
    from ..agent import Agent

DISPATCH_PAYLOAD_SIZE_LIMIT = 16 * 1024  # nomad/job_endpoint.go DispatchPayloadSizeLimit
_DISPATCH_REQUEST = write_request(
    "structs.JobDispatchRequest",
    {
        "JobID": gojson.STRING,
        "Payload": gojson.BYTES,
        "Meta": gojson.STRING_MAP,
        "IdPrefixTemplate": gojson.STRING,
        "Priority": gojson.INT,
    },
)


def _payload_bytes(value) -> bytes:
    """A []byte as Go's encoding/json gave it: base64 text (StdEncoding), or an array of bytes."""
    if value is None:
        return b""
    if isinstance(value, list):
        return bytes(value)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        bad = next((i for i, c in enumerate(value) if not (c.isascii() and (c.isalnum() or c in "+/="))), len(value))
        raise HTTPError(400, f"illegal base64 data at input byte {bad}") from exc


def _go_list(keys: list[str]) -> str:
    """fmt's %v of a []string."""
    return "[" + " ".join(keys) + "]"


async def dispatch_job(agent: Agent, request: web.Request) -> web.Response:
    """jobDispatchRequest, then Job.Dispatch and validateDispatchRequest."""
    job_id = request.match_info["job_id"]
    body = await decode_body(request, _DISPATCH_REQUEST)
    if body.get("JobID") and body["JobID"] != job_id:
        raise HTTPError(400, "Job ID does not match")
    payload = _payload_bytes(body.get("Payload"))
    token = request.query.get("idempotency_token") or body.get("IdempotencyToken") or ""
    ns = write_namespace(request, body)
    parent = agent.store.job(ns, job_id)
    if not job_id:
        raise HTTPError(500, "missing parameterized job ID")
    if parent is None:
        raise HTTPError(500, "parameterized job not found")
    if not structs.is_parameterized(parent):
        raise HTTPError(500, f'Specified job "{job_id}" is not a parameterized job')
    if parent["Stop"]:
        raise HTTPError(500, f'Specified job "{job_id}" is stopped')
    priority = body.get("Priority") or parent["Priority"]
    meta = body.get("Meta") or {}
    _check_dispatch(parent["ParameterizedJob"], payload, meta, priority)
    if token:
        found = next(
            (
                j
                for j in agent.store.jobs()
                if j["Namespace"] == ns and j["ID"].startswith(job_id) and j["ParentID"] == job_id
                if j["DispatchIdempotencyToken"] == token
            ),
            None,
        )
        if found is not None:  # not yet collected: the same dispatch, answered again
            reply = {"DispatchedJobID": found["ID"], "EvalID": "", "EvalCreateIndex": 0}
            reply.update(JobCreateIndex=found["CreateIndex"], Index=found["ModifyIndex"])
            return encode(request, reply, headers={"X-Nomad-Index": str(found["ModifyIndex"])})
    child = json.loads(json.dumps(parent))
    now = structs.now_ns()
    prefix = body.get("IdPrefixTemplate") or ""
    suffix = f"{prefix}-{now // structs.SECOND}" if prefix else str(now // structs.SECOND)
    child_id = f"{job_id}/dispatch-{suffix}-{structs.new_id()[:8]}"  # structs.DispatchedID
    child.update(ID=child_id, ParentID=job_id, Name=child_id, Dispatched=True, Status="", StatusDescription="")
    child.update(DispatchIdempotencyToken=token, Priority=priority)
    if meta:
        child["Meta"] = {**(child["Meta"] or {}), **meta}
    child["Payload"] = base64.b64encode(bytes(cramjam.snappy.compress_raw(payload))).decode()
    register, index = agent.scheduler.register(child)
    reply = {
        "DispatchedJobID": child_id,
        "EvalID": register["EvalID"],
        "EvalCreateIndex": register["EvalCreateIndex"],
        "JobCreateIndex": index,
        "Index": index,
    }
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


def _check_dispatch(config: dict, payload: bytes, meta: dict, priority: int) -> None:
    """validateDispatchRequest (uncoded errors, so 500s)."""
    if config["Payload"] == "required" and not payload:
        raise HTTPError(500, "Payload is not provided but required by parameterized job")
    if config["Payload"] == "forbidden" and payload:
        raise HTTPError(500, "Payload provided but forbidden by parameterized job")
    if len(payload) > DISPATCH_PAYLOAD_SIZE_LIMIT:
        raise HTTPError(500, f"Payload exceeds maximum size; {len(payload)} > {DISPATCH_PAYLOAD_SIZE_LIMIT}")
    allowed = set(config["MetaRequired"] or ()) | set(config["MetaOptional"] or ())
    unpermitted = [k for k in meta if k not in allowed]
    if unpermitted:
        raise HTTPError(500, f"Dispatch request included unpermitted metadata keys: {_go_list(unpermitted)}")
    missing = [k for k in config["MetaRequired"] or () if k not in meta]
    if missing:
        raise HTTPError(500, f"Dispatch did not provide required meta keys: {_go_list(missing)}")
    if not 1 <= priority <= 100:
        raise HTTPError(500, "dispatch job priority must be between [1, 100]")
