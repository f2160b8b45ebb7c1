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
from ..acl import ACL, BOOTSTRAP_INDEX, PolicyError
from ..acl_rules import rules_json
from ..structs import gojson
from . import (
    allocations,
    client_allocations,
    client_fs,
    events,
    job_parse,
    jobs,
    metrics,
    nodes,
    scaling,
    search_fuzzy,
    validate,
)
from .auth import PERMISSION_DENIED, request_acl, request_token
from .encode import encode
from .errors import INVALID_METHOD, HTTPError
from .decode import decode_body
from .query import namespace
from .routing import ANY, GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

Check = Callable[["Agent", web.Request, ACL], bool]


# The fields of structs.ACLPolicy, structs.ACLToken and structs.ACLTokenBootstrapRequest the agent reads.
_POLICY = gojson.Struct(
    "structs.ACLPolicy", {"Name": gojson.STRING, "Description": gojson.STRING, "Rules": gojson.STRING}
)
_TOKEN = gojson.Struct(
    "structs.ACLToken",
    {
        "AccessorID": gojson.STRING,
        "SecretID": gojson.STRING,
        "Name": gojson.STRING,
        "Type": gojson.STRING,
        "Policies": gojson.STRINGS,
        "Global": gojson.BOOL,
    },
)
_BOOTSTRAP = gojson.Struct("structs.ACLTokenBootstrapRequest", {"BootstrapSecret": gojson.STRING})


def _indexed(request: web.Request, body: dict | None, index: int) -> web.Response:
    # setIndex: the write's index as X-Nomad-Index; a handler's nil is no body (http.go wrap).
    headers = {"X-Nomad-Index": str(index)}
    return web.Response(status=200, headers=headers) if body is None else encode(request, body, headers=headers)


def _now() -> str:
    return structs.rfc3339nano(time.time_ns())


def _management_only(request: web.Request) -> None:
    # aclObj.IsManagement(), else structs.ErrPermissionDenied (nomad/acl_endpoint.go).
    if request_acl(request) is not None:
        raise HTTPError(403, PERMISSION_DENIED)


async def policy(agent: Agent, request: web.Request) -> web.Response:
    """ACLPolicySpecificRequest: GET reads (ACL.GetPolicy: management, or a token holding it), PUT/POST
    upserts and DELETE deletes (management only: ACL.UpsertPolicies, ACL.DeletePolicies)."""
    name = request.match_info["name"]
    if request.method == "GET":
        acl = request_acl(request)
        if acl is not None and name not in acl.token["Policies"]:
            raise HTTPError(403, PERMISSION_DENIED)
        found = agent.acl.policies.get(name)
        if found is None:
            raise HTTPError(404, "ACL policy not found")
        # GetPolicy: the rules parsed (acl.Parse), as RulesJSON, after Rules.
        fields = list(found.items())
        at = [k for k, _ in fields].index("Rules") + 1
        return encode(request, dict(fields[:at] + [("RulesJSON", rules_json(found["Rules"]))] + fields[at:]))
    _management_only(request)
    if request.method == "DELETE":
        agent.acl.delete_policy(name)
        return _indexed(request, None, agent.store.index)
    if request.method not in WRITE:
        raise HTTPError(405, INVALID_METHOD)
    body = await decode_body(request, _POLICY)
    if body.get("Name") != name:
        raise HTTPError(400, "ACL policy name does not match request path")
    try:
        agent.acl.put_policy(body, agent.store.index)
    except PolicyError as exc:
        raise HTTPError(400, f"policy {name!r} is invalid: {exc}") from exc
    return _indexed(request, None, agent.store.index)


async def policies(agent: Agent, request: web.Request) -> web.Response:
    """ACLPoliciesRequest (ACL.ListPolicies): every policy to a management token, a client token's own
    to it."""
    acl = request_acl(request)
    return encode(request, agent.acl.policy_stubs(None if acl is None else acl.token["Policies"]))


async def bootstrap(agent: Agent, request: web.Request) -> web.Response:
    """ACLTokenBootstrap (ACL.Bootstrap): served without a token, and refused as a cluster that is
    bootstrapped already refuses it (nomad/acl_endpoint.go Bootstrap). The embedded agent is
    bootstrapped when it is made: its own token is the bootstrap token (AclStore.bootstrapped_with). Served, an anonymous bootstrap would hand the power to run commands to any
    local process, or to a web page's blind cross-origin POST. A malformed body is refused
    first, as the endpoint decodes it before the RPC."""
    if request.content_length:
        await decode_body(request, _BOOTSTRAP)
    raise HTTPError(400, f"ACL bootstrap already done (reset index: {BOOTSTRAP_INDEX})")


async def tokens(agent: Agent, request: web.Request) -> web.Response:
    """ACLTokensRequest (ACL.ListTokens, management only)."""
    _management_only(request)
    return encode(request, agent.acl.token_stubs())


async def update_token(agent: Agent, request: web.Request) -> web.Response:
    """aclTokenUpdate (ACL.UpsertTokens, management only): a new token at /v1/acl/token, an update at
    /v1/acl/token/<accessor>."""
    _management_only(request)
    accessor = request.match_info.get("accessor", "")
    body = await decode_body(request, _TOKEN)
    if accessor and body.get("AccessorID", "") != accessor:
        raise HTTPError(400, "ACL token accessor does not match request path")
    try:
        token = agent.acl.upsert_token(body, agent.store.index, _now())
    except PolicyError as exc:
        raise HTTPError(400, str(exc)) from exc
    return _indexed(request, token, agent.store.index)


