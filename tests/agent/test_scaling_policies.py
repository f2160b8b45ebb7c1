"""GET /v1/scaling/policies and /v1/scaling/policy/<id> (command/agent/scaling_endpoint.go, then
nomad/scaling_endpoint.go ListPolicies and GetPolicy), over the policies the state store makes
from a group's `scaling` block (nomad/state/state_store.go updateJobScalingPolicies), against the
field lists of structs.ScalingPolicy and structs.ScalingPolicyListStub (nomad/structs/structs.go;
no omitempty on either)."""

SCALING_POLICY = {"ID", "Type", "Target", "Policy", "Min", "Max", "Enabled", "CreateIndex", "ModifyIndex"}
SCALING_POLICY_LIST_STUB = {"ID", "Enabled", "Type", "Target", "CreateIndex", "ModifyIndex"}


def scaled(agent, job_id, scaling, count=1):
    return agent.register(job_id, "sleep 60", group={"Count": count, "Scaling": scaling})


def test_a_groups_scaling_block_is_a_policy_listed_read_and_kept_across_versions(agent):
    assert agent.http.get("/v1/scaling/policies").json() == []
    scaled(agent, "web", {"Max": 3, "Policy": {"cooldown": "1m"}})
    (stub,) = agent.http.get("/v1/scaling/policies").json()
    assert set(stub) == SCALING_POLICY_LIST_STUB
    assert stub["Type"] == "horizontal" and stub["Enabled"] is True
    assert stub["Target"] == {"Namespace": "default", "Job": "web", "Group": "main"}
    answer = agent.http.get(f"/v1/scaling/policy/{stub['ID']}")
    policy = answer.json()
    assert set(policy) == SCALING_POLICY
    # ApiScalingPolicyToStructs: Min defaults to the group's count, Enabled to true.
    assert (policy["Min"], policy["Max"], policy["Policy"]) == (1, 3, {"cooldown": "1m"})
    assert answer.headers["X-Nomad-Index"] == str(policy["ModifyIndex"]) == str(policy["CreateIndex"])
    # The job's group holds the same policy, ID and indexes.
    assert agent.http.get("/v1/job/web").json()["TaskGroups"][0]["Scaling"] == policy
    # A new version keeps the policy's ID (propagateScalingPolicyIDs); a change is a new ModifyIndex.
    scaled(agent, "web", {"Max": 5})
    again = agent.http.get(f"/v1/scaling/policy/{stub['ID']}").json()
    assert again["Max"] == 5 and again["CreateIndex"] == policy["CreateIndex"] < again["ModifyIndex"]
    # Filters: job (type exact), type (a prefix), prefix (of the ID).
    assert len(agent.http.get("/v1/scaling/policies", params={"job": "web"}).json()) == 1
    assert agent.http.get("/v1/scaling/policies", params={"job": "other"}).json() == []
    assert len(agent.http.get("/v1/scaling/policies", params={"type": "horiz"}).json()) == 1
    assert agent.http.get("/v1/scaling/policies", params={"job": "web", "type": "horiz"}).json() == []
    assert len(agent.http.get("/v1/scaling/policies", params={"prefix": stub["ID"][:4]}).json()) == 1
    assert agent.http.get("/v1/scaling/policies", params={"namespace": "other"}).json() == []
    assert len(agent.http.get("/v1/scaling/policies", params={"namespace": "*"}).json()) == 1
    # The prefix search's scaling_policies context finds it (nomad/search_endpoint.go getResourceIter).
    found = agent.http.post("/v1/search", json={"Prefix": stub["ID"][:3], "Context": "scaling_policies"}).json()
    assert found["Matches"] == {"scaling_policies": [stub["ID"]]}
    # Purged, the job's policies go with it (deleteJobScalingPolicies).
    agent.http.delete("/v1/job/web", params={"purge": "true"})
    assert agent.http.get("/v1/scaling/policies").json() == []
    gone = agent.http.get(f"/v1/scaling/policy/{stub['ID']}")
    assert gone.status_code == 404 and gone.text == "policy not found"


def test_a_policy_the_group_count_breaks_is_refused_as_validate_does(agent):
    answer = agent.http.post("/v1/jobs", json={"Job": _job("bad", {"Min": 2}, count=1)})
    assert answer.status_code == 500
    assert "Task group scaling policy validation failed: 3 errors occurred:" in answer.text
    assert "Scaling policy invalid: maximum count must be specified and non-negative" in answer.text
    assert "Scaling policy invalid: task group count must not be less than minimum count in scaling policy" in (
        answer.text
    )
    assert agent.http.post("/v1/scaling/policies").status_code == 405


def _job(job_id, scaling, count):
    from batch_jobs import batch_job

    job = batch_job(job_id, "sleep 60")
    job["TaskGroups"][0].update(Count=count, Scaling=scaling)
    return job
