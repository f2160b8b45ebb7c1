"""Prefix search: POST /v1/search (command/agent/search_endpoint.go newSearchRequest, then
nomad/search_endpoint.go PrefixSearch), structs.SearchRequest in, structs.SearchResponse out
(nomad/structs/search.go), over what the agent holds.  The agent has no deployments, CSI plugins
or volumes, or host volumes: those contexts match nothing, as Nomad's empty tables do."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from aiohttp import web

from ..structs import gojson
from .auth import PERMISSION_DENIED, request_acl
from .decode import decode_body
from .encode import encode
from .errors import HTTPError
from .query import namespace, query_meta
from .routing import WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

SEARCH_REQUEST = gojson.Struct("structs.SearchRequest", {"Prefix": gojson.STRING, "Context": gojson.STRING})
# ossContexts (nomad/search_endpoint.go), which "all" expands to (expandContext).
CONTEXTS = (
    "allocs",
    "jobs",
    "nodes",
    "node_pools",
    "evals",
    "deployments",
    "plugins",
    "volumes",
    "scaling_policies",
    "variables",
    "namespaces",
    "host_volumes",
)
# The contexts whose tables have a UUIDFieldIndex id (nomad/state/schema.go): a prefix that is
# no UUID prefix errs there, and PrefixSearch leaves the context out (silenceError).
UUID_CONTEXTS = {"allocs", "nodes", "evals", "deployments"}
JOB_CONTEXTS = {"allocs", "deployments", "evals", "jobs", "scaling_policies"}
TRUNCATE_LIMIT = 20  # truncateLimit
# Each context's table in the state store's index table (contextToIndex: the context's own name,
# so none for scaling_policies, whose table is scaling_policy), where the agent keeps one.
TABLES = {
    "allocs": "allocs",
    "jobs": "jobs",
    "nodes": "nodes",
    "evals": "evals",
    "variables": "variables",
    "namespaces": "namespaces",
}
BUILT_IN_NODE_POOLS = ("all", "default")  # structs.NodePoolAll, NodePoolDefault


def is_uuid_prefix(prefix: str) -> bool:
    """go-memdb UUIDFieldIndex.PrefixFromArgs: at most 36 characters and 4 hyphens, hex."""
    digits = prefix.replace("-", "")
    return (
        len(prefix) <= 36 and prefix.count("-") <= 4 and len(digits) % 2 == 0 and set(digits) <= set(string.hexdigits)
    )


def round_uuid_down_if_odd(prefix: str, context: str) -> str:
    """roundUUIDDownIfOdd: a UUID prefix of an odd count of digits loses its last character."""
    if context == "jobs" or len(prefix.replace("-", "")) % 2 == 0:
        return prefix
    return prefix[:-1]


def ids(agent: Agent, context: str, ns: str) -> list[str]:
    """The IDs of a context's objects in the order of the table's index."""
    in_ns = lambda obj: ns == "*" or obj["Namespace"] == ns  # noqa: E731
    if context == "jobs":
        return [j["ID"] for j in sorted(agent.store.jobs(), key=lambda j: (j["Namespace"], j["ID"])) if in_ns(j)]
    if context in ("allocs", "evals"):
        objects = agent.store.allocs() if context == "allocs" else agent.store.evals()
        return sorted(o["ID"] for o in objects if in_ns(o))
    if context == "nodes":
        return [agent.node.id]
    if context == "node_pools":
        return list(BUILT_IN_NODE_POOLS)
    if context == "namespaces":
        return sorted(agent.store.namespaces)
    if context == "variables":
        return [meta["Path"] for meta in agent.store.variables.all()]
    if context == "scaling_policies":  # the id index; ScalingPoliciesByIDPrefix filters the namespace
        return sorted(p["ID"] for p in agent.store.scaling_policies() if in_ns(p["Target"]))
    return []


async def prefix_search(agent: Agent, request: web.Request) -> web.Response:
    args = await decode_body(request, SEARCH_REQUEST)
    prefix, context, ns = args.get("Prefix", ""), args.get("Context", ""), namespace(request)
    contexts = list(CONTEXTS) if context == "all" else [context]
    if context != "all" and context not in CONTEXTS:
        raise HTTPError(
            500, f"context must be one of [{' '.join(CONTEXTS)}] or 'all' for all contexts; got \"{context}\""
        )
    acl = request_acl(request)
    if acl is not None:
        # sufficientSearchPerms and filteredSearchContexts, for the job contexts (read-job); the
        # agent evaluates no node, namespace, variable or volume rule for a client token.
        contexts = [c for c in contexts if c in JOB_CONTEXTS and acl.allows(ns, "read-job")]
        if not contexts:
            raise HTTPError(403, PERMISSION_DENIED)
    lookup = round_uuid_down_if_odd(prefix, context)
    matches, truncations = {}, {}
    for ctx in contexts:
        if ctx in UUID_CONTEXTS and not is_uuid_prefix(lookup):
            continue
        scanned = [i for i in ids(agent, ctx, ns) if i.startswith(lookup)]
        found = [i for i in scanned[:TRUNCATE_LIMIT] if i.startswith(prefix)]
        matches[ctx] = found or None  # a nil []string, null on the wire
        truncations[ctx] = len(scanned) > TRUNCATE_LIMIT
    index = max([1] + [agent.store.table_index[TABLES[c]] for c in contexts if c in TABLES])
    # structs.SearchResponse embeds QueryMeta: its fields are the answer's too.
    body = {"Matches": matches, "Truncations": truncations, **search_meta(index)}
    return encode(request, body, headers=query_meta(index))


def search_meta(index: int) -> dict:
    """structs.QueryMeta as the search RPCs fill it (setQueryMeta: the agent is its own leader)."""
    return {"Index": index, "LastContact": 0, "KnownLeader": True, "NextToken": ""}


ENDPOINTS = (Endpoint(WRITE, "/v1/search", prefix_search, "search_endpoint.go SearchRequest", ("namespace",)),)
