"""The agent, its status and its region: /v1/agent/self, members, servers and health
(command/agent/agent_endpoint.go), /v1/status/leader and peers (status_endpoint.go) and
/v1/regions (region_endpoint.go), as one Nomad that is server, client and leader of its region
answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..node import DATACENTER, emulated_version
from .auth import PERMISSION_DENIED, request_acl
from .encode import encode
from .errors import HTTPError
from .routing import GET, Endpoint

REGION = "global"
# The address the agent gives for its server's RPC (it has none: the HTTP API is all it serves).
SERVER_ADDRESS = "127.0.0.1:4647"
# How the agent says it is tapit's own, in the field Nomad's builds use to say what build they
# are (version/version.go VersionMetadata: "ent", "fips1403"): a client reaching it by its
# address (`eval "$(tapit agent env)"`) then runs tasks as it does by default.
VERSION_METADATA = "tapit"

if TYPE_CHECKING:
    from ..agent import Agent


async def agent_self(agent: Agent, request: web.Request) -> web.Response:
    node = agent.node
    port = int(node.http_addr.rsplit(":", 1)[1])
    config = {
        "Region": "global",
        "Datacenter": DATACENTER,
        "NodeName": node.name,
        "DataDir": str(agent.root),
        "BindAddr": "127.0.0.1",
        "Ports": {"HTTP": port, "RPC": 0, "Serf": 0},
        "Addresses": {"HTTP": "127.0.0.1", "RPC": "", "Serf": ""},
        "Client": {"Enabled": True, "NodeClass": "", "NodePool": "default", "MaxKillTimeout": "30s"},
        "Server": {"Enabled": True, "BootstrapExpect": 1},
        "ACL": {"Enabled": True},
        "Version": {
            "BuildDate": "0001-01-01T00:00:00Z",
            "Revision": "",
            "Version": emulated_version(),
            "VersionPrerelease": "",
            "VersionMetadata": VERSION_METADATA,
        },
    }
    member = server_member(agent)
    running = sum(1 for a in agent.store.allocs() if a["ClientStatus"] in ("pending", "running"))
    stats = {
        "client": {
            "node_id": node.id,
            "known_servers": "127.0.0.1:0",
            "num_allocations": str(running),
            "last_heartbeat": "0",
            "heartbeat_ttl": "0",
        },
        "nomad": {
            "server": "true",
            "leader": "true",
            "bootstrap": "true",
            "known_regions": "1",
            "leader_addr": "127.0.0.1:0",
        },
    }
    return encode(request, {"config": config, "member": member, "stats": stats})


def server_member(agent: Agent) -> dict:
    """structs.ServerMember: the agent, the one member of its region's serf pool."""
    return {
        "Name": f"{agent.node.name}.{REGION}",
        "Addr": "127.0.0.1",
        "Port": 0,
        "Tags": {"region": REGION, "dc": DATACENTER, "build": emulated_version(), "role": "nomad"},
        "Status": "alive",
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }


async def members(agent: Agent, request: web.Request) -> web.Response:
    """AgentMembersRequest, then Status.Members: structs.ServerMembersResponse."""
    reply = {"ServerName": agent.node.name, "ServerRegion": REGION, "ServerDC": DATACENTER}
    return encode(request, {**reply, "Members": [server_member(agent)]})


async def servers(agent: Agent, request: web.Request) -> web.Response:
    """listServers: the servers the client knows, the agent itself."""
    return encode(request, [SERVER_ADDRESS])


async def health(agent: Agent, request: web.Request) -> web.Response:
    """HealthRequest: the client (which knows its server) and the server (its own leader) are
    fine; ?type= asks about one of them only (healthResponse, both omitempty)."""
    kinds = request.query.getall("type", None)
    wanted = [k for k in ("client", "server") if kinds is None or k in kinds]
    return encode(request, {kind: {"ok": True, "message": "ok"} for kind in wanted})


async def leader(agent: Agent, request: web.Request) -> web.Response:
    return encode(request, SERVER_ADDRESS)


async def peers(agent: Agent, request: web.Request) -> web.Response:
    """Status.Peers: the servers of the raft configuration, the agent alone."""
    return encode(request, [SERVER_ADDRESS])


async def raft_configuration(agent: Agent, request: web.Request) -> web.Response:
    """OperatorRaftConfiguration, then Operator.RaftGetConfiguration (nomad/operator_endpoint.go):
    a management token only; structs.RaftConfigurationResponse (nomad/structs/operator.go) of the
    one server, the agent, its raft ID the node ID as raft protocol 3 has it, the leader and a
    voter.  Its Index is the raft configuration's, here the store's current index; ?stale (which
    lets a follower answer) is read by no one where the agent is its own leader."""
    if request_acl(request) is not None:
        raise HTTPError(403, PERMISSION_DENIED)
    server = {
        "ID": agent.node.id,
        "Node": server_member(agent)["Name"],
        "Address": SERVER_ADDRESS,
        "Leader": True,
        "Voter": True,
        "RaftProtocol": "3",
    }
    return encode(request, {"Servers": [server], "Index": agent.store.index})


async def regions(agent: Agent, request: web.Request) -> web.Response:
    return encode(request, [REGION])


ENDPOINTS = (
    Endpoint(GET, "/v1/agent/self", agent_self, "agent_endpoint.go AgentSelfRequest"),
    Endpoint(GET, "/v1/agent/members", members, "agent_endpoint.go AgentMembersRequest"),
    Endpoint(GET, "/v1/agent/servers", servers, "agent_endpoint.go listServers"),
    Endpoint(
        GET, "/v1/operator/raft/configuration", raft_configuration, "operator_endpoint.go OperatorRaftConfiguration"
    ),
    Endpoint(GET, "/v1/agent/health", health, "agent_endpoint.go HealthRequest", ("type",)),
    # Status.Leader, Status.Peers and Region.List resolve no ACL token.
    Endpoint(GET, "/v1/status/leader", leader, "status_endpoint.go StatusLeaderRequest", anonymous=True),
    Endpoint(GET, "/v1/status/peers", peers, "status_endpoint.go StatusPeersRequest", anonymous=True),
    Endpoint(GET, "/v1/regions", regions, "region_endpoint.go RegionListRequest", anonymous=True),
)
