"""The agent's tokens, asked of every request but the few Nomad serves without one: its own
management token, and the client tokens of its ACL policies (tapit/agent/acl.py).

A request without a token is Nomad's anonymous policy, which grants the agent nothing
("Permission denied"), and one with an unknown token is "ACL token not found" (nomad/acl.go
ResolveToken); both are answered 403 before the handler does anything. A client token's ACL is
kept on the request for the capability checks (tapit/agent/http/acl.py)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from aiohttp import web

from .errors import HTTPError
from .routing import path_routes

if TYPE_CHECKING:
    from ..acl import ACL, AclStore

PERMISSION_DENIED = "Permission denied"  # nomad/structs/errors.go errPermissionDenied


def request_token(request: web.Request) -> str:
    """http.go parseToken: X-Nomad-Token wins over Authorization: Bearer."""
    token = request.headers.get("X-Nomad-Token", "")
    if not token:
        parts = request.headers.get("Authorization", "").split()
        if len(parts) >= 2 and parts[0].lower() == "bearer":
            token = parts[1]
    return token


def check_token(token: str, expected: str, tokens: AclStore) -> ACL | None:
    """The token's ACL: None for a management token (the agent's, or the ACL bootstrap's); 403 for
    no token or an unknown one."""
    if not token:
        raise HTTPError(403, PERMISSION_DENIED)
    if hmac.compare_digest(token, expected) or tokens.is_management(token):
        return None
    acl = tokens.resolve(token)
    if acl is None:
        raise HTTPError(403, "ACL token not found")
    return acl


def request_acl(request: web.Request) -> ACL | None:
    """The client token's ACL the request carries; None for the management token."""
    return request.get("acl")


def require(request: web.Request, namespace: str, *capabilities: str) -> None:
    """AllowNsOpAnyOf for a handler that checks its token itself."""
    acl = request_acl(request)
    if acl is not None and not acl.allows(namespace, *capabilities):
        raise HTTPError(403, PERMISSION_DENIED)


def check_request(request: web.Request, expected: str, tokens: AclStore) -> None:
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
    request["acl"] = check_token(token, expected, tokens)
