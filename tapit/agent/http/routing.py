"""The route table's rows and how they are served, as command/agent/http.go registerHandlers
and the *SpecificRequest handlers do it: a handler per path that tells the methods apart itself
and answers any other with CodedError(405, ErrInvalidMethod).

A row is one endpoint: its methods, its path (aiohttp's pattern; `{job_id:.*}` takes slashes, as
JobSpecificRequest takes the job ID as whatever precedes the suffix), its handler, the Nomad
function it follows and the query parameters it honours.  Rows sharing a path are served by one
route, tried in the order the table lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import INVALID_METHOD, HTTPError

if TYPE_CHECKING:
    from ..agent import Agent

Handler = Callable[["Agent", web.Request], Awaitable[web.StreamResponse]]
GET = ("GET",)
WRITE = ("PUT", "POST")  # Nomad's write handlers take either
DELETE = ("DELETE",)
# A handler that checks no method serves them all (those an HTTP client sends).
ANY = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")


@dataclass(frozen=True)
class Endpoint:
    methods: tuple[str, ...]
    path: str
    handler: Handler
    follows: str  # the Nomad function, as "<file under command/agent/> <function>"
    params: tuple[str, ...] = ()
    # Served without a token (and a method the path does not serve is a 405 before any token is
    # asked for), as Nomad's handlers whose RPC resolves no ACL token.
    anonymous: bool = False
    # May carry its token in its first websocket frame instead of a header (websockets.go
    # readWsHandshake, ws_handshake=true).
    token_in_first_frame: bool = False
    # The status of a method the path does not serve: most handlers answer
    # CodedError(405, ErrInvalidMethod), a few (VariableSpecificRequest) CodedError(400, ...).
    invalid_method: int = 405


class PathRoutes:
    """The endpoints of one path, by method."""

    def __init__(self, agent: Agent, endpoints: dict[str, Endpoint]):
        self.agent = agent
        self.endpoints = endpoints
        self.anonymous = any(endpoint.anonymous for endpoint in endpoints.values())
        self.invalid_method = next(iter(endpoints.values())).invalid_method

    async def serve(self, request: web.Request) -> web.StreamResponse:
        endpoint = self.endpoints.get(request.method)
        if endpoint is None:
            raise HTTPError(self.invalid_method, INVALID_METHOD)
        return await endpoint.handler(self.agent, request)


def add_routes(app: web.Application, agent: Agent, table: Iterable[Endpoint]) -> None:
    paths: dict[str, dict[str, Endpoint]] = {}
    for endpoint in table:
        methods = paths.setdefault(endpoint.path, {})
        for method in endpoint.methods:
            if method in methods:
                raise ValueError(f"{method} {endpoint.path} is in the route table twice")
            methods[method] = endpoint
    for path, methods in paths.items():
        app.router.add_route("*", path, PathRoutes(agent, methods).serve)


def path_routes(request: web.Request) -> PathRoutes | None:
    """The endpoints of the path the request matched, or None when no route matched it."""
    owner = getattr(request.match_info.route.handler, "__self__", None)
    return owner if isinstance(owner, PathRoutes) else None
