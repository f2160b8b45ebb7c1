"""The ACL bootstrap (refused: the agent is bootstrapped when made), token and policy endpoints (command/agent/acl_endpoint.go, nomad/acl_endpoint.go),
each answer's fields those of its Go struct (nomad/structs/acl.go ACLToken, ACLTokenListStub,
ACLPolicy, ACLPolicyListStub), management-only where Nomad's RPC asks IsManagement, and kept
across a restart as the rest of acl.json is."""

import base64
import hashlib

import httpx
from batch_jobs import batch_job

from tapit.agent import daemon

# nomad/structs/acl.go, in declaration order (encoding/json writes them so).
ACL_TOKEN = [
    "AccessorID",
    "SecretID",
    "Name",
    "Type",
    "Policies",
    "Roles",
    "Global",
    "Hash",
    "CreateTime",
    "ExpirationTime",
    "ExpirationTTL",
    "CreateIndex",
    "ModifyIndex",
]
ACL_TOKEN_LIST_STUB = [f for f in ACL_TOKEN if f not in ("SecretID", "ExpirationTTL")]
# structs.ACLPolicy (nomad/structs/acl.go), RulesJSON as ACL.GetPolicy sets it on a read.
ACL_POLICY = ["Name", "Description", "Rules", "RulesJSON", "JobACL", "Hash", "CreateIndex", "ModifyIndex"]
# acl.Policy (acl/policy.go), no json tags: every field by its Go name.
ACL_RULES = ["Namespaces", "NodePools", "HostVolumes", "Agent", "Node", "Operator", "Sentinel", "Quota", "Plugin"]
ACL_RULES += ["Raw", "ExtraKeysHCL"]
ACL_POLICY_LIST_STUB = ["Name", "Description", "JobACL", "Hash", "CreateIndex", "ModifyIndex"]
# acl/policy.go expandNamespacePolicy("read").
READ = ["list-jobs", "parse-job", "read-job", "csi-list-volume", "csi-read-volume", "read-job-scaling"]
READ += ["list-scaling-policies", "read-scaling-policy", "host-volume-read"]
BOOTSTRAP_DONE = "ACL bootstrap already done (reset index: "  # nomad/acl_endpoint.go Bootstrap


def as_token(agent, secret: str) -> httpx.Client:
    return httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": secret}, timeout=15)


def blake2b_256(*parts: str) -> str:
    return base64.b64encode(hashlib.blake2b("".join(parts).encode(), digest_size=32).digest()).decode()


def test_bootstrap_is_refused_as_by_a_cluster_bootstrapped_already(agent, tmp_path):
    """The agent's own token is its bootstrap token: a bootstrap, which needs no token, would give
    a management token (the power to run commands) to anyone who can reach the port."""
    anonymous = httpx.Client(base_url=agent.address, timeout=15)
    for method in ("POST", "PUT"):
        for headers in ({}, {"Content-Type": "text/plain", "Origin": "https://evil.example"}):
            refused = anonymous.request(method, "/v1/acl/bootstrap", headers=headers)
            assert (refused.status_code, refused.text) == (400, f"{BOOTSTRAP_DONE}1)"), (method, headers)
    secret = "0b4c2f3e-0000-4000-8000-000000000001"
    refused = anonymous.post("/v1/acl/bootstrap", json={"BootstrapSecret": secret})
    assert (refused.status_code, refused.text) == (400, f"{BOOTSTRAP_DONE}1)")
    assert agent.http.post("/v1/acl/bootstrap").status_code == 400  # with the agent's own token too
    # The agent's own token is the bootstrap token, shown as a bootstrapped cluster shows its own.
    (listed,) = agent.http.get("/v1/acl/tokens").json()  # and no other was made
    own = agent.http.get("/v1/acl/token/self").json()
    assert list(own) == ACL_TOKEN and own["SecretID"] == agent.token
    assert (own["Name"], own["Type"], own["Global"], own["Policies"], own["CreateIndex"]) == (
        "Bootstrap Token",
        "management",
        True,
        None,
        1,
    )
    assert own["Hash"] == blake2b_256("Bootstrap Token", "management", "global")  # ACLToken.SetHash
    assert listed == {k: v for k, v in own.items() if k in ACL_TOKEN_LIST_STUB}
    assert as_token(agent, secret).get("/v1/acl/tokens").status_code == 403
    # What a stranger's token can do then: nothing, not even register a job that would run.
    marker = tmp_path / "ran"
    job = {"Job": {**batch_job("intruder", f"touch {marker}")}}
    assert as_token(agent, secret).post("/v1/jobs", json=job).status_code == 403
    assert not marker.exists()


