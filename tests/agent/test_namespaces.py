"""Namespaces as Nomad CE serves them (command/agent/namespace_endpoint.go, nomad/namespace_endpoint.go),
and jobs refused in a namespace that does not exist (nomad/job_endpoint_validators.go)."""

from batch_jobs import batch_job

# structs.Namespace, field for field.
NAMESPACE = {
    "Name",
    "Description",
    "Quota",
    "Capabilities",
    "NodePoolConfiguration",
    "VaultConfiguration",
    "ConsulConfiguration",
    "Meta",
    "Hash",
    "CreateIndex",
    "ModifyIndex",
    "RequiredExtraClaims",
    "OptionalExtraClaims",
}
# BLAKE2b-256 of "default" + "Default shared namespace" (Namespace.SetHash), in base64 as a []byte
# encodes: computed with coreutils, `printf %s 'defaultDefault shared namespace' | b2sum -l 256`.
DEFAULT_HASH = "C7UbjDwBK0dK8wQq7Izg7SJIzaV+lIo2X7wRtzY3pSw="


def test_the_default_namespace_is_there_from_the_start(agent):
    (default,) = agent.http.get("/v1/namespaces").json()
    assert set(default) == NAMESPACE
    assert (default["Name"], default["Description"], default["Hash"]) == (
        "default",
        "Default shared namespace",
        DEFAULT_HASH,
    )
    assert (default["CreateIndex"], default["ModifyIndex"]) == (1, 1)
    assert agent.http.get("/v1/namespace/default").json() == default


def test_create_read_update_delete(agent):
    resp = agent.http.put("/v1/namespace/team-a", json={"Name": "team-a", "Description": "A", "Meta": {"k": "v"}})
    # namespaceUpdate answers nil: no body, the index only.
    assert (resp.status_code, resp.content) == (200, b"") and int(resp.headers["X-Nomad-Index"]) > 1
    ns = agent.http.get("/v1/namespace/team-a").json()
    assert set(ns) == NAMESPACE and (ns["Description"], ns["Meta"]) == ("A", {"k": "v"})
    assert ns["CreateIndex"] == ns["ModifyIndex"] == int(resp.headers["X-Nomad-Index"])
    agent.http.post("/v1/namespace", json={"Name": "team-a", "Description": "B"})
    again = agent.http.get("/v1/namespace/team-a").json()
    assert again["CreateIndex"] == ns["CreateIndex"] and again["ModifyIndex"] > ns["ModifyIndex"]
    assert again["Hash"] != ns["Hash"]
    assert [n["Name"] for n in agent.http.get("/v1/namespaces", params={"prefix": "te"}).json()] == ["team-a"]
    assert agent.http.delete("/v1/namespace/team-a").status_code == 200
    resp = agent.http.get("/v1/namespace/team-a")
    assert (resp.status_code, resp.text) == (404, "Namespace not found")


def test_namespace_errors(agent):
    resp = agent.http.put("/v1/namespace/a", json={"Name": "b"})
    assert (resp.status_code, resp.text) == (400, "Namespace name does not match request path")
    resp = agent.http.put("/v1/namespace/a b", json={"Name": "a b"})
    assert resp.status_code == 500
    assert resp.text == (
        'Invalid namespace "a b": 1 error occurred:\n\t* invalid name "a b". Must match regex ^[a-zA-Z0-9-]{1,128}$\n\n'
    )
    resp = agent.http.get("/v1/namespace/")
    assert (resp.status_code, resp.text) == (400, "Missing Namespace Name")
    resp = agent.http.delete("/v1/namespace/default")
    assert (resp.status_code, resp.text) == (500, "can not delete default namespace")
    resp = agent.http.delete("/v1/namespace/nope")
    assert (resp.status_code, resp.text) == (500, "namespace not found")
    resp = agent.http.put("/v1/namespace/q", json={"Name": "q", "Quota": "small"})
    assert (resp.status_code, resp.text) == (500, 'namespace "q" using non-existent quota "small"')
    assert agent.http.patch("/v1/namespace/a").text == "Invalid method"


def test_a_job_needs_its_namespace_to_exist(agent):
    job = {**batch_job("elsewhere", "true"), "Namespace": "team-b"}
    resp = agent.http.put("/v1/jobs", json={"Job": job})
    assert (resp.status_code, resp.text) == (
        500,
        '1 error occurred:\n\t* job "elsewhere" is in nonexistent namespace "team-b"\n\n',
    )
    agent.http.put("/v1/namespace/team-b", json={"Name": "team-b"})
    assert agent.http.put("/v1/jobs", json={"Job": job}).status_code == 200
    assert agent.http.get("/v1/job/elsewhere", params={"namespace": "team-b"}).json()["Namespace"] == "team-b"
    # A namespace with a job that is not dead yet stays.
    resp = agent.http.delete("/v1/namespace/team-b")
    assert resp.status_code == 500
    assert 'namespace "team-b" has non-terminal jobs in regions: [global]' in resp.text


def test_a_namespace_can_refuse_a_driver(agent):
    agent.http.put(
        "/v1/namespace/locked", json={"Name": "locked", "Capabilities": {"DisabledTaskDrivers": ["raw_exec"]}}
    )
    resp = agent.http.put("/v1/jobs", json={"Job": {**batch_job("locked-job", "true"), "Namespace": "locked"}})
    assert (resp.status_code, resp.text) == (
        500,
        '1 error occurred:\n\t* used task driver "raw_exec" is not allowed in namespace "locked"\n\n',
    )