async def token(agent: Agent, request: web.Request) -> web.Response:
    """aclTokenCrud: GET (ACL.GetToken: management, or the token itself), DELETE (ACL.DeleteTokens,
    management only); PUT/POST is update_token."""
    accessor = request.match_info["accessor"]
    if request.method in WRITE:
        return await update_token(agent, request)
    acl = request_acl(request)
    if request.method == "DELETE":
        _management_only(request)
        agent.acl.delete_token(accessor)
        return _indexed(request, None, agent.store.index)
    if acl is not None and acl.token["AccessorID"] != accessor:
        raise HTTPError(403, PERMISSION_DENIED)
    found = agent.acl.token_by_accessor(accessor)
    if found is None:
        raise HTTPError(404, "ACL token not found")
    return encode(request, found)


async def token_self(agent: Agent, request: web.Request) -> web.Response:
    """aclTokenSelf (ACL.WhoAmI): the token the request carries."""
    found = agent.acl.tokens.get(request_token(request))
    if found is None:
        raise HTTPError(404, "ACL token not found")  # the agent's own management token is not a stored one
    return encode(request, found)


_ONE_TIME_EXCHANGE = gojson.Struct("structs.OneTimeTokenExchangeRequest", {"OneTimeSecretID": gojson.STRING})


async def one_time_token(agent: Agent, request: web.Request) -> web.Response:
    """UpsertOneTimeToken (ACL.UpsertOneTimeToken): a one-time token for the caller's own token,
    PUT or POST only (405 otherwise, before the token is looked at), 403 without one."""
    if request.method not in WRITE:
        raise HTTPError(405, INVALID_METHOD)
    one_time = agent.acl.upsert_one_time(request_token(request), agent.store.index, time.time_ns())
    if one_time is None:
        raise HTTPError(403, PERMISSION_DENIED)
    # structs.OneTimeTokenUpsertResponse: the token, then WriteMeta's Index.
    return _indexed(request, {"OneTimeToken": one_time, "Index": agent.store.index}, agent.store.index)


async def exchange_one_time_token(agent: Agent, request: web.Request) -> web.Response:
    """ExchangeOneTimeToken (ACL.ExchangeOneTimeToken): served without a token, as the web UI
    calls it; the ACL token behind an unexpired one-time token, which is then spent. A body that
    does not decode is 400; an unknown, spent or expired one, or one whose token was deleted, 403."""
    if request.method not in WRITE:
        raise HTTPError(405, INVALID_METHOD)
    body = await decode_body(request, _ONE_TIME_EXCHANGE)
    token = agent.acl.exchange_one_time(body.get("OneTimeSecretID") or "", time.time_ns())
    if token is None:
        raise HTTPError(403, PERMISSION_DENIED)
    return _indexed(request, {"Token": token, "Index": agent.store.index}, agent.store.index)


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
    one_time_token: None,  # ACL.UpsertOneTimeToken: any token, for itself
    policy: None,  # ACL.GetPolicy: a client token may read its own policies
    policies: None,  # ACL.ListPolicies: a client token lists its own
    token: None,  # ACL.GetToken: a client token may read itself
    validate.validate_job: None,  # Job.Validate: read-job in the job's namespace
    job_parse.parse_job: None,  # JobsParseRequest: parse-job or submit-job in the query's namespace
    metrics.metrics: None,  # MetricsRequest checks no token (the agent still asks for one)
    search_fuzzy.fuzzy_search: None,  # Search.FuzzySearch: read-job for the job contexts
    scaling.list_policies: None,  # Scaling.ListPolicies: list-scaling-policies, or list-jobs and read-job
    scaling.read_policy: None,  # Scaling.GetPolicy: read-scaling-policy, or list-jobs and read-job
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
    Endpoint(
        ("GET", "PUT", "POST", "DELETE"), "/v1/acl/policy/{name}", policy, "acl_endpoint.go ACLPolicySpecificRequest"
    ),
    Endpoint(GET, "/v1/acl/policies", policies, "acl_endpoint.go ACLPoliciesRequest"),
    Endpoint(WRITE, "/v1/acl/bootstrap", bootstrap, "acl_endpoint.go ACLTokenBootstrap", anonymous=True),
    Endpoint(GET, "/v1/acl/tokens", tokens, "acl_endpoint.go ACLTokensRequest"),
    Endpoint(WRITE, "/v1/acl/token", update_token, "acl_endpoint.go aclTokenUpdate"),
    Endpoint(GET, "/v1/acl/token/self", token_self, "acl_endpoint.go aclTokenSelf"),
    # Routed before {accessor}, as http.go does, so that "onetime" is not taken for an accessor ID.
    Endpoint(ANY, "/v1/acl/token/onetime", one_time_token, "acl_endpoint.go UpsertOneTimeToken"),
    Endpoint(
        ANY,
        "/v1/acl/token/onetime/exchange",
        exchange_one_time_token,
        "acl_endpoint.go ExchangeOneTimeToken",
        anonymous=True,
    ),
    Endpoint(("GET", "PUT", "POST", "DELETE"), "/v1/acl/token/{accessor}", token, "acl_endpoint.go aclTokenCrud"),
)
