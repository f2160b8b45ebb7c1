"""Answers encoded as command/agent/http.go wrap encodes them: JSON (indented under ?pretty),
compressed as the gorilla/handlers CompressHandler around Nomad's mux compresses it."""

from __future__ import annotations

import gzip
import json
import zlib

from aiohttp import web

GO_DEFAULT_COMPRESSION = 6  # compress/flate DefaultCompression is level 6


def encode(request: web.Request, body, status: int = 200, headers: dict | None = None) -> web.Response:
    pretty = request.query.get("pretty")
    if pretty is not None and pretty != "0":
        text = json.dumps(body, indent=4, ensure_ascii=False) + "\n"
    else:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    headers = dict(headers or {})
    data = compress(request, text.encode(), headers)
    return web.Response(body=data, status=status, content_type="application/json", headers=headers)


def compress(request: web.Request, data: bytes, headers: dict) -> bytes:
    """gorilla/handlers CompressHandler, which command/agent/http.go wraps the mux in: always
    `Vary: Accept-Encoding`; the first of gzip or deflate (raw DEFLATE, Go's compress/flate) that
    the client lists, at the default level.  Done here in one call, not by aiohttp: aiohttp prefers
    deflate whatever the client's order, and compresses bodies over 4 KiB in its thread pool, so a
    burst of requests held thousands of 256 KiB zlib states at once and left the memory in the
    threads' malloc arenas."""
    headers["Vary"] = "Accept-Encoding"
    for coding in request.headers.get("Accept-Encoding", "").split(","):
        coding = coding.strip()
        if coding in ("gzip", "deflate"):
            headers["Content-Encoding"] = coding
            if coding == "gzip":
                return gzip.compress(data, compresslevel=GO_DEFAULT_COMPRESSION, mtime=0)
            deflate = zlib.compressobj(GO_DEFAULT_COMPRESSION, wbits=-zlib.MAX_WBITS)
            return deflate.compress(data) + deflate.flush()
    return data


def no_body(request: web.Request, index: int) -> web.Response:
    """A handler that returns nil: wrap writes nothing, only what setIndex set (CompressHandler
    still closes its compressor, so an empty stream of the chosen coding is what goes out)."""
    headers = {"X-Nomad-Index": str(index)}
    return web.Response(status=200, body=compress(request, b"", headers), headers=headers)
