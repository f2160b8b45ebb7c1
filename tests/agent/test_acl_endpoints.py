"""The ACL bootstrap, token and policy endpoints (command/agent/acl_endpoint.go, nomad/acl_endpoint.go),
each answer's fields those of its Go struct (nomad/structs/acl.go ACLToken, ACLTokenListStub,
ACLPolicy, ACLPolicyListStub), management-only where Nomad's RPC asks IsManagement, and kept
across a restart as the rest of acl.json is."""

import base64
import hashlib

import httpx

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
# ACLPolicy less RulesJSON, which ACL.GetPolicy derives from Rules and the agent does not serve.
ACL_POLICY = ["Name", "Description", "Rules", "JobACL", "Hash", "CreateIndex", "ModifyIndex"]
ACL_POLICY_LIST_STUB = ["Name", "Description", "JobACL", "Hash", "CreateIndex", "ModifyIndex"]
BOOTSTRAP_DONE = "ACL bootstrap already done (reset index: "  # nomad/acl_endpoint.go Bootstrap


def as_token(agent, secret: str) -> httpx.Client:
    return httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": secret}, timeout=15)


def blake2b_256(*parts: str) -> str:
    return base64.b64encode(hashlib.blake2b("".join(parts).encode(), digest_size=32).digest()).decode()


def test_bootstrap_once_without_a_token_gives_a_management_token(agent):
    anonymous = httpx.Client(base_url=agent.address, timeout=15)
    first = anonymous.post("/v1/acl/bootstrap")
    assert first.status_code == 200, first.text
    token = first.json()
    assert list(token) == ACL_TOKEN
    assert (token["Name"], token["Type"], token["Global"], token["Policies"]) == (
        "Bootstrap Token",
        "management",
        True,
        None,
    )
    assert token["Hash"] == blake2b_256("Bootstrap Token", "management", "global")  # ACLToken.SetHash
    assert first.headers["X-Nomad-Index"] == str(token["CreateIndex"])
    again = anonymous.put("/v1/acl/bootstrap")
    assert (again.status_code, again.text) == (400, f"{BOOTSTRAP_DONE}{token['CreateIndex']})")
    # The bootstrap token is a management token: it may list tokens, and reads itself.
    bootstrap = as_token(agent, token["SecretID"])
    listed = bootstrap.get("/v1/acl/tokens")
    assert listed.status_code == 200 and [list(t) for t in listed.json()] == [ACL_TOKEN_LIST_STUB]
    assert bootstrap.get("/v1/acl/token/self").json() == token


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
    assert [t["Name"] for t in agent.http.get("/v1/acl/tokens").json()] == ["other"]
    assert client.get("/v1/jobs").text == "ACL token not found"


def test_policies_are_listed_read_and_deleted(agent):
    rules = 'namespace "default" { policy = "read" }'
    assert agent.http.put("/v1/acl/policy/a", json={"Name": "a", "Description": "d", "Rules": rules}).status_code == 200
    assert agent.http.put("/v1/acl/policy/b", json={"Name": "b", "Rules": ""}).status_code == 200
    policy = agent.http.get("/v1/acl/policy/a").json()
    assert list(policy) == ACL_POLICY
    assert policy["Hash"] == blake2b_256("a", "d", rules)  # ACLPolicy.SetHash
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


def test_the_bootstrap_and_tokens_outlive_a_restart(agent):
    bootstrap = httpx.post(f"{agent.address}/v1/acl/bootstrap", timeout=15).json()
    daemon.stop()
    agent.refresh()
    assert agent.http.post(f"{agent.address}/v1/acl/bootstrap").text.startswith(BOOTSTRAP_DONE)
    assert as_token(agent, bootstrap["SecretID"]).get("/v1/acl/token/self").json() == bootstrap
