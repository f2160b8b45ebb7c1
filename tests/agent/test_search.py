"""POST /v1/search against Search.PrefixSearch (nomad/search_endpoint.go) and
structs.SearchResponse (nomad/structs/search.go), field for field."""

import httpx

SEARCH_RESPONSE = {"Matches", "Truncations"}
# ossContexts (nomad/search_endpoint.go): what the "all" context searches.
ALL_CONTEXTS = {
    "allocs",
    "jobs",
    "nodes",
    "node_pools",
    "evals",
    "deployments",
    "plugins",
    "volumes",
    "scaling_policies",
    "variables",
    "namespaces",
    "host_volumes",
}
UUID_CONTEXTS = {"allocs", "nodes", "evals", "deployments"}


def search(agent, prefix, context):
    return agent.http.post("/v1/search", json={"Prefix": prefix, "Context": context})


def test_prefix_search_of_jobs_allocs_and_all_contexts(agent):
    agent.register("findme", "sleep 60")
    alloc = agent.wait_alloc("findme", ("running",))
    answer = search(agent, "find", "jobs")
    assert answer.status_code == 200 and set(answer.json()) == SEARCH_RESPONSE
    assert answer.json() == {"Matches": {"jobs": ["findme"]}, "Truncations": {"jobs": False}}
    assert int(answer.headers["X-Nomad-Index"]) >= agent.http.get("/v1/job/findme").json()["ModifyIndex"]
    # An odd count of digits is rounded down to look up, the full prefix still filters.
    assert search(agent, alloc["ID"][:5], "allocs").json()["Matches"]["allocs"] == [alloc["ID"]]
    # "all": every context, but those of a UUID index when the prefix is no UUID prefix
    # (silenceError), and a context with no match is a nil slice, null.
    body = search(agent, "find", "all").json()
    assert set(body["Matches"]) == ALL_CONTEXTS - UUID_CONTEXTS
    assert body["Matches"]["jobs"] == ["findme"] and body["Matches"]["namespaces"] is None
    assert set(search(agent, "", "all").json()["Matches"]) == ALL_CONTEXTS
    assert search(agent, "d", "namespaces").json()["Matches"] == {"namespaces": ["default"]}
    assert search(agent, "", "node_pools").json()["Matches"] == {"node_pools": ["all", "default"]}


def test_an_unknown_context_and_no_token_are_refused(agent):
    answer = search(agent, "x", "job")
    assert answer.status_code == 500 and answer.text.startswith("context must be one of [allocs jobs")
    assert httpx.post(agent.address + "/v1/search", json={"Prefix": "", "Context": "jobs"}).status_code == 403
