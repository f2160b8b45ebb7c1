"""The ACL bootstrap (refused: the agent is bootstrapped when made), token and policy endpoints (command/agent/acl_endpoint.go, nomad/acl_endpoint.go),
each answer's fields those of its Go struct (nomad/structs/acl.go ACLToken, ACLTokenListStub,
ACLPolicy, ACLPolicyListStub), management-only where Nomad's RPC asks IsManagement, and kept
across a restart as the rest of acl.json is."""

import base64
import hashlib
from datetime import UTC, datetime, timedelta

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


ONE_TIME_TOKEN = ["OneTimeSecretID", "AccessorID", "ExpiresAt", "CreateIndex", "ModifyIndex"]  # structs.OneTimeToken
EXCHANGE = "/v1/acl/token/onetime/exchange"


def test_a_one_time_token_is_exchanged_once_for_the_token_that_asked_for_it(agent):
    """command/agent/acl_endpoint.go UpsertOneTimeToken and ExchangeOneTimeToken, nomad/acl_endpoint.go
    ACL.UpsertOneTimeToken (the caller's own token, ten minutes, no capability checked) and
    ACL.ExchangeOneTimeToken (no token needed; the token's one-time tokens deleted once used):
    routed before aclTokenCrud, so "onetime" is not taken for an accessor ID."""
    for path in ("/v1/acl/token/onetime", EXCHANGE):
        refused = agent.http.get(path)
        assert (refused.status_code, refused.text) == (405, "Invalid method"), path
    agent.http.put("/v1/acl/policy/reader", json={"Name": "reader", "Rules": 'namespace "default" { policy = "read" }'})
    token = agent.http.post("/v1/acl/token", json={"Name": "ui", "Type": "client", "Policies": ["reader"]}).json()
    client = as_token(agent, token["SecretID"])

    made = client.post("/v1/acl/token/onetime")
    assert made.status_code == 200 and list(made.json()) == ["OneTimeToken", "Index"]
    one_time = made.json()["OneTimeToken"]
    assert list(one_time) == ONE_TIME_TOKEN and one_time["AccessorID"] == token["AccessorID"]
    expires = datetime.fromisoformat(one_time["ExpiresAt"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    second = client.put("/v1/acl/token/onetime").json()["OneTimeToken"]

    anonymous = httpx.Client(base_url=str(agent.http.base_url))
    assert anonymous.post("/v1/acl/token/onetime").status_code == 403  # no token of its own
    exchanged = anonymous.post(EXCHANGE, json={"OneTimeSecretID": one_time["OneTimeSecretID"]})
    assert exchanged.status_code == 200 and list(exchanged.json()) == ["Token", "Index"]
    assert exchanged.json()["Token"] == token
    for spent in (one_time, second):  # every one-time token of that token goes with the first used
        again = anonymous.post(EXCHANGE, json={"OneTimeSecretID": spent["OneTimeSecretID"]})
        assert (again.status_code, again.text) == (403, "Permission denied")
    assert anonymous.post(EXCHANGE, content=b"{").status_code == 400

    orphan = client.post("/v1/acl/token/onetime").json()["OneTimeToken"]
    agent.http.delete(f"/v1/acl/token/{token['AccessorID']}")
    gone = anonymous.post(EXCHANGE, json={"OneTimeSecretID": orphan["OneTimeSecretID"]})
    assert (gone.status_code, gone.text) == (403, "Permission denied")  # its token was deleted
    anonymous.close()


def test_an_expired_one_time_token_is_refused_and_collected(tmp_path):
    """nomad/acl_endpoint.go ExchangeOneTimeToken: ExpiresAt before now is ErrPermissionDenied,
    the token left for the core GC (nomad/core_sched.go expiredOneTimeTokenGC), which the agent
    does at each use."""
    from tapit.agent.acl import ONE_TIME_TTL_NS, AclStore

    store = AclStore(tmp_path / "acl.json")
    store.bootstrapped_with("secret", "2026-01-01T00:00:00Z")
    one_time = store.upsert_one_time("secret", 5, now_ns=1_000)
    assert store.exchange_one_time(one_time["OneTimeSecretID"], now_ns=1_000 + ONE_TIME_TTL_NS) is None
    assert store.one_time == {}
    assert store.upsert_one_time("no such secret", 5, now_ns=1_000) is None
