"""The job endpoints beyond register/read/delete, each against the struct Nomad answers with: the
field lists below are copied from nomad/structs/structs.go (and plan.go, diff.go), with the
QueryMeta or WriteMeta they embed, not from tapit's client."""

import base64
import time

import pytest
from batch_jobs import batch_job

# structs.QueryMeta and structs.WriteMeta, embedded in the responses below.
QUERY_META = {"Index", "LastContact", "KnownLeader", "NextToken"}
# structs.JobRegisterResponse (the reply of Register, Evaluate and Scale).
REGISTER_RESPONSE = {"EvalID", "EvalCreateIndex", "JobModifyIndex", "Warnings"} | QUERY_META
# structs.JobPlanResponse, structs.PlanAnnotations, structs.DesiredUpdates.
PLAN_RESPONSE = {
    "Annotations",
    "FailedTGAllocs",
    "JobModifyIndex",
    "CreatedEvals",
    "Diff",
    "NextPeriodicLaunch",
    "Warnings",
    "Index",
}
PLAN_ANNOTATIONS = {"DesiredTGUpdates", "PreemptedAllocs"}
DESIRED_UPDATES = {
    "Ignore",
    "Place",
    "Migrate",
    "Stop",
    "InPlaceUpdate",
    "DestructiveUpdate",
    "Canary",
    "Preemptions",
    "Disconnect",
    "Reconnect",
    "RescheduleNow",
    "RescheduleLater",
}
# structs.JobDispatchResponse, structs.JobVersionsResponse.
DISPATCH_RESPONSE = {"DispatchedJobID", "EvalID", "EvalCreateIndex", "JobCreateIndex", "Index"}
VERSIONS_RESPONSE = {"Versions", "Diffs"} | QUERY_META
# structs.JobScaleStatus, structs.TaskGroupScaleStatus, structs.ScalingEvent.
SCALE_STATUS = {"JobID", "Namespace", "JobCreateIndex", "JobModifyIndex", "JobStopped", "TaskGroups"}
GROUP_SCALE_STATUS = {"Desired", "Placed", "Running", "Healthy", "Unhealthy", "Events"}
SCALING_EVENT = {"Time", "Count", "PreviousCount", "Message", "Error", "Meta", "EvalID", "CreateIndex"}


def running_alloc(agent, job_id):
    return agent.wait_alloc(job_id, ("running",))


def test_registering_an_unchanged_job_again_leaves_it_running(agent):
    """nomad/job_endpoint.go Register: !SpecChanged -> only an evaluation; the job keeps its
    version and index, its allocation keeps running."""
    agent.register("same", "sleep 60")
    alloc = running_alloc(agent, "same")
    job = agent.nomad.job.get_job("same")
    reply = agent.register("same", "sleep 60")
    assert set(reply) == REGISTER_RESPONSE
    assert reply["JobModifyIndex"] == job["ModifyIndex"] and reply["EvalID"]
    again = agent.nomad.job.get_job("same")
    assert (again["Version"], again["JobModifyIndex"]) == (0, job["JobModifyIndex"])
    assert [a["ID"] for a in agent.nomad.job.get_allocations("same")] == [alloc["ID"]]
    assert agent.nomad.allocation.get_allocation(alloc["ID"])["DesiredStatus"] == "run"
    ev = agent.nomad.evaluation.get_evaluation(reply["EvalID"])
    assert (ev["TriggeredBy"], ev.get("JobModifyIndex", 0)) == ("job-register", 0)
    # A changed job is a new version, which replaces the allocation.
    agent.register("same", "sleep 61")
    assert agent.nomad.job.get_job("same")["Version"] == 1
    assert agent.nomad.allocation.get_allocation(alloc["ID"])["DesiredStatus"] == "stop"


def test_evaluate(agent):
    agent.register("ev", "true")
    resp = agent.http.post("/v1/job/ev/evaluate")
    assert resp.status_code == 200 and set(resp.json()) == REGISTER_RESPONSE
    assert resp.headers["X-Nomad-Index"] == str(resp.json()["Index"])
    ev = agent.nomad.evaluation.get_evaluation(resp.json()["EvalID"])
    assert (ev["JobID"], ev["TriggeredBy"], ev["JobModifyIndex"]) == (
        "ev",
        "job-register",
        resp.json()["JobModifyIndex"],
    )
    # jobForceEvaluate's own checks are 400s; Job.Evaluate's errors are uncoded.
    resp = agent.http.post("/v1/job/ev/evaluate", json={"JobID": "other"})
    assert (resp.status_code, resp.text) == (400, "JobID not same as job name")
    resp = agent.http.post("/v1/job/ev/evaluate", json={"EvalOptions": {"ForceReschedule": True}})
    assert (resp.status_code, resp.text) == (400, "Job ID must be specified")
    resp = agent.http.post("/v1/job/nope/evaluate")
    assert (resp.status_code, resp.text) == (500, "job not found")
    assert agent.http.get("/v1/job/ev/evaluate").status_code == 405


