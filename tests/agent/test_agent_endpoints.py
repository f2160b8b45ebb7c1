"""The agent, status, region and system endpoints, against the structs Nomad answers with
(nomad/structs/structs.go, command/agent/agent_endpoint.go), field for field."""

import time

import httpx

# structs.ServerMembersResponse and structs.ServerMember.
MEMBERS_RESPONSE = {"ServerName", "ServerRegion", "ServerDC", "Members"}
SERVER_MEMBER = {
    "Name",
    "Addr",
    "Port",
    "Tags",
    "Status",
    "ProtocolMin",
    "ProtocolMax",
    "ProtocolCur",
    "DelegateMin",
    "DelegateMax",
    "DelegateCur",
}


def test_members(agent):
    body = agent.http.get("/v1/agent/members").json()
    assert set(body) == MEMBERS_RESPONSE and (body["ServerRegion"], body["ServerDC"]) == ("global", "dc1")
    (member,) = body["Members"]
    assert set(member) == SERVER_MEMBER and member["Status"] == "alive"
    assert member == agent.http.get("/v1/agent/self").json()["member"]


def test_health(agent):
    """healthResponse: `client` and `server` (omitempty), each {"ok", "message"}."""
    assert agent.http.get("/v1/agent/health").json() == {
        "client": {"ok": True, "message": "ok"},
        "server": {"ok": True, "message": "ok"},
    }
    assert agent.http.get("/v1/agent/health", params={"type": "server"}).json() == {
        "server": {"ok": True, "message": "ok"}
    }


def test_servers_peers_leader_and_regions(agent):
    leader = agent.http.get("/v1/status/leader").json()
    assert agent.http.get("/v1/status/peers").json() == [leader]
    assert agent.http.get("/v1/agent/servers").json() == [leader]
    assert agent.http.get("/v1/regions").json() == ["global"]
    # Status.Peers and Region.List resolve no token.
    assert httpx.get(agent.address + "/v1/status/peers").json() == [leader]
    assert httpx.get(agent.address + "/v1/regions").json() == ["global"]


# structs.RaftConfigurationResponse and structs.RaftServer (nomad/structs/operator.go).
RAFT_CONFIGURATION = {"Servers", "Index"}
RAFT_SERVER = {"ID", "Node", "Address", "Leader", "Voter", "RaftProtocol"}


def test_raft_configuration_is_a_server_of_one_the_leader(agent):
    """Operator.RaftGetConfiguration (nomad/operator_endpoint.go): the agent alone, leader and voter."""
    agent.register("raft", "sleep 60")
    body = agent.http.get("/v1/operator/raft/configuration").json()
    assert set(body) == RAFT_CONFIGURATION and body["Index"] >= agent.http.get("/v1/job/raft").json()["ModifyIndex"]
    (server,) = body["Servers"]
    assert set(server) == RAFT_SERVER
    assert server["Address"] == agent.http.get("/v1/status/leader").json()
    assert server["Node"] == agent.http.get("/v1/agent/members").json()["Members"][0]["Name"]
    assert (server["Leader"], server["Voter"], server["RaftProtocol"]) == (True, True, "3")
    assert agent.http.get("/v1/operator/raft/configuration", params={"stale": "true"}).json()["Servers"] == [server]
    # It takes a management token, as RaftGetConfiguration checks aclObj.IsManagement().
    assert httpx.get(agent.address + "/v1/operator/raft/configuration").status_code == 403


def test_system_gc_collects_dead_batch_jobs_and_leaves_the_rest(agent):
    agent.register("done", "true")
    done = agent.wait_alloc("done", ("complete",))
    agent.register("busy", "sleep 60")
    agent.wait_alloc("busy", ("running",))
    resp = agent.http.put("/v1/system/gc")
    assert (resp.status_code, resp.content) == (200, b"")  # the handler answers nil
    assert agent.http.get("/v1/job/done").status_code == 404
    _eventually_gone(agent, done["ID"])
    assert agent.nomad.job.get_job("busy")["Status"] == "running"
    assert agent.http.post("/v1/system/gc").text == "Invalid method"  # PUT only
    assert agent.http.put("/v1/system/reconcile/summaries").status_code == 200


def _eventually_gone(agent, alloc_id, timeout=10.0):
    """The collected allocation's directory is removed off the event loop, soon after."""
    deadline = time.monotonic() + timeout
    while (agent.home / "agent" / "allocs" / alloc_id).exists():
        assert time.monotonic() < deadline, "the collected allocation's directory stayed"
        time.sleep(0.05)
