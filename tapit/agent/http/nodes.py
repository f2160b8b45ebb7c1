"""The node: /v1/nodes and /v1/node/<id>... (command/agent/node_endpoint.go NodesRequest and
NodeSpecificRequest, then nomad/node_endpoint.go), the one node this agent is.

NodeSpecificRequest takes the node ID as whatever precedes the suffix; a node ID other than the
agent's is an unknown node: GET answers CodedError(404, "node not found"), the RPCs the others
call fail with an uncoded "node not found"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from ..structs import gojson
from .agent import SERVER_ADDRESS
from .encode import encode
from .errors import HTTPError
from .decode import decode_body
from .query import BLOCKING, blocking, query_bool
from .routing import GET, WRITE, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

_DRAIN_REQUEST = gojson.Struct(
    "api.NodeUpdateDrainRequest",
    {
        "NodeID": gojson.STRING,
        "DrainSpec": gojson.Struct("api.DrainSpec", {"Deadline": gojson.DURATION, "IgnoreSystemJobs": gojson.BOOL}),
        "MarkEligible": gojson.BOOL,
        "Meta": gojson.STRING_MAP,
    },
)
_ELIGIBILITY_REQUEST = gojson.Struct(
    "structs.NodeUpdateEligibilityRequest",
    {
        "NodeID": gojson.STRING,
        "Eligibility": gojson.STRING,
        "NodeEvent": gojson.Struct("structs.NodeEvent", None),
        "UpdatedAt": gojson.INT64,
        **dict.fromkeys(("Region", "Namespace", "AuthToken", "IdempotencyToken"), gojson.STRING),
    },
    promoted=dict.fromkeys(("Region", "Namespace", "AuthToken", "IdempotencyToken"), "WriteRequest"),
)


def _stub_fields(request: web.Request) -> tuple[bool, bool]:
    """http.go parseNodeListStubFields: parseBool's error, wrapped, is a 400."""
    try:
        return (
            query_bool(request, "resources", False, code=500, prefix=_bool_prefix(request, "resources")),
            query_bool(request, "os", False, code=500, prefix=_bool_prefix(request, "os")),
        )
    except HTTPError as err:
        raise HTTPError(400, f"Failed to parse node list fields: {err}") from err


def _bool_prefix(request: web.Request, name: str) -> str:
    return f'Failed to parse value of "{name}" ({request.query.get(name, "")}) as a bool: '


async def list_nodes(agent: Agent, request: web.Request) -> web.Response:
    resources, os_name = _stub_fields(request)
    headers = await blocking(agent.store, request, ("nodes",))
    prefix = request.query.get("prefix", "")
    nodes = [agent.node.stub(agent.store.index, resources, os_name)] if agent.node.id.startswith(prefix) else []
    return encode(request, nodes, headers=headers)


def _node_id(agent: Agent, request: web.Request) -> None:
    if request.match_info["node_id"] != agent.node.id:
        raise HTTPError(500, "node not found")


async def read_node(agent: Agent, request: web.Request) -> web.Response:
    headers = await blocking(agent.store, request, ("nodes",))
    if request.match_info["node_id"] != agent.node.id:
        raise HTTPError(404, "node not found")
    return encode(request, agent.node.as_dict(agent.store.index), headers=headers)


async def node_allocations(agent: Agent, request: web.Request) -> web.Response:
    """nodeAllocations, then Node.GetAllocs: every allocation of the node, whole."""
    headers = await blocking(agent.store, request, ("allocs",))
    node_id = request.match_info["node_id"]
    allocs = [structs.omit_empty(a) for a in agent.store.allocs() if a["NodeID"] == node_id]
    return encode(request, allocs, headers=headers)


async def evaluate_node(agent: Agent, request: web.Request) -> web.Response:
    """nodeForceEvaluate, then Node.Evaluate: structs.NodeUpdateResponse."""
    _node_id(agent, request)
    eval_ids, index = agent.scheduler.node_evaluations(agent.node.modify_index)
    reply = {
        "HeartbeatTTL": 0,
        "EvalIDs": eval_ids,
        "EvalCreateIndex": index,
        "NodeModifyIndex": 0,
        "Features": 0,
        "LeaderRPCAddr": SERVER_ADDRESS,
        "NumNodes": 1,
        "Servers": [
            {"RPCAdvertiseAddr": SERVER_ADDRESS, "RPCMajorVersion": 1, "RPCMinorVersion": 1, "Datacenter": "dc1"}
        ],
        "SchedulingEligibility": agent.node.eligibility,
        "SignedIdentity": None,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": False,
        "NextToken": "",
    }
    return encode(request, reply, headers={"X-Nomad-Index": str(index)})


async def drain_node(agent: Agent, request: web.Request) -> web.Response:
    """nodeToggleDrain, then Node.UpdateDrain: structs.NodeDrainUpdateResponse."""
    body = await decode_body(request, _DRAIN_REQUEST)
    _node_id(agent, request)
    reply = agent.drainer.update_drain(body.get("DrainSpec"), bool(body.get("MarkEligible")), body.get("Meta"))
    return encode(request, reply, headers={"X-Nomad-Index": str(reply["Index"])})


async def node_eligibility(agent: Agent, request: web.Request) -> web.Response:
    """nodeToggleEligibility, then Node.UpdateEligibility: structs.NodeEligibilityUpdateResponse."""
    body = await decode_body(request, _ELIGIBILITY_REQUEST)
    node_id = body.get("NodeID") or request.match_info["node_id"]
    if body.get("NodeEvent") is not None:
        raise HTTPError(500, "node event must not be set")
    eligibility = body.get("Eligibility", "")
    if eligibility not in ("eligible", "ineligible"):
        raise HTTPError(500, f'invalid scheduling eligibility "{eligibility}"')
    if node_id != agent.node.id:
        raise HTTPError(500, "node not found")
    try:
        reply = agent.drainer.update_eligibility(eligibility)
    except ValueError as exc:
        raise HTTPError(500, str(exc)) from exc
    return encode(request, reply, headers={"X-Nomad-Index": str(reply["Index"])})


def _suffix(suffix: str) -> str:
    return "/v1/node/{node_id:.*}/" + suffix


# Not served: /purge (a node that deregisters itself is no node left to run anything), and the
# node pools, which registerHandlers routes apart from the nodes.
NODE = "/v1/node/{node_id:(?!pools$|pool/|.*/purge$).+}"
ENDPOINTS = (
    Endpoint(GET, "/v1/nodes", list_nodes, "node_endpoint.go NodesRequest", (*BLOCKING, "prefix", "resources", "os")),
    Endpoint(WRITE, _suffix("evaluate"), evaluate_node, "node_endpoint.go nodeForceEvaluate"),
    Endpoint(GET, _suffix("allocations"), node_allocations, "node_endpoint.go nodeAllocations", BLOCKING),
    Endpoint(WRITE, _suffix("drain"), drain_node, "node_endpoint.go nodeToggleDrain"),
    Endpoint(WRITE, _suffix("eligibility"), node_eligibility, "node_endpoint.go nodeToggleEligibility"),
    Endpoint(GET, NODE, read_node, "node_endpoint.go nodeQuery", BLOCKING),
)
