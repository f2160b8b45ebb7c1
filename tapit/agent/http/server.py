"""The embedded agent's HTTP API in Nomad's wire format (command/agent/http.go): the route table
(registerHandlers), and the middleware every request passes (the token check, and wrap's
answers for errors).  Each resource's endpoints are in their own module, as Nomad's
command/agent/*_endpoint.go: adding one is a handler there and a row in its ENDPOINTS."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import (
    acl,
    agent,
    allocations,
    client,
    client_allocations,
    client_fs,
    evaluations,
    events,
    job_parse,
    jobs,
    metrics,
    namespaces,
    nodes,
    scaling,
    system,
    search,
    search_fuzzy,
    validate,
    variables,
)
from .auth import check_request
from .errors import NOT_FOUND, HTTPError, plain_text
from .routing import Endpoint, add_routes, path_routes

if TYPE_CHECKING:
    from ..agent import Agent

ROUTES: tuple[Endpoint, ...] = (
    *acl.ENDPOINTS,
    *agent.ENDPOINTS,
    *nodes.ENDPOINTS,
    *job_parse.ENDPOINTS,
    *jobs.ENDPOINTS,
    *allocations.ENDPOINTS,
    *evaluations.ENDPOINTS,
    *client_fs.ENDPOINTS,
    *client.ENDPOINTS,
    *client_allocations.ENDPOINTS,
    *events.ENDPOINTS,
    *namespaces.ENDPOINTS,
    *system.ENDPOINTS,
    *validate.ENDPOINTS,
    *variables.ENDPOINTS,
    *search.ENDPOINTS,
    *search_fuzzy.ENDPOINTS,
    *scaling.ENDPOINTS,
    *metrics.ENDPOINTS,
)
MAX_BODY_BYTES = 64 * 1024 * 1024


def app(agent: Agent) -> web.Application:
    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            check_request(request, agent.token, agent.acl)
            routes = path_routes(request)
            endpoint = routes.endpoints.get(request.method) if routes else None
            acl.authorize(agent, request, endpoint.handler if endpoint else None)
            return await handler(request)
        except HTTPError as err:
            return plain_text(err.code, str(err), err.headers)
        except web.HTTPNotFound:
            return plain_text(404, NOT_FOUND)

    application = web.Application(middlewares=[middleware], client_max_size=MAX_BODY_BYTES)
    add_routes(application, agent, ROUTES)
    return application
