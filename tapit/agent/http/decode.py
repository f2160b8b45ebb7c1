"""Request bodies as command/agent/http.go reads them: decodeBody, and parseWriteRequest's
namespace, shared by every endpoint that writes."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..structs import gojson
from .errors import HTTPError

# A body this large is decoded off the event loop, which keeps answering other requests meanwhile.
DECODE_IN_THREAD_BYTES = 256 * 1024
# structs.WriteRequest, embedded in every structs request an endpoint writes with.
WRITE_REQUEST_FIELDS = ("Region", "Namespace", "AuthToken", "IdempotencyToken")


def write_request(name: str, fields: dict[str, gojson.GoType]) -> gojson.Struct:
    """A structs request struct that embeds structs.WriteRequest."""
    return gojson.Struct(
        name,
        {**fields, **dict.fromkeys(WRITE_REQUEST_FIELDS, gojson.STRING)},
        promoted=dict.fromkeys(WRITE_REQUEST_FIELDS, "WriteRequest"),
    )


async def decode_body(request: web.Request, target: gojson.GoType) -> dict:
    """http.go decodeBody, answered CodedError(400, err.Error())."""
    if not request.body_exists:  # req.Body == http.NoBody
        raise HTTPError(400, "Request body is empty")
    raw = await request.read()
    try:
        if len(raw) > DECODE_IN_THREAD_BYTES:
            return await asyncio.to_thread(gojson.decode, raw, target)
        return gojson.decode(raw, target)
    except gojson.JSONError as exc:
        raise HTTPError(400, str(exc)) from exc


def write_namespace(request: web.Request, body: dict) -> str:
    """parseWriteRequest's parseNamespace: the query's, else the body's, else default."""
    return request.query.get("namespace") or body.get("Namespace") or "default"
