"""The event stream: GET /v1/event/stream (command/agent/event_endpoint.go EventStream), one
line of structs.Events per batch the state store's broker publishes, "{}" as the heartbeat."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from ..state.event_broker import SubscriptionDropped
from .errors import HTTPError
from .query import namespace
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

EVENT_HEARTBEAT = 30.0  # stream.NewJsonStream(ctx, 30*time.Second)
EVENT_WRITE_TIMEOUT = 40.0  # command/agent/event_endpoint.go writeTimeout


async def event_stream(agent: Agent, request: web.Request) -> web.StreamResponse:
    topics: dict[str, set[str]] = {}
    for raw in request.query.getall("topic", []):
        if raw.count(":") > 1:
            raise HTTPError(400, "Invalid topic query")
        topic, _, key = raw.partition(":")
        topics.setdefault(topic, set()).add(key or "*")
    if not topics:
        topics = {"*": {"*"}}
    try:
        index = int(request.query.get("index", "0"))
    except ValueError as exc:
        raise HTTPError(400, "Invalid index") from exc
    sub = agent.store.broker.subscribe(topics, namespace(request), index)
    resp = web.StreamResponse(headers={"Cache-Control": "no-cache"})
    resp.content_type = "application/json"

    def hang_up():
        if request.transport:
            request.transport.abort()

    try:
        await resp.prepare(request)
        await asyncio.wait_for(resp.write(b"{}\n"), EVENT_WRITE_TIMEOUT)
        while True:
            batch = await sub.take(EVENT_HEARTBEAT)
            # event_endpoint.go: each write has a deadline; a client that takes none of it
            # for that long is gone.
            await asyncio.wait_for(resp.write(batch or b"{}\n"), EVENT_WRITE_TIMEOUT)
    except SubscriptionDropped:
        # The stream ends after the last whole line, and the connection with it.
        resp.force_close()
        try:
            await asyncio.wait_for(resp.write_eof(), EVENT_WRITE_TIMEOUT)
        except (ConnectionResetError, TimeoutError):
            hang_up()
    except (ConnectionResetError, TimeoutError):
        hang_up()
    finally:
        sub.close()
    return resp


ENDPOINTS = (
    Endpoint(GET, "/v1/event/stream", event_stream, "event_endpoint.go EventStream", ("topic", "index", "namespace")),
)
