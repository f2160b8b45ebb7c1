"""Errors as command/agent/http.go wrap answers them: a CodedError's status with its text as a
plain-text body."""

from __future__ import annotations

from aiohttp import web

from ..structs.errors import RPC_CODED

INVALID_METHOD = "Invalid method"  # http.go ErrInvalidMethod
NOT_FOUND = "404 page not found\n"  # what Go's http.ServeMux answers for a path no handler serves
PERMISSION_DENIED = "Permission denied"  # structs.ErrPermissionDenied


class HTTPError(Exception):
    """http.go CodedError: the status, and str() is the body; `headers` are those the handler had
    set before it failed (a write's X-Nomad-Index, a read's meta)."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


def from_rpc(text: str, headers: dict | None = None) -> HTTPError:
    """How wrap answers an error an RPC returned (its err.Error()): an ErrRPCCoded's code with what
    follows the first comma after its prefix (structs.CodeFromRPCCodedErr), 403 for a permission
    denied however wrapped, else 500 with the text as it is."""
    if text.startswith(RPC_CODED):
        code, comma, message = text[len(RPC_CODED) :].partition(",")
        if comma and code.isdigit():
            return HTTPError(int(code), message, headers)
    if text.endswith(PERMISSION_DENIED):
        return HTTPError(403, PERMISSION_DENIED, headers)
    return HTTPError(500, text, headers)


def plain_text(code: int, text: str, headers: dict | None = None) -> web.Response:
    return web.Response(text=text, status=code, content_type="text/plain", charset="utf-8", headers=headers)
