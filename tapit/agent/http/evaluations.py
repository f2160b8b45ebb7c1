"""Evaluations: GET /v1/evaluations and /v1/evaluation/<id>... (command/agent/eval_endpoint.go
EvalsRequest and EvalSpecificRequest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from .encode import encode
from .errors import HTTPError
from .query import BLOCKING, apply_filter, blocking, in_namespace
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def list_evaluations(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("evals",))
    q = request.query
    evals = [
        e
        for e in agent.store.evals()
        if in_namespace(request, e)
        and e["ID"].startswith(q.get("prefix", ""))
        and (not q.get("job") or e["JobID"] == q["job"])
        and (not q.get("status") or e["Status"] == q["status"])
    ]
    evals = apply_filter(request, sorted(evals, key=lambda e: e["ID"]))
    return encode(request, [structs.omit_empty(e) for e in evals], headers=headers)


async def read_evaluation(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("evals",))
    ev = agent.store.eval(request.match_info["eval_id"])
    if ev is None:
        raise HTTPError(404, "eval not found")
    if request.query.get("related") == "true":
        bucket = agent.store.eval_bucket[ev["ID"]]
        related = [structs.eval_stub(e) for e in bucket.evals.values() if e["ID"] != ev["ID"]]
        ev = {**ev, "RelatedEvals": related}
    return encode(request, structs.omit_empty(ev), headers=headers)


async def evaluation_allocations(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("allocs",))
    eval_id = request.match_info["eval_id"]
    bucket = agent.store.eval_bucket.get(eval_id)
    allocs = [a for a in bucket.allocs.values() if a["EvalID"] == eval_id] if bucket else []
    return encode(request, [structs.alloc_stub(a) for a in allocs], headers=headers)


ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/evaluations",
        list_evaluations,
        "eval_endpoint.go evalsListRequest",
        (*BLOCKING, "namespace", "prefix", "job", "status", "filter"),
    ),
    Endpoint(GET, "/v1/evaluation/{eval_id}", read_evaluation, "eval_endpoint.go evalQuery", (*BLOCKING, "related")),
    Endpoint(
        GET,
        "/v1/evaluation/{eval_id}/allocations",
        evaluation_allocations,
        "eval_endpoint.go evalAllocations",
        BLOCKING,
    ),
)