def test_versions(agent):
    agent.register("ver", "true")
    agent.register("ver", "echo changed")
    resp = agent.http.get("/v1/job/ver/versions")
    body = resp.json()
    assert set(body) == VERSIONS_RESPONSE and body["Diffs"] is None
    assert [v["Version"] for v in body["Versions"]] == [1, 0]
    assert body["Versions"][1]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == ["-c", "true"]
    assert resp.headers["X-Nomad-Index"] == str(max(v["ModifyIndex"] for v in body["Versions"]))
    # jobVersions checks no method.
    assert agent.http.put("/v1/job/ver/versions").status_code == 200
    resp = agent.http.get("/v1/job/nope/versions")
    assert (resp.status_code, resp.text) == (404, "job versions not found")
    resp = agent.http.get("/v1/job/ver/versions", params={"diffs": "maybe"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "diffs" (maybe) as a bool: strconv.ParseBool: parsing "maybe": invalid syntax',
    )
    # Stopping a job is a version too (state store upsertJobImpl bumps it).
    agent.nomad.job.deregister_job("ver")
    assert [v["Version"] for v in agent.http.get("/v1/job/ver/versions").json()["Versions"]] == [2, 1, 0]


def test_plan_writes_nothing_and_says_what_would_happen(agent):
    job = batch_job("planned", "true")
    resp = agent.http.post("/v1/job/planned/plan", json={"Job": job})
    body = resp.json()
    assert resp.status_code == 200 and set(body) == PLAN_RESPONSE
    assert set(body["Annotations"]) == PLAN_ANNOTATIONS
    updates = body["Annotations"]["DesiredTGUpdates"]["main"]
    assert set(updates) == DESIRED_UPDATES and updates["Place"] == 1
    assert (body["FailedTGAllocs"], body["CreatedEvals"], body["JobModifyIndex"]) == (None, None, 0)
    assert agent.http.get("/v1/job/planned").status_code == 404
    agent.nomad.job.register_job("planned", {"Job": job})
    agent.wait_alloc("planned", ("complete",))
    updates = agent.nomad.job.plan_job("planned", {"Job": job})["Annotations"]["DesiredTGUpdates"]["main"]
    assert (updates["Place"], updates["Ignore"]) == (0, 1)  # a complete batch allocation is done with
    huge = batch_job("huge", "true", task={"Resources": {"CPU": 100, "MemoryMB": 10**8}})
    body = agent.nomad.job.plan_job("huge", {"Job": huge})
    assert body["FailedTGAllocs"]["main"]["DimensionExhausted"] == {"memory": 1}
    assert body["CreatedEvals"][0]["Status"] == "blocked"
    resp = agent.http.post("/v1/job/other/plan", json={"Job": job})
    assert (resp.status_code, resp.text) == (400, "Job ID does not match")


def parameterized(job_id):
    return {
        **batch_job(job_id, "echo $NOMAD_META_TIME"),
        "ParameterizedJob": {"Payload": "optional", "MetaRequired": ["time"], "MetaOptional": ["extra"]},
    }


def test_dispatch(agent):
    reply = agent.nomad.job.register_job("param", {"Job": parameterized("param")})
    assert reply["EvalID"] == ""  # a parameterized job is not evaluated
    assert agent.nomad.job.get_job("param")["Status"] == "running"
    payload = base64.b64encode(b"the payload").decode()
    resp = agent.http.post(
        "/v1/job/param/dispatch", json={"Meta": {"time": "5"}, "Payload": payload, "IdPrefixTemplate": "run1"}
    )
    body = resp.json()
    assert resp.status_code == 200 and set(body) == DISPATCH_RESPONSE
    child_id = body["DispatchedJobID"]
    assert child_id.startswith(f"param/dispatch-run1-{int(time.time()) // 100}")
    child = agent.nomad.job.get_job(child_id)
    assert (child["ParentID"], child["Dispatched"], child["ParameterizedJob"]["MetaRequired"]) == (
        "param",
        True,
        ["time"],
    )
    assert child["Meta"] == {"managed-by": "tapit-tests", "time": "5"}
    assert base64.b64decode(child["Payload"]) == b"the payload"  # stored snappy-compressed, read back plain
    agent.wait_alloc(child_id, ("complete",))
    children = agent.nomad.job.get_summary("param")["Children"]
    assert children == {"Pending": 0, "Running": 0, "Dead": 1}
    for meta, error in (
        ({}, "Dispatch did not provide required meta keys: [time]"),
        ({"time": "1", "bad": "x"}, "Dispatch request included unpermitted metadata keys: [bad]"),
    ):
        resp = agent.http.post("/v1/job/param/dispatch", json={"Meta": meta})
        assert (resp.status_code, resp.text) == (500, error)
    agent.register("plain", "true")
    resp = agent.http.post("/v1/job/plain/dispatch", json={})
    assert (resp.status_code, resp.text) == (500, 'Specified job "plain" is not a parameterized job')
    resp = agent.http.post("/v1/job/param/evaluate")
    assert (resp.status_code, resp.text) == (500, "can't evaluate parameterized job")


def test_dispatch_with_an_idempotency_token_is_done_once(agent):
    agent.nomad.job.register_job("once", {"Job": parameterized("once")})
    first = agent.http.post("/v1/job/once/dispatch?idempotency_token=t1", json={"Meta": {"time": "1"}}).json()
    again = agent.http.post("/v1/job/once/dispatch?idempotency_token=t1", json={"Meta": {"time": "1"}}).json()
    assert again["DispatchedJobID"] == first["DispatchedJobID"] and again["EvalID"] == ""
    assert len([j for j in agent.nomad.jobs.get_jobs() if j["ParentID"] == "once"]) == 1


def test_deployments_there_are_none(agent):
    agent.register("dep", "true")
    assert agent.http.get("/v1/job/dep/deployments").json() == []
    resp = agent.http.get("/v1/job/dep/deployment")
    assert (resp.status_code, resp.text) == (200, "null")


def test_scale_changes_the_count_in_place(agent):
    agent.register("sc", "sleep 60")
    first = running_alloc(agent, "sc")
    status = agent.http.get("/v1/job/sc/scale").json()
    assert set(status) == SCALE_STATUS and set(status["TaskGroups"]["main"]) == GROUP_SCALE_STATUS
    assert status["TaskGroups"]["main"]["Events"] is None
    resp = agent.http.post(
        "/v1/job/sc/scale", json={"Count": 2, "Target": {"Group": "main"}, "Message": "more", "Meta": {"by": "test"}}
    )
    assert resp.status_code == 200 and set(resp.json()) == REGISTER_RESPONSE
    deadline = time.monotonic() + 15
    while agent.http.get("/v1/job/sc/scale").json()["TaskGroups"]["main"]["Running"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    group = agent.http.get("/v1/job/sc/scale").json()["TaskGroups"]["main"]
    assert (group["Desired"], group["Placed"]) == (2, 2)
    (event,) = group["Events"]
    assert set(event) == SCALING_EVENT
    assert (event["Count"], event["PreviousCount"], event["Message"], event["Meta"]) == (2, 1, "more", {"by": "test"})
    assert event["EvalID"] == resp.json()["EvalID"]
    assert agent.nomad.allocation.get_allocation(first["ID"])["ClientStatus"] == "running"  # kept, in place
    assert agent.nomad.job.get_job("sc")["Version"] == 1
    for body, code, text in (
        ({"Count": 1}, 400, "missing task group name for scaling action"),
        ({"Count": -1, "Target": {"Group": "main"}}, 400, "scaling action count can't be negative"),
        ({"Count": 1, "Target": {"Group": "x"}}, 400, 'task group "x" specified for scaling does not exist in job'),
        ({"Count": 1, "Target": {"Group": "main", "Job": "y"}}, 400, "job ID in payload did not match URL"),
    ):
        resp = agent.http.post("/v1/job/sc/scale", json=body)
        assert (resp.status_code, resp.text) == (code, text)
    resp = agent.http.post("/v1/job/nope/scale", json={"Count": 1, "Target": {"Group": "main"}})
    assert (resp.status_code, resp.text) == (404, 'job "nope" not found')
    assert agent.http.get("/v1/job/nope/scale").text == "job not found"


def test_summary_answers_any_method(agent):
    """jobSummaryRequest checks no method."""
    agent.register("sum", "true")
    for method in ("GET", "PUT", "POST", "DELETE"):
        resp = agent.http.request(method, "/v1/job/sum/summary")
        assert resp.status_code == 200 and resp.json()["JobID"] == "sum", method


@pytest.mark.parametrize("suffix", ["revert", "stable", "periodic/force", "dispatch/payload", "services", "submission"])
def test_a_suffix_the_agent_does_not_serve_is_no_job_id(agent, suffix):
    """JobSpecificRequest hands these to their own handlers: never a job called "<id>/<suffix>"."""
    for method in ("GET", "POST"):
        resp = agent.http.request(method, f"/v1/job/x/{suffix}", json={"Job": batch_job(f"x/{suffix}", "true")})
        assert (resp.status_code, resp.text) == (404, "404 page not found\n")
    assert agent.nomad.jobs.get_jobs() == []
    # Any other suffix is part of the job ID, as in jobCRUD.
    assert agent.http.get("/v1/job/x/whatever").text == "job not found"
