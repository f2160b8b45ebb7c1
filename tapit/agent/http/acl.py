"""ACL policies and tokens (command/agent/acl_endpoint.go), and what a client token needs for
each endpoint the agent serves it: the capability checks of the RPCs behind them.

An endpoint not in CHECKS answers a client token "Permission denied", as Nomad's management-only
endpoints do; a management token (the agent's own) passes every check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..acl import ACL, PolicyError
from ..structs import gojson
from . import allocations, client_allocations, client_fs, events, jobs, nodes, validate
from .auth import PERMISSION_DENIED, request_acl
from .encode import encode
from .errors import INVALID_METHOD, HTTPError
from .decode import decode_body
from .query import namespace
from .routing import GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

Check = Callable[["Agent", web.Request, ACL], bool]


# The fields of structs.ACLPolicy and structs.ACLToken the agent reads.
_POLICY = gojson.Struct(
    "structs.ACLPolicy", {"Name": gojson.STRING, "Description": gojson.STRING, "Rules": gojson.STRING}
)
_TOKEN = gojson.Struct(
    "structs.ACLToken",
    {"Name": gojson.STRING, "Type": gojson.STRING, "Policies": gojson.STRINGS, "Global": gojson.BOOL},
)


async def policy(agent: Agent, request: web.Request) -> web.Response:
    """ACLPolicySpecificRequest: GET reads, PUT/POST upserts (management only: ACL.UpsertPolicies)."""
    name = request.match_info["name"]
    if request.method == "GET":
        found = agent.acl.policies.get(name)
        if found is None:
            raise HTTPError(404, "ACL policy not found")
        return encode(request, found)
    if request.method not in WRITE:
        raise HTTPError(405, INVALID_METHOD)
    body = await decode_body(request, _POLICY)
    if body.get("Name") != name:
        raise HTTPError(400, "ACL policy name does not match request path")
    try:
        agent.acl.put_policy(body, agent.store.index)
    except PolicyError as exc:
        raise HTTPError(400, f"policy {name!r} is invalid: {exc}") from exc
    return web.Response(status=200, headers={"X-Nomad-Index": str(agent.store.index)})


async def create_token(agent: Agent, request: web.Request) -> web.Response:
    """aclTokenUpdate for a new token (ACL.UpsertTokens, management only)."""
    body = await decode_body(request, _TOKEN)
    try:
        token = agent.acl.create_token(body, agent.store.index, structs.rfc3339nano(time.time_ns()))
    except PolicyError as exc:
        raise HTTPError(400, str(exc)) from exc
    return encode(request, token)


async def token_self(agent: Agent, request: web.Request) -> web.Response:
    """aclTokenSelf: the token the request carries."""
    acl = request_acl(request)
    if acl is None:
        raise HTTPError(404, "ACL token not found")  # the management token is the agent's, not a stored one
    return encode(request, acl.token)


def _in_query_namespace(*capabilities: str) -> Check:
    return lambda agent, request, acl: acl.allows(namespace(request), *capabilities)


def _in_alloc_namespace(*capabilities: str) -> Check:
    def check(agent: Agent, request: web.Request, acl: ACL) -> bool:
        alloc = agent.store.alloc(request.match_info["alloc_id"])
        # An unknown allocation is the handler's to answer (404), as the RPCs look it up first.
        return alloc is None or acl.allows(alloc["Namespace"], *capabilities)

    return check


def _list_jobs(agent: Agent, request: web.Request, acl: ACL) -> bool:
    # job_endpoint.go List: a wildcard lists the namespaces the token may list (filtered there).
    ns = namespace(request)
    return acl.allows_somewhere("list-jobs") if ns == "*" else acl.allows(ns, "list-jobs")


def _delete_job(agent: Agent, request: web.Request, acl: ACL) -> bool:
    # job_endpoint.go Deregister: submit-job, or purge-job, or (no purge) deregister-job.
    purge = request.query.get("purge", "").lower() in ("1", "t", "true")
    return acl.allows(namespace(request), "submit-job", "purge-job", *(() if purge else ("deregister-job",)))


# What each endpoint asks of a client token; None: the handler checks it itself, where Nomad does.
CHECKS: dict[Callable, Check | None] = {
    jobs.list_jobs: _list_jobs,
    jobs.register_job: None,  # jobUpdate: submit-job or register-job, after admission (doRegister)
    client_allocations.alloc_exec: None,  # alloc-exec (and alloc-node-exec), once the token is read
    token_self: None,
    validate.validate_job: None,  # Job.Validate: read-job in the job's namespace
    jobs.read_job: _in_query_namespace("read-job"),
    jobs.job_allocations: _in_query_namespace("read-job"),
    jobs.job_evaluations: _in_query_namespace("read-job"),
    jobs.job_summary: _in_query_namespace("read-job"),
    jobs.delete_job: _delete_job,
    allocations.read_allocation: _in_alloc_namespace("read-job"),
    client_allocations.alloc_stats: _in_alloc_namespace("read-job"),
    client_allocations.alloc_restart: _in_alloc_namespace("alloc-lifecycle"),  # client Allocations.Restart
    # client/fs_endpoint.go logs: read-fs or read-logs.
    client_fs.logs: _in_alloc_namespace("read-fs", "read-logs"),
    events.event_stream: _in_query_namespace("read-job"),
    nodes.list_nodes: lambda agent, request, acl: acl.node_read(),
    nodes.read_node: lambda agent, request, acl: acl.node_read(),
}


def authorize(agent: Agent, request: web.Request, handler: Callable | None) -> None:
    """Refuse a client token what its policies do not grant for this endpoint (403)."""
    acl = request_acl(request)
    if acl is None or handler is None:
        return  # the management token; or no route, and the 404 follows
    if handler not in CHECKS:
        raise HTTPError(403, PERMISSION_DENIED)
    check = CHECKS[handler]
    if check is not None and not check(agent, request, acl):
        raise HTTPError(403, PERMISSION_DENIED)


ENDPOINTS = (
    Endpoint(("GET", "PUT", "POST"), "/v1/acl/policy/{name}", policy, "acl_endpoint.go ACLPolicySpecificRequest"),
    Endpoint(WRITE, "/v1/acl/token", create_token, "acl_endpoint.go aclTokenUpdate"),
    Endpoint(GET, "/v1/acl/token/self", token_self, "acl_endpoint.go aclTokenSelf"),
)
