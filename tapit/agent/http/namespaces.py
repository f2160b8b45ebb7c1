"""Namespaces: /v1/namespaces, /v1/namespace and /v1/namespace/<name>
(command/agent/namespace_endpoint.go, then nomad/namespace_endpoint.go and the state store's
upsertNamespaceImpl), as Nomad CE serves them.  A job's namespace must be one of these
(structs/namespace.py job_errors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..structs import namespace as namespace_structs
from ..structs.alloc import TERMINAL_CLIENT
from ..structs.job_validate import multierror
from .encode import encode, no_body
from .errors import HTTPError
from .decode import decode_body
from .query import BLOCKING, blocking
from .routing import DELETE, GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent


async def list_namespaces(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("namespaces",))
    prefix = request.query.get("prefix", "")
    namespaces = [ns for name, ns in sorted(agent.store.namespaces.items()) if name.startswith(prefix)]
    return encode(request, namespaces, headers=headers)


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not name:  # NamespaceSpecificRequest, whatever the method
        raise HTTPError(400, "Missing Namespace Name")
    return name


async def read_namespace(agent: Agent, request: web.Request) -> web.Response:
    name = _name(request)
    headers = await blocking(agent.store, request, ("namespaces",))
    ns = agent.store.namespaces.get(name)
    if ns is None:
        raise HTTPError(404, "Namespace not found")
    headers["X-Nomad-Index"] = str(ns["ModifyIndex"])
    return encode(request, ns, headers=headers)


async def create_namespace(agent: Agent, request: web.Request) -> web.Response:
    return await _upsert(agent, request, "")


async def update_namespace(agent: Agent, request: web.Request) -> web.Response:
    return await _upsert(agent, request, _name(request))


async def _upsert(agent: Agent, request: web.Request, path_name: str) -> web.Response:
    """namespaceUpdate, then Namespace.UpsertNamespaces: Validate, SetHash, upsert.  The handler
    answers no body (nil), only the index."""
    fields = await decode_body(request, namespace_structs.NAMESPACE)
    ns = namespace_structs.namespace(fields)
    if path_name and ns["Name"] != path_name:
        raise HTTPError(400, "Namespace name does not match request path")
    errors = namespace_structs.validate(ns)
    if errors:
        raise HTTPError(500, f'Invalid namespace "{ns["Name"]}": {multierror(errors)}')
    if ns["Quota"]:  # CE has no quota specifications (state_store_ce.go quotaSpecExists)
        raise HTTPError(500, f'namespace "{ns["Name"]}" using non-existent quota "{ns["Quota"]}"')
    ns["Hash"] = namespace_structs.set_hash(ns)
    with agent.store.txn("NamespaceUpsert") as tx:
        tx.put_namespace(ns)
    return no_body(request, agent.store.index)


async def delete_namespace(agent: Agent, request: web.Request) -> web.Response:
    """namespaceDelete, then Namespace.DeleteNamespaces: the default namespace stays, and one that
    still has live jobs or allocations (nonTerminalObjectsInNS, this region's) too.  Nomad also
    keeps one that still holds volumes (the agent has none) or variables (not checked here)."""
    name = _name(request)
    if name == namespace_structs.DEFAULT:
        raise HTTPError(500, "can not delete default namespace")
    store = agent.store
    if name not in store.namespaces:  # the state store's DeleteNamespaces
        raise HTTPError(500, "namespace not found")
    errors = []
    if any(j["Namespace"] == name and j["Status"] != "dead" for j in store.jobs()):
        errors.append(f'namespace "{name}" has non-terminal jobs in regions: [global]')
    if any(a["Namespace"] == name and a["ClientStatus"] not in TERMINAL_CLIENT for a in store.allocs()):
        errors.append(f'namespace "{name}" has non-terminal allocations in regions: [global]')
    if errors:
        raise HTTPError(500, multierror(errors))
    with store.txn("NamespaceDelete") as tx:
        tx.delete_namespace(name)
    return no_body(request, store.index)


NAMESPACE = "/v1/namespace/{name:.*}"
ENDPOINTS = (
    Endpoint(GET, "/v1/namespaces", list_namespaces, "namespace_endpoint.go NamespacesRequest", (*BLOCKING, "prefix")),
    Endpoint(WRITE, "/v1/namespace", create_namespace, "namespace_endpoint.go NamespaceCreateRequest"),
    Endpoint(GET, NAMESPACE, read_namespace, "namespace_endpoint.go namespaceQuery", BLOCKING),
    Endpoint(WRITE, NAMESPACE, update_namespace, "namespace_endpoint.go namespaceUpdate"),
    Endpoint(DELETE, NAMESPACE, delete_namespace, "namespace_endpoint.go namespaceDelete"),
)
