"""Variables: GET /v1/vars and GET, PUT, POST, DELETE /v1/var/<path>
(command/agent/variable_endpoint.go VariablesListRequest and VariableSpecificRequest), over the
server's Variables endpoint (tapit/agent/variables.py).

What each answer carries, as the handlers set it:
- a read or a list: setMeta's headers (X-Nomad-Index, and X-Nomad-NextToken when a page follows),
  on a 404 too;
- a write or a delete: X-Nomad-Index alone, the write's index, or the conflicting variable's
  ModifyIndex on a 409 (0 for a variable that does not exist; a lock operation's 409 keeps the
  write's index), or 0 when the RPC failed;
- a lock renewal: no index at all.
A parameter http.go's parse cannot read is answered by parse itself, and the handler then writes
its own "failed to parse parameters" after it, so the body holds both texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from tapit.gostrconv import quote

from ..structs import gojson
from ..structs.errors import RPCError
from ..structs.variables import VARIABLE_DECRYPTED
from .bexpr import FilterError, compile_filter
from .encode import compress, encode
from .errors import HTTPError, from_rpc
from .query import block, namespace, parse_wait, query_meta
from .routing import DELETE, GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

TABLES = ("variables",)
PER_PAGE_ERROR = "Expect a number for `per_page` query string parameter"  # http.go parsePagination
INT32 = 1 << 31


def parse_query(request: web.Request) -> tuple[int, int, float]:
    """http.go parse as these handlers run it: per_page (strconv.ParseInt(s, 10, 32)), then the
    blocking parameters; per_page, the index and the wait."""
    try:
        per_page = 0
        if text := request.query.get("per_page", ""):
            digits = text[1:] if text[0] in "+-" else text
            if not (digits.isascii() and digits.isdigit()) or not -INT32 <= int(text) < INT32:
                raise HTTPError(400, PER_PAGE_ERROR)
            per_page = int(text)
        return (per_page, *parse_wait(request))
    except HTTPError as err:
        raise HTTPError(400, f"{err}failed to parse parameters") from None


def lock_operation(request: web.Request) -> str | None:
    """getLockOperation: the lock operation a parameter names (present, whatever its value)."""
    named = [
        op
        for op, present in (
            ("lock-renew", "lock-renew" in request.query),
            ("lock-acquire", "lock-acquire" in request.query),
            ("lock-release", "lock-release" in request.query),
        )
        if present
    ]
    if len(named) > 1:
        raise HTTPError(400, "multiple lock operations")
    return named[0] if named else None


def variable_path(request: web.Request) -> str:
    path = request.match_info["path"]
    if not path:
        raise HTTPError(400, "missing variable path")
    return path


def parse_cas(request: web.Request) -> int | None:
    """parseCAS: the index ?cas= names (strconv.ParseUint), or None without one."""
    text = request.query.get("cas", "")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise HTTPError(400, f"can not parse cas: strconv.ParseUint: parsing {quote(text)}: invalid syntax")
    if int(text) >= 1 << 64:
        raise HTTPError(400, f"can not parse cas: strconv.ParseUint: parsing {quote(text)}: value out of range")
    return int(text)


async def decode_variable(request: web.Request) -> dict:
    """http.go decodeBody into a structs.VariableDecrypted, its errors CodedError(400)."""
    if not request.body_exists:
        raise HTTPError(400, "Request body is empty")
    try:
        return gojson.decode(await request.read(), VARIABLE_DECRYPTED)
    except gojson.JSONError as exc:
        raise HTTPError(400, str(exc)) from exc


def rpc_failed(err: RPCError, index: int | None = 0) -> HTTPError:
    """A write whose RPC failed answers the error with X-Nomad-Index 0: the handler sets the reply's
    index, and a failed RPC leaves the reply empty.  (The handlers also answer 409 for an error
    that says "cas error:", which no error of Nomad's says any more.)"""
    return from_rpc(str(err), None if index is None else {"X-Nomad-Index": str(index)})


def written(request: web.Request, reply, status: int = 200, lock_operation: bool = False) -> web.Response:
    """The answer to a write: a 409 with the conflicting variable, and its ModifyIndex (the
    write's own index after a lock operation, whose handler sets it whatever the outcome), else
    `status` with the written variable and the write's index."""
    headers = {"X-Nomad-Index": str(reply.index)}
    if reply.conflict is not None:
        if not lock_operation:
            headers["X-Nomad-Index"] = str(reply.conflict["ModifyIndex"])
        return encode(request, reply.conflict, 409, headers)
    if reply.output is None:  # a delete: 204, no body, the compression's headers all the same
        compress(request, b"", headers)
        return web.Response(status=status, headers=headers)
    return encode(request, reply.output, status, headers)


async def list_variables(agent: Agent, request: web.Request) -> web.Response:
    """VariablesListRequest -> Variables.List (and listAllVariables for namespace=*)."""
    per_page, min_index, wait = parse_query(request)
    prefix = request.query.get("prefix", "")
    next_token = request.query.get("next_token", "")
    reverse = request.query.get("reverse", "") == "true"  # http.go parseReverse
    selected = None
    if text := request.query.get("filter", ""):
        try:
            selected = compile_filter(text)
        except FilterError as exc:
            raise HTTPError(400, f"failed to create result paginator: {exc}") from exc
    store = agent.store
    await block(store, TABLES, min_index, wait, lambda: store.query_index(TABLES))
    page, token = store.variables.page(namespace(request), prefix, next_token, per_page, reverse, selected)
    return encode(request, page, headers=query_meta(store.query_index(TABLES), token))


async def read_variable(agent: Agent, request: web.Request) -> web.Response:
    """variableQuery -> Variables.Read: blocks until the variable changes (or, while there is none,
    until any variable does)."""
    path = variable_path(request)
    _, min_index, wait = parse_query(request)
    ns = namespace(request)
    await block(agent.store, TABLES, min_index, wait, lambda: agent.variables.read(ns, path)[1])
    meta, index = agent.variables.read(ns, path)
    if meta is None:
        raise HTTPError(404, "variable not found", query_meta(index))
    return encode(request, agent.variables.decrypted(meta), headers=query_meta(index))


async def write_variable(agent: Agent, request: web.Request) -> web.Response:
    """VariableSpecificRequest's PUT and POST: variableUpsert, or the lock operation named."""
    path = variable_path(request)
    lock_op = lock_operation(request)
    if request.query.get("cas", "") and lock_op:
        raise HTTPError(400, "CAS can't be used with lock operations")
    var = await decode_variable(request)
    ns = namespace(request)
    if not lock_op:
        if not var.get("Items"):
            raise HTTPError(400, "variable missing required Items object")
        var["Path"] = path
        op, cas = "set", parse_cas(request)
        if cas is not None:
            op, var["ModifyIndex"] = "cas", cas
    elif lock_op == "lock-renew":
        try:
            meta = agent.variables.renew_lock(ns, path, (var.get("Lock") or {}).get("ID", ""))
        except RPCError as err:
            raise rpc_failed(err, None) from None
        return encode(request, meta)
    else:
        var["Path"] = path
        op = lock_op
    try:
        return written(request, agent.variables.apply(op, var, ns), lock_operation=lock_op is not None)
    except RPCError as err:
        raise rpc_failed(err) from None


async def delete_variable(agent: Agent, request: web.Request) -> web.Response:
    """variableDelete: 204 once deleted (or when there was nothing to delete)."""
    path = variable_path(request)
    ns = namespace(request)
    op, cas = "delete", parse_cas(request)
    if cas is not None:
        op = "delete-cas"
    var = {"Path": path, "ModifyIndex": cas or 0, "Lock": None}
    try:
        return written(request, agent.variables.apply(op, var, ns), 204)
    except RPCError as err:
        raise rpc_failed(err) from None


VAR = "/v1/var/{path:.*}"
ENDPOINTS = (
    Endpoint(
        GET,
        "/v1/vars",
        list_variables,
        "variable_endpoint.go VariablesListRequest",
        ("per_page", "index", "wait", "namespace", "prefix", "next_token", "filter", "reverse"),
    ),
    Endpoint(
        GET,
        VAR,
        read_variable,
        "variable_endpoint.go variableQuery",
        ("per_page", "index", "wait", "namespace"),
        invalid_method=400,
    ),
    Endpoint(
        WRITE,
        VAR,
        write_variable,
        "variable_endpoint.go variableUpsert, variableLockOperation, variableLockRenew",
        ("namespace", "cas", "lock-renew", "lock-acquire", "lock-release"),
        invalid_method=400,
    ),
    Endpoint(
        DELETE, VAR, delete_variable, "variable_endpoint.go variableDelete", ("namespace", "cas"), invalid_method=400
    ),
)
