"""Scaling policies: GET /v1/scaling/policies and /v1/scaling/policy/<id>
(command/agent/scaling_endpoint.go, then nomad/scaling_endpoint.go ListPolicies and GetPolicy),
over the scaling_policy table the state store fills from the groups' `scaling` blocks at register
(nomad/state/state_store.go updateJobScalingPolicies; tapit/agent/structs/scaling.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..structs import scaling
from .auth import PERMISSION_DENIED, request_acl
from .encode import encode
from .errors import HTTPError
from .query import BLOCKING, block, namespace, parse_wait, query_meta
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..acl import ACL
    from ..agent import Agent

TABLES = ("scaling_policy",)


def may_read(acl: ACL, ns: str, capability: str) -> bool:
    """The RPCs' check: the capability, or both list-jobs and read-job."""
    return acl.allows(ns, capability) or (acl.allows(ns, "list-jobs") and acl.allows(ns, "read-job"))


def _selected(agent: Agent, request: web.Request) -> list[dict]:
    """ListPolicies' iterators: by ID prefix, by job (type exact), or by namespace (type a
    prefix); with the wildcard namespace listAllNamespaces (ID order, type a prefix, the job
    parameter unread), the namespaces the token may not list left out."""
    q, ns, acl = request.query, namespace(request), request_acl(request)
    prefix, job, kind = q.get("prefix", ""), q.get("job", ""), q.get("type", "")
    policies = list(agent.store.scaling_policies())
    by_id = sorted(policies, key=lambda p: p["ID"])
    if ns == "*":
        allowed = lambda n: acl is None or may_read(acl, n, "list-scaling-policies")  # noqa: E731
        return [
            p
            for p in by_id
            if p["Type"].startswith(kind) and allowed(p["Target"]["Namespace"]) and p["ID"].startswith(prefix)
        ]
    if acl is not None and not may_read(acl, ns, "list-scaling-policies"):
        raise HTTPError(403, PERMISSION_DENIED)
    in_ns = [p for p in (by_id if prefix else policies) if p["Target"].get("Namespace") == ns]
    if prefix:
        return [p for p in in_ns if p["ID"].startswith(prefix)]
    if job:
        return [p for p in in_ns if p["Target"].get("Job") == job and (not kind or p["Type"] == kind)]
    return [p for p in in_ns if p["Type"].startswith(kind)]


async def list_policies(agent: Agent, request: web.Request) -> web.Response:
    """scalingPoliciesListRequest: []*structs.ScalingPolicyListStub, never null."""
    min_index, wait = parse_wait(request)
    await block(agent.store, TABLES, min_index, wait, lambda: agent.store.query_index(TABLES))
    stubs = [scaling.stub(p) for p in _selected(agent, request)]
    return encode(request, stubs, headers=query_meta(agent.store.query_index(TABLES)))


async def read_policy(agent: Agent, request: web.Request) -> web.Response:
    """scalingPolicyQuery: the policy of that ID, whatever its namespace (GetPolicy checks the
    token in the request's), its ModifyIndex the query's index; 404 "policy not found"."""
    acl = request_acl(request)
    if acl is not None and not may_read(acl, namespace(request), "read-scaling-policy"):
        raise HTTPError(403, PERMISSION_DENIED)
    policy_id = request.match_info["policy_id"]

    def find() -> dict | None:
        return next((p for p in agent.store.scaling_policies() if p["ID"] == policy_id), None)

    def index() -> int:
        found = find()
        return found["ModifyIndex"] if found else agent.store.query_index(TABLES)

    min_index, wait = parse_wait(request)
    await block(agent.store, TABLES, min_index, wait, index)
    policy = find()
    if policy is None:
        raise HTTPError(404, "policy not found", query_meta(index()))
    return encode(request, policy, headers=query_meta(index()))


ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/scaling/policies",
        list_policies,
        "scaling_endpoint.go scalingPoliciesListRequest",
        (*BLOCKING, "namespace", "prefix", "job", "type"),
    ),
    Endpoint(
        GET,
        "/v1/scaling/policy/{policy_id:.*}",
        read_policy,
        "scaling_endpoint.go scalingPolicyQuery",
        (*BLOCKING, "namespace"),
    ),
)
