"""Query parameters as command/agent/http.go and the handlers read them: blocking queries
(?index= and ?wait=, answered with the X-Nomad-* meta headers of setMeta), the namespace, the
filter expression, and bool parameters, each in the words of the handler that parses it."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from tapit.gostrconv import parse_bool

from ..structs import parse_duration
from .bexpr import FilterError, compile_filter
from .errors import HTTPError

if TYPE_CHECKING:
    from ..state.store import Store

MAX_WAIT = 300.0  # structs.MaxBlockingRPCQueryTime
BLOCKING = ("index", "wait")  # the parameters blocking() reads
# structs.QueryMeta as the agent answers it: the one server, its own leader, one page.
QUERY_META = {"LastContact": 0, "KnownLeader": False, "NextToken": ""}


def query_bool(request: web.Request, name: str, default: bool, code: int = 400, prefix: str = "") -> bool:
    """A bool query parameter as Nomad's handlers read it: absent or empty means the default
    (url.Values.Get returns "" for both); an invalid value is an error with the handler's own
    wording and status (query_bool_lax where the handler drops the error)."""
    value = request.query.get(name, "")
    if not value:
        return default
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise HTTPError(code, f"{prefix}{exc}") from exc


def query_bool_lax(request: web.Request, name: str) -> bool:
    """`v, _ := strconv.ParseBool(q.Get(name))`: anything that is not a Go bool is false."""
    try:
        return parse_bool(request.query.get(name, ""))
    except ValueError:
        return False


def parse_bool_param(request: web.Request, name: str, default: bool) -> bool:
    """http.go parseBool: an uncoded error, so a 500."""
    value = request.query.get(name, "")
    return query_bool(
        request, name, default, code=500, prefix=f"Failed to parse value of {json.dumps(name)} ({value}) as a bool: "
    )


def namespace(request: web.Request) -> str:
    """http.go parseNamespace: the default namespace unless one is named."""
    return request.query.get("namespace") or "default"


def in_namespace(request: web.Request, obj: dict) -> bool:
    ns = namespace(request)
    return ns == "*" or obj["Namespace"] == ns


def apply_filter(request: web.Request, items: Iterable[dict]) -> list[dict]:
    """The objects ?filter= selects (http.go parseFilter; the RPC's go-bexpr evaluator)."""
    text = request.query.get("filter")
    if not text:
        return list(items)
    try:
        predicate = compile_filter(text)
    except FilterError as exc:
        raise HTTPError(400, str(exc)) from exc
    return [item for item in items if predicate(item)]


def parse_wait(request: web.Request) -> tuple[int, float]:
    """http.go parseWait: ?wait= (time.ParseDuration), then ?index= (strconv.ParseUint), and the
    time the query may block as QueryOptions.TimeToBlock has it: MaxBlockingRPCQueryTime at
    most, and that much too when the wait asked for is zero or negative."""
    wait = MAX_WAIT
    if text := request.query.get("wait", ""):
        try:
            wait = parse_duration(text)
        except ValueError as exc:
            raise HTTPError(400, "Invalid wait time") from exc
    min_index = 0
    if text := request.query.get("index", ""):
        if not (text.isascii() and text.isdigit()) or int(text) >= 1 << 64:
            raise HTTPError(400, "Invalid index")
        min_index = int(text)
    return min_index, wait if 0 < wait <= MAX_WAIT else MAX_WAIT


async def block(store: Store, tables: tuple[str, ...], min_index: int, wait: float, index_of: Callable[[], int]):
    """nomad/rpc.go blockingRPC: while the query's index (index_of) is not past min_index, wait for
    a write to its tables and run it again, for `wait` plus up to 1/16 of it (JitterFraction) at
    most.  A query without an index does not block."""
    if not min_index:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait + random.uniform(0, wait / 16)
    while index_of() <= min_index:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await store.wait(tables, max(store.table_index[t] for t in tables), remaining)


def query_meta(index: int, next_token: str = "") -> dict:
    """http.go setMeta: the X-Nomad-* headers of a read (NextToken only when there is one)."""
    headers = {"X-Nomad-Index": str(index), "X-Nomad-LastContact": "0", "X-Nomad-KnownLeader": "true"}
    if next_token:
        headers["X-Nomad-NextToken"] = next_token
    return headers


async def blocking(store: Store, request: web.Request, tables: tuple[str, ...]) -> dict:
    """Honour ?index=&wait= on a read of whole tables and return its meta headers."""
    min_index, wait = parse_wait(request)
    await block(store, tables, min_index, wait, lambda: store.query_index(tables))
    return query_meta(store.query_index(tables))
