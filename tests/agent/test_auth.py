"""No way into the embedded agent without its token, whatever the path, method or headers.

Nomad with ACLs enabled resolves a request without a token to the anonymous policy and one with an
unknown token to "ACL token not found" (nomad/acl.go ResolveToken); every route but the leader,
peers and regions lookups answers 403 before doing anything.  Only the exec websocket may send its token in its first
frame (command/agent/alloc_endpoint.go allocExec, readWsHandshake), and it checks it before it runs
anything."""

import json
import re

import httpx
import pytest
from batch_jobs import batch_job

from tapit.agent.http.server import ROUTES

METHODS = ("GET", "PUT", "POST", "DELETE")
# Paths that end in a route's last word without being that route: the agent once let any path
# ending in /exec through without a token.
LOOKALIKES = (
    "/v1/job/p/exec",
    "/v1/jobs/exec",
    "/v1/job/x/allocations/exec",
    "/v1/client/fs/logs/a/exec",
    "/v1/allocation/a/exec",
    "/v1/event/stream/exec",
    "/v1/exec",
    "/exec",
)


def every_route() -> list[str]:
    """Each path of the agent's route table, as a concrete path (placeholders filled in)."""
    paths = {re.sub(r"\{[^}]+\}", "some-id", endpoint.path) for endpoint in ROUTES}
    assert len(paths) > 10, paths
    return sorted(paths)


def probe_job(agent, marker):
    job = batch_job("p/exec", f"touch {marker}")
    return json.dumps({"Job": job})


@pytest.mark.parametrize("token", ["", "0b4c2f3e-0000-4000-8000-000000000000"])
def test_every_route_refuses_a_request_without_the_right_token(agent, token):
    headers = {"X-Nomad-Token": token} if token else {}
    want = "ACL token not found" if token else "Permission denied"
    # Status.Leader, Status.Peers and Region.List resolve no token; nor does ACL.Bootstrap, which the
    # agent refuses as a cluster bootstrapped already does (tests/agent/test_acl_endpoints.py).
    anonymous = {"/v1/status/leader", "/v1/status/peers", "/v1/regions"}
    bootstrap = "/v1/acl/bootstrap"
    # ACL.ExchangeOneTimeToken reads no caller token: an unknown one-time secret is refused.
    exchange = "/v1/acl/token/onetime/exchange"
    assert {endpoint.path for endpoint in ROUTES if endpoint.anonymous} == anonymous | {bootstrap, exchange}
    for path in [*every_route(), *LOOKALIKES]:
        for method in METHODS:
            resp = httpx.request(method, agent.address + path, headers=headers, content=b"{}", timeout=10)
            if path in anonymous:  # served without a token, as Nomad serves them
                assert resp.status_code == (200 if method == "GET" else 405), method
                continue
            if path == bootstrap:
                assert resp.status_code == (400 if method in ("PUT", "POST") else 405), method
                continue
            if path == exchange:
                assert resp.status_code == (403 if method in ("PUT", "POST") else 405), method
                continue
            assert (resp.status_code, resp.text) == (403, want), (method, path)


def test_a_browser_style_job_registration_is_refused_and_runs_nothing(agent, tmp_path):
    """What a web page open in the user's browser could send: a simple cross-origin POST."""
    marker = tmp_path / "ran"
    for path in ("/v1/job/p/exec", "/v1/jobs", "/v1/job/p"):
        for method in ("PUT", "POST"):
            resp = httpx.request(
                method,
                agent.address + path,
                content=probe_job(agent, marker),
                headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
            )
            assert resp.status_code == 403, (method, path, resp.text)
    assert agent.nomad.jobs.get_jobs() == []
    assert not marker.exists()


def test_exec_without_a_token_in_its_first_frame_starts_nothing(agent, tmp_path):
    from agent.test_streams import close_frame

    agent.register("console", "sleep 60")
    alloc = agent.wait_alloc("console", ("running",))
    marker = tmp_path / "exec-ran"
    command = ["/bin/sh", "-c", f"touch {marker}"]
    assert close_frame(agent, alloc["ID"], command, {}) == (1008, "Permission denied")
    assert close_frame(agent, alloc["ID"], command, {}, {"version": 1, "auth_token": ""}) == (1008, "Permission denied")
    assert close_frame(agent, alloc["ID"], command, {}, {"version": 1, "auth_token": "nope"}) == (
        1008,
        "ACL token not found",
    )
    assert not marker.exists()
    # A plain GET of the exec route (no upgrade) needs the header like any other request.
    resp = httpx.get(
        f"{agent.address}/v1/client/allocation/{alloc['ID']}/exec",
        params={"task": "main", "command": json.dumps(command), "ws_handshake": "true"},
    )
    assert (resp.status_code, resp.text) == (403, "Permission denied")
    assert not marker.exists()
