"""Errors as command/agent/http.go wrap answers them: a CodedError's status with its text as a
plain-text body."""

from __future__ import annotations

from aiohttp import web

INVALID_METHOD = "Invalid method"  # http.go ErrInvalidMethod
NOT_FOUND = "404 page not found\n"  # what Go's http.ServeMux answers for a path no handler serves


class HTTPError(Exception):
    """http.go CodedError: the status, and str() is the body."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def plain_text(code: int, text: str) -> web.Response:
    return web.Response(text=text, status=code, content_type="text/plain", charset="utf-8")
