"""ACL policies and client tokens on the agent, answered as Nomad answers them (acl/policy.go
Parse, nomad/acl.go ResolveToken, the capability checks of the RPCs): a client token gets what
its policies grant and "Permission denied" for the rest, management-only endpoints included."""

import httpx
from batch_jobs import batch_job


def client_token(agent, name: str, rules: str) -> dict:
    assert agent.http.put(f"/v1/acl/policy/{name}", json={"Name": name, "Rules": rules}).status_code == 200
    token = agent.http.post("/v1/acl/token", json={"Name": name, "Type": "client", "Policies": [name]})
    assert token.status_code == 200, token.text
    return token.json()


def test_a_client_token_gets_what_its_policy_grants_and_nothing_else(agent):
    agent.register("visible", "true")
    token = client_token(agent, "reader", 'namespace "default" { policy = "read" }\nnode { policy = "read" }')
    assert token["Type"] == "client" and token["Policies"] == ["reader"] and token["AccessorID"]
    reader = httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": token["SecretID"]}, timeout=15)
    assert [j["ID"] for j in reader.get("/v1/jobs").json()] == ["visible"]
    assert reader.get("/v1/job/visible").status_code == 200
    assert reader.get("/v1/nodes").status_code == 200
    assert reader.get("/v1/acl/token/self").json()["AccessorID"] == token["AccessorID"]
    # read grants no submit-job, read-logs, nor another namespace; management-only stays so.
    for method, path in (
        ("POST", "/v1/jobs"),
        ("DELETE", "/v1/job/visible"),
        ("GET", "/v1/job/visible?namespace=other"),
        ("GET", "/v1/agent/self"),
        ("PUT", "/v1/acl/policy/reader"),
    ):
        body = {"Job": batch_job("sneaky", "true")} if method == "POST" else None
        resp = reader.request(method, path, json=body)
        assert (resp.status_code, resp.text) == (403, "Permission denied"), (method, path)
    assert agent.http.get("/v1/job/visible").status_code == 200, "the refused delete did nothing"


def test_a_policy_nomad_would_refuse_is_refused_in_its_words(agent):
    bad = agent.http.put(
        "/v1/acl/policy/bad", json={"Name": "bad", "Rules": 'namespace "default" { capabilities = ["exec"] }'}
    )
    assert bad.status_code == 400 and "Invalid namespace capability 'exec'" in bad.text
    mismatch = agent.http.put("/v1/acl/policy/a", json={"Name": "b", "Rules": ""})
    assert (mismatch.status_code, mismatch.text) == (400, "ACL policy name does not match request path")
    # structs/acl.go ACLToken.Validate, in go-multierror's words (upsertTokens does not look policies up).
    missing = agent.http.post("/v1/acl/token", json={"Type": "client"})
    assert (missing.status_code, missing.text) == (
        400,
        "token 0 invalid: 1 error occurred:\n\t* client token missing policies or roles\n\n",
    )
