"""POST /v1/search against Search.PrefixSearch (nomad/search_endpoint.go) and
structs.SearchResponse (nomad/structs/search.go), field for field."""

import httpx

# structs.SearchResponse: its own fields and the QueryMeta it embeds.
SEARCH_RESPONSE = {"Matches", "Truncations", "Index", "LastContact", "KnownLeader", "NextToken"}
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
    body = answer.json()
    assert (body["Matches"], body["Truncations"]) == ({"jobs": ["findme"]}, {"jobs": False})
    assert body["Index"] == int(answer.headers["X-Nomad-Index"]) and body["KnownLeader"] is True
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


# structs.FuzzySearchResponse (its Matches, Truncations and the QueryMeta it embeds) and
# structs.FuzzyMatch (ID, and Scope omitempty), nomad/structs/search.go.
FUZZY_SEARCH_RESPONSE = SEARCH_RESPONSE


def fuzzy(agent, text, context, **params):
    return agent.http.post("/v1/search/fuzzy", json={"Text": text, "Context": context}, params=params)


def test_fuzzy_search_matches_names_anywhere_and_a_jobs_parts_with_their_scope(agent):
    agent.register("my-Fuzzy-job", "sleep 60")
    alloc = agent.wait_alloc("my-Fuzzy-job", ("running",))
    answer = fuzzy(agent, "fuzzy", "jobs")
    body = answer.json()
    assert answer.status_code == 200 and set(body) == FUZZY_SEARCH_RESPONSE
    assert body["Matches"] == {"jobs": [{"ID": "my-Fuzzy-job", "Scope": ["default", "my-Fuzzy-job"]}]}
    assert body["Truncations"] == {"jobs": False}
    # The job's group and task (both "main"), and its raw_exec command, in their own contexts.
    parts = fuzzy(agent, "mai", "jobs").json()["Matches"]
    assert parts["groups"] == [{"ID": "main", "Scope": ["default", "my-Fuzzy-job"]}]
    assert parts["tasks"] == [{"ID": "main", "Scope": ["default", "my-Fuzzy-job", "main"]}]
    assert fuzzy(agent, "bin/s", "jobs").json()["Matches"]["commands"] == [
        {"ID": "/bin/sh", "Scope": ["default", "my-Fuzzy-job", "main", "main"]}
    ]
    # "all": allocations by name, namespaces without a scope, evaluations by ID prefix, the
    # prefix-only contexts present (empty) when nothing matches.
    every = fuzzy(agent, "fuzzy", "all").json()
    assert every["Matches"]["allocs"] == [{"ID": alloc["Name"], "Scope": ["default", alloc["ID"]]}]
    assert every["Matches"]["deployments"] == [] and every["Truncations"]["nodes"] is False
    assert "nodes" not in every["Matches"]
    assert fuzzy(agent, "defau", "all").json()["Matches"]["namespaces"] == [{"ID": "default"}]
    assert fuzzy(agent, alloc["EvalID"][:4], "all").json()["Matches"]["evals"] == [{"ID": alloc["EvalID"]}]
    short = fuzzy(agent, "f", "jobs")
    assert short.status_code == 500 and short.text == "fuzzy search query must be at least 2 characters, got 1"
    wrong = fuzzy(agent, "fuzzy", "job")
    assert wrong.status_code == 500 and wrong.text.startswith("context must be one of [allocs jobs")
    assert agent.http.get("/v1/search/fuzzy").status_code == 405
