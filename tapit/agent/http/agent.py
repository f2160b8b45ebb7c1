"""The agent and its status: GET /v1/agent/self (command/agent/agent_endpoint.go) and
GET /v1/status/leader (command/agent/status_endpoint.go), as one Nomad that is server, client
and leader of its region answers them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..node import DATACENTER, VERSION
from .encode import encode
from .routing import GET, Endpoint

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
            "Version": VERSION,
            "VersionPrerelease": "",
            "VersionMetadata": "",
        },
    }
    member = {
        "Name": f"{node.name}.global",
        "Addr": "127.0.0.1",
        "Port": 0,
        "Tags": {"region": "global", "dc": DATACENTER, "build": VERSION, "role": "nomad"},
        "Status": "alive",
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    }
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


async def leader(agent: Agent, request: web.Request) -> web.Response:
    return encode(request, "127.0.0.1:4647")


ENDPOINTS = (
    Endpoint(GET, "/v1/agent/self", agent_self, "agent_endpoint.go AgentSelfRequest"),
    # Status.Leader resolves no ACL token.
    Endpoint(GET, "/v1/status/leader", leader, "status_endpoint.go StatusLeaderRequest", anonymous=True),
)
