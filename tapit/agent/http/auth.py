"""The agent's one ACL token, asked of every request but the few Nomad serves without one.

A request without a token is Nomad's anonymous policy, which grants the agent nothing
("Permission denied"), and one with another token is "ACL token not found" (nomad/acl.go
ResolveToken); both are answered 403 before the handler does anything."""

from __future__ import annotations

import hmac

from aiohttp import web

from .errors import HTTPError
from .routing import path_routes


def request_token(request: web.Request) -> str:
    """http.go parseToken: X-Nomad-Token wins over Authorization: Bearer."""
    token = request.headers.get("X-Nomad-Token", "")
    if not token:
        parts = request.headers.get("Authorization", "").split()
        if len(parts) >= 2 and parts[0].lower() == "bearer":
            token = parts[1]
    return token


def check_token(token: str, expected: str) -> None:
    if not token:
        raise HTTPError(403, "Permission denied")
    if not hmac.compare_digest(token, expected):
        raise HTTPError(403, "ACL token not found")


def check_request(request: web.Request, expected: str) -> None:
    """Refuse the request unless it carries the token, or its route is served without one, or it
    may still send the token in its first frame: only a websocket upgrade of a route that reads
    the token from there (command/agent/alloc_endpoint.go allocExec -> readWsHandshake) and checks
    it before it starts anything.  Every other request, whatever its path ends with, needs the
    token up front."""
    routes = path_routes(request)
    if routes is not None and routes.anonymous:
        return
    token = request_token(request)
    endpoint = routes.endpoints.get(request.method) if routes else None
    if (
        endpoint is not None
        and endpoint.token_in_first_frame
        and not token
        and request.headers.get("Upgrade", "").lower() == "websocket"
    ):
        return
    check_token(token, expected)
