"""Fuzzy search: POST /v1/search/fuzzy (command/agent/search_endpoint.go newFuzzySearchRequest,
then nomad/search_endpoint.go FuzzySearch), structs.FuzzySearchRequest in, FuzzySearchResponse
out (nomad/structs/search.go), with the server's default search config (command/agent/config.go:
fuzzy enabled, limit_query 20, limit_results 100, min_term_length 2).  The objects named by a UUID
(evaluations, deployments, scaling policies, volumes) are matched by prefix, the others by the
text anywhere in their name, case folded, and a job's groups, services, tasks and the image,
command or class of its tasks' drivers with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..structs import gojson
from .auth import PERMISSION_DENIED, request_acl
from .decode import decode_body
from .encode import encode
from .errors import HTTPError
from .query import query_meta
from .routing import WRITE, Endpoint
from .search import (
    BUILT_IN_NODE_POOLS,
    CONTEXTS,
    JOB_CONTEXTS,
    TABLES,
    TRUNCATE_LIMIT,
    ids,
    is_uuid_prefix,
    search_meta,
)

if TYPE_CHECKING:
    from ..agent import Agent

FUZZY_SEARCH_REQUEST = gojson.Struct("structs.FuzzySearchRequest", {"Text": gojson.STRING, "Context": gojson.STRING})
LIMIT_QUERY, LIMIT_RESULTS, MIN_TERM_LENGTH = 20, 100, 2
PREFIX_CONTEXTS = ("evals", "deployments", "scaling_policies", "volumes", "host_volumes")
DRIVER_FIELDS = {"docker": ("images", "image"), "exec": ("commands", "command"), "raw_exec": ("commands", "command")}
DRIVER_FIELDS["java"] = ("classes", "class")


def _score(name: str, text: str, scope: list[str] | None) -> tuple[int, str, list[str] | None] | None:
    """fuzzyIndex: where the text is in the name, ignoring case; None when it is not."""
    at = name.lower().find(text)
    return None if at < 0 else (at, name, scope)


def _job_matches(job: dict, text: str) -> dict[str, list]:
    """fuzzyMatchesJob: the job's name, its groups, services, tasks, and drivers' image/command/class."""
    found: dict[str, list] = {}
    ns, job_id = job["Namespace"], job["ID"]

    def add(ctx: str, name: str, *scope: str) -> None:
        if (match := _score(name, text, [ns, *scope])) is not None:
            found.setdefault(ctx, []).append(match)

    add("jobs", job["Name"], job_id)
    for group in job["TaskGroups"]:
        add("groups", group["Name"], job_id)
        for service in group.get("Services") or ():
            add("services", service.get("Name") or "", job_id, group["Name"])
        for task in group["Tasks"]:
            add("tasks", task["Name"], job_id, group["Name"])
            for service in task.get("Services") or ():
                add("services", service.get("Name") or "", job_id, group["Name"], task["Name"])
            if task["Driver"] in DRIVER_FIELDS:
                ctx, param = DRIVER_FIELDS[task["Driver"]]
                value = (task.get("Config") or {}).get(param)
                add(ctx, value if isinstance(value, str) else "", job_id, group["Name"], task["Name"])
    return found


def _objects(agent: Agent, ctx: str, ns: str, allowed) -> list:
    """getFuzzyResourceIterator: the context's objects in its index's order."""
    store = agent.store
    if ctx == "jobs":
        jobs = sorted(store.jobs(), key=lambda j: (j["Namespace"], j["ID"]))
        return [j for j in jobs if (ns == "*" and allowed(j["Namespace"])) or j["Namespace"] == ns]
    if ctx == "allocs":
        allocs = sorted(store.allocs(), key=lambda a: a["ID"])
        return [a for a in allocs if (ns == "*" and allowed(a["Namespace"])) or a["Namespace"] == ns]
    if ctx == "variables":
        metas = [m for m in store.variables.all() if ns == "*" or m["Namespace"] == ns]
        return [m for m in metas if ns != "*" or allowed(m["Namespace"])]
    if ctx == "nodes":
        return [agent.node.as_dict(store.index)]
    if ctx == "node_pools":
        return list(BUILT_IN_NODE_POOLS)
    if ctx == "namespaces":
        return [n for n in sorted(store.namespaces) if allowed(n)]
    return []  # plugins: none


def _single(ctx: str, obj, text: str):
    """fuzzyMatchSingle."""
    if ctx == "nodes":
        return _score(obj["Name"], text, [obj["ID"]])
    if ctx == "node_pools":
        return _score(obj, text, [obj])
    if ctx == "namespaces":
        return _score(obj, text, None)
    if ctx == "allocs":
        return _score(obj["Name"], text, [obj["Namespace"], obj["ID"]])
    return _score(obj["Path"], text, [obj["Namespace"], obj["Path"]])  # variables


def fuzzy_matches(agent: Agent, ctx: str, ns: str, text: str, allowed) -> tuple[dict, dict]:
    """getFuzzyMatches: LIMIT_QUERY objects at most, LIMIT_RESULTS matches of a context at most;
    a context is truncated by either limit (and, as there, only the first match of the object at
    the query limit is kept)."""
    objects = _objects(agent, ctx, ns, allowed)
    unsorted: dict[str, list] = {}
    truncations: dict[str, bool] = {}

    def accumulate(limited: bool, found: dict[str, list]) -> None:
        for context, matches in found.items():
            for match in matches:
                if len(unsorted.setdefault(context, [])) >= LIMIT_RESULTS:
                    truncations[context] = True
                    return
                unsorted[context].append(match)
                if limited:
                    truncations[context] = True
                    return

    for i, obj in enumerate(objects[:LIMIT_QUERY]):
        limited = i == LIMIT_QUERY - 1 and len(objects) > LIMIT_QUERY
        if ctx == "jobs":
            accumulate(limited, _job_matches(obj, text))
        elif (match := _single(ctx, obj, text)) is not None:
            accumulate(limited, {ctx: [match]})
    matches = {
        context: [
            {"ID": name, **({"Scope": scope} if scope else {})}  # Scope is omitempty
            for _, name, scope in sorted(found, key=lambda m: (m[0], len(m[1].encode()), m[1]))
        ]
        for context, found in unsorted.items()
    }
    return matches, truncations


async def fuzzy_search(agent: Agent, request: web.Request) -> web.Response:
    args = await decode_body(request, FUZZY_SEARCH_REQUEST)
    text, context = args.get("Text", ""), args.get("Context", "")
    ns = request.query.get("namespace") or "default"
    contexts = list(CONTEXTS) if context == "all" else [context]
    acl = request_acl(request)

    def allowed(namespace: str) -> bool:
        return acl is None or acl.allows(namespace, "read-job")

    if acl is not None:
        # sufficientFuzzySearchPerms and filteredSearchContexts, for the job contexts (read-job):
        # the agent evaluates no node, namespace, variable or volume rule for a client token.
        contexts = [c for c in contexts if c in JOB_CONTEXTS and (ns == "*" or allowed(ns))]
        if not contexts:
            raise HTTPError(403, PERMISSION_DENIED)
    if len(text.encode()) < MIN_TERM_LENGTH:
        raise HTTPError(
            500, f"fuzzy search query must be at least {MIN_TERM_LENGTH} characters, got {len(text.encode())}"
        )
    lowered = text.lower()
    matches: dict[str, list] = {}
    truncations: dict[str, bool] = {}
    prefix = request.query.get("prefix", "")
    lookup = prefix if context == "jobs" or len(prefix.replace("-", "")) % 2 == 0 else prefix[:-1]
    for ctx in contexts:
        if ctx in PREFIX_CONTEXTS:
            if ctx in ("evals", "deployments") and not is_uuid_prefix(lookup):
                continue  # silenceError
            scanned = [i for i in ids(agent, ctx, ns) if i.startswith(lookup)]
            matches[ctx] = [{"ID": i} for i in scanned[:TRUNCATE_LIMIT] if i.startswith(text)]
            truncations[ctx] = len(scanned) > TRUNCATE_LIMIT
    for ctx in contexts:
        if ctx in PREFIX_CONTEXTS:
            continue
        if ctx not in CONTEXTS:
            raise HTTPError(
                500, f"context must be one of [{' '.join(CONTEXTS)}] or 'all' for all contexts; got \"{ctx}\""
            )
        truncations[ctx] = False
        found, truncated = fuzzy_matches(agent, ctx, ns, lowered, allowed)
        matches.update(found)
        truncations.update(truncated)
    # contextToIndex: a context's own name as the table, but variables'; the highest of them.
    index = max([0] + [agent.store.table_index[TABLES[c]] for c in contexts if c in TABLES])
    body = {
        "Matches": dict(sorted(matches.items())),  # encoding/json writes a map's keys sorted
        "Truncations": dict(sorted(truncations.items())),
        **search_meta(index),  # FuzzySearchResponse embeds QueryMeta
    }
    return encode(request, body, headers=query_meta(index))


ENDPOINTS = (
    Endpoint(WRITE, "/v1/search/fuzzy", fuzzy_search, "search_endpoint.go FuzzySearchRequest", ("namespace", "prefix")),
)
