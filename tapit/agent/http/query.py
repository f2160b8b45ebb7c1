"""Query parameters as command/agent/http.go and the handlers read them: blocking queries
(?index= and ?wait=, answered with the X-Nomad-* meta headers of setMeta), the namespace, the
filter expression, and bool parameters, each in the words of the handler that parses it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
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


async def blocking(store: Store, request: web.Request, tables: tuple[str, ...]) -> dict:
    """Honour ?index=&wait= (http.go parseWait) and return the read's meta headers (setMeta)."""
    try:
        min_index = int(request.query.get("index", "0"))
    except ValueError as exc:
        raise HTTPError(400, "Invalid index") from exc
    wait = MAX_WAIT
    if "wait" in request.query:
        try:
            wait = min(parse_duration(request.query["wait"]), MAX_WAIT)
        except ValueError as exc:
            raise HTTPError(400, "Invalid wait time") from exc
    if min_index:
        await store.wait(tables, min_index, wait + random.uniform(0, wait / 16))
    return {
        "X-Nomad-Index": str(store.query_index(tables)),
        "X-Nomad-LastContact": "0",
        "X-Nomad-KnownLeader": "true",
    }