def test_tokens_are_created_read_updated_and_deleted_by_a_management_token_only(agent):
    assert agent.http.put("/v1/acl/policy/reader", json={"Name": "reader", "Rules": ""}).status_code == 200
    created = agent.http.post("/v1/acl/token", json={"Name": "first", "Type": "client", "Policies": ["reader"]})
    assert created.status_code == 200, created.text
    token = created.json()
    assert list(token) == ACL_TOKEN
    assert agent.http.get(f"/v1/acl/token/{token['AccessorID']}").json() == token
    client = as_token(agent, token["SecretID"])
    # ACL.GetToken: a client token reads itself, and no other; lists and writes are management's.
    assert client.get(f"/v1/acl/token/{token['AccessorID']}").json() == token
    other = agent.http.post("/v1/acl/token", json={"Name": "other", "Type": "client", "Policies": ["reader"]}).json()
    for method, path in (
        ("GET", f"/v1/acl/token/{other['AccessorID']}"),
        ("GET", "/v1/acl/tokens"),
        ("POST", "/v1/acl/token"),
        ("DELETE", f"/v1/acl/token/{other['AccessorID']}"),
        ("DELETE", "/v1/acl/policy/reader"),
    ):
        body = {"Name": "x", "Type": "client", "Policies": ["reader"]} if method == "POST" else None
        resp = client.request(method, path, json=body)
        assert (resp.status_code, resp.text) == (403, "Permission denied"), (method, path)
    update = {"AccessorID": token["AccessorID"], "Name": "renamed", "Type": "client", "Policies": ["reader"]}
    updated = agent.http.post(f"/v1/acl/token/{token['AccessorID']}", json=update)
    assert updated.status_code == 200, updated.text
    renamed = updated.json()
    # state_store.go upsertACLTokenTxn keeps the SecretID, the create time and index.
    assert renamed["SecretID"] == token["SecretID"] and renamed["CreateTime"] == token["CreateTime"]
    assert (renamed["Name"], renamed["CreateIndex"]) == ("renamed", token["CreateIndex"])
    mismatch = agent.http.post(f"/v1/acl/token/{other['AccessorID']}", json=update)
    assert (mismatch.status_code, mismatch.text) == (400, "ACL token accessor does not match request path")
    deleted = agent.http.delete(f"/v1/acl/token/{token['AccessorID']}")
    assert deleted.status_code == 200 and deleted.text == ""  # http.go wrap writes no body for nil
    assert agent.http.get(f"/v1/acl/token/{token['AccessorID']}").status_code == 404
    assert sorted(t["Name"] for t in agent.http.get("/v1/acl/tokens").json()) == ["Bootstrap Token", "other"]
    assert client.get("/v1/jobs").text == "ACL token not found"


def test_policies_are_listed_read_and_deleted(agent):
    rules = 'namespace "default" { policy = "read" }'
    assert agent.http.put("/v1/acl/policy/a", json={"Name": "a", "Description": "d", "Rules": rules}).status_code == 200
    assert agent.http.put("/v1/acl/policy/b", json={"Name": "b", "Rules": ""}).status_code == 200
    policy = agent.http.get("/v1/acl/policy/a").json()
    assert list(policy) == ACL_POLICY
    assert policy["Hash"] == blake2b_256("a", "d", rules)  # ACLPolicy.SetHash
    parsed = policy["RulesJSON"]
    assert list(parsed) == ACL_RULES and parsed["Raw"] == rules and parsed["Agent"] is None
    assert parsed["Namespaces"] == [{"Name": "default", "Policy": "read", "Capabilities": READ, "Variables": None}]
    assert agent.http.get("/v1/acl/policy/b").json()["RulesJSON"] == dict.fromkeys(ACL_RULES) | {"Raw": ""}
    listed = agent.http.get("/v1/acl/policies").json()
    assert [list(p) for p in listed] == [ACL_POLICY_LIST_STUB] * 2 and [p["Name"] for p in listed] == ["a", "b"]
    # ACL.ListPolicies and ACL.GetPolicy: a client token sees its own policies only.
    token = agent.http.post("/v1/acl/token", json={"Type": "client", "Policies": ["a"]}).json()
    client = as_token(agent, token["SecretID"])
    assert [p["Name"] for p in client.get("/v1/acl/policies").json()] == ["a"]
    assert client.get("/v1/acl/policy/a").status_code == 200
    assert (client.get("/v1/acl/policy/b").status_code, client.get("/v1/acl/policy/b").text) == (
        403,
        "Permission denied",
    )
    assert agent.http.delete("/v1/acl/policy/b").status_code == 200
    assert agent.http.get("/v1/acl/policy/b").status_code == 404
    assert [p["Name"] for p in agent.http.get("/v1/acl/policies").json()] == ["a"]


def test_tokens_outlive_a_restart_but_an_old_agent_token_does_not(agent):
    token = agent.http.post("/v1/acl/token", json={"Name": "kept", "Type": "management"}).json()
    daemon.stop()
    agent.refresh()
    assert agent.http.post("/v1/acl/bootstrap").text.startswith(BOOTSTRAP_DONE)
    assert as_token(agent, token["SecretID"]).get("/v1/acl/token/self").json() == token
    old = agent.token
    daemon.stop()
    (agent.home / "agent" / "token").unlink()  # a new agent token is made at the next start
    agent.refresh()
    assert agent.token != old
    assert as_token(agent, old).get("/v1/acl/tokens").status_code == 403
    names = sorted(t["Name"] for t in agent.http.get("/v1/acl/tokens").json())
    assert names == ["Bootstrap Token", "kept"]


def test_one_time_token_paths_are_routed_as_nomads_router_routes_them(agent):
    """command/agent/http.go routes /v1/acl/token/onetime (and /exchange) to their own handlers,
    which answer 405 to anything but PUT and POST (acl_endpoint.go UpsertOneTimeToken,
    ExchangeOneTimeToken): not to aclTokenCrud with "onetime" as an accessor ID."""
    for path in ("/v1/acl/token/onetime", "/v1/acl/token/onetime/exchange"):
        refused = agent.http.get(path)
        assert (refused.status_code, refused.text) == (405, "Invalid method"), path
        # Not served: the writes are the agent's 404 of a path it does not serve.
        assert agent.http.post(path).status_code == 404
