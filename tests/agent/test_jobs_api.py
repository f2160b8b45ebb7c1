"""Conformance of the jobs API, driven through python-nomad as a Nomad user would."""

import json
import uuid

import httpx
import nomad
import pytest
from nomad.api import exceptions

from batch_jobs import batch_job

# The shape `nomad job run -output` produces: every unset pointer field is an explicit null.
RUN_OUTPUT_JOB = {
    "Job": {
        "Region": None,
        "Namespace": None,
        "ID": "conform",
        "Name": "conform",
        "Type": "batch",
        "Priority": None,
        "AllAtOnce": None,
        "Datacenters": None,
        "NodePool": None,
        "Constraints": None,
        "Affinities": None,
        "TaskGroups": [
            {
                "Name": "main",
                "Count": None,
                "Constraints": None,
                "Affinities": None,
                "RestartPolicy": {
                    "Interval": None,
                    "Attempts": 0,
                    "Delay": None,
                    "Mode": "fail",
                    "RenderTemplates": None,
                },
                "ReschedulePolicy": {
                    "Attempts": 0,
                    "Interval": None,
                    "Delay": None,
                    "DelayFunction": None,
                    "MaxDelay": None,
                    "Unlimited": False,
                },
                "EphemeralDisk": None,
                "Update": None,
                "Migrate": None,
                "Networks": None,
                "Meta": None,
                "Services": None,
                "ShutdownDelay": None,
                "StopAfterClientDisconnect": None,
                "MaxClientDisconnect": None,
                "Scaling": None,
                "Consul": None,
                "MaxRunDuration": None,
                "Tasks": [
                    {
                        "Name": "main",
                        "Driver": "raw_exec",
                        "User": "",
                        "Lifecycle": None,
                        "Config": {"command": "/bin/sh", "args": ["-c", "echo conform"]},
                        "Constraints": None,
                        "Affinities": None,
                        "Env": None,
                        "Services": None,
                        "Resources": {
                            "CPU": None,
                            "Cores": None,
                            "MemoryMB": None,
                            "MemoryMaxMB": None,
                            "DiskMB": None,
                            "Networks": None,
                            "Devices": None,
                            "IOPS": None,
                            "NUMA": None,
                            "SecretsMB": None,
                        },
                        "RestartPolicy": None,
                        "Meta": None,
                        "KillTimeout": None,
                        "LogConfig": None,
                        "Artifacts": None,
                        "Vault": None,
                        "Templates": None,
                        "DispatchPayload": None,
                        "VolumeMounts": None,
                        "Leader": False,
                        "ShutdownDelay": 0,
                        "KillSignal": "",
                        "Kind": "",
                        "ScalingPolicies": None,
                        "Identity": None,
                        "Identities": None,
                        "Actions": None,
                        "Schedule": None,
                    }
                ],
            }
        ],
        "Update": None,
        "Multiregion": None,
        "Spreads": None,
        "Periodic": None,
        "ParameterizedJob": None,
        "Reschedule": None,
        "Migrate": None,
        "Meta": {"owner": "alice"},
        "ConsulToken": None,
        "VaultToken": None,
        "Stop": None,
        "ParentID": None,
        "Dispatched": False,
        "DispatchIdempotencyToken": None,
        "Payload": None,
        "ConsulNamespace": None,
        "VaultNamespace": None,
        "NomadTokenID": None,
        "Status": None,
        "StatusDescription": None,
        "Stable": None,
        "Version": None,
        "SubmitTime": None,
        "CreateIndex": None,
        "ModifyIndex": None,
        "JobModifyIndex": None,
        "UI": None,
        "VersionTag": None,
    }
}


def test_register_read_list_and_purge(agent):
    n = agent.nomad
    reply = n.jobs.register_job(RUN_OUTPUT_JOB)
    assert set(reply) == {
        "EvalID",
        "EvalCreateIndex",
        "JobModifyIndex",
        "Warnings",
        "Index",
        "LastContact",
        "KnownLeader",
        "NextToken",
    }
    job = n.job.get_job("conform")
    # Defaults filled in as Nomad canonicalizes a job (api/jobs.go Job.Canonicalize, api/tasks.go
    # Task.Canonicalize and DefaultLogConfig, api/resources.go DefaultResources; the datacenters as
    # nomad/structs/structs.go Job.Canonicalize, the node pool as
    # nomad/job_endpoint_hook_node_pool_ce.go sets them).
    assert job["Namespace"] == "default" and job["Region"] == "global" and job["Priority"] == 50
    assert job["Datacenters"] == ["*"] and job["NodePool"] == "default"
    task = job["TaskGroups"][0]["Tasks"][0]
    assert task["KillTimeout"] == 5_000_000_000
    assert task["LogConfig"] == {"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False}
    assert task["Resources"]["CPU"] == 100 and task["Resources"]["MemoryMB"] == 300
    group = job["TaskGroups"][0]
    assert group["Count"] == 1 and group["EphemeralDisk"] == {"Sticky": False, "SizeMB": 300, "Migrate": False}
    assert group["RestartPolicy"] == {
        "Attempts": 0,
        "Interval": 86400_000_000_000,
        "Delay": 15_000_000_000,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    assert group["ReschedulePolicy"]["Attempts"] == 0 and group["ReschedulePolicy"]["Unlimited"] is False

    assert [j["ID"] for j in n.jobs.get_jobs(prefix="conf")] == ["conform"]
    assert n.jobs.get_jobs(prefix="nope") == []
    stub = n.jobs.get_jobs(prefix="conf", meta=True)[0]
    assert stub["Meta"] == {"owner": "alice"} and stub["JobSummary"]["JobID"] == "conform"
    assert "Meta" not in n.jobs.get_jobs(prefix="conf")[0]

    alloc = agent.wait_alloc("conform", ("complete",))
    assert alloc["Name"] == "conform.main[0]" and alloc["Job"]["ID"] == "conform"
    assert alloc["ClientDescription"] == "All tasks have completed"
    evals = n.job.get_evaluations("conform")
    assert evals[0]["JobID"] == "conform" and evals[0]["TriggeredBy"] == "job-register"
    assert n.evaluation.get_evaluation(alloc["EvalID"])["Status"] == "complete"
    assert n.job.get_summary("conform")["Summary"]["main"]["Complete"] == 1
    assert n.job.get_job("conform")["Status"] == "dead"

    assert n.job.deregister_job("conform", purge=True)["EvalID"]
    with pytest.raises(exceptions.URLNotFoundNomadException) as err:
        n.job.get_job("conform")
    assert err.value.nomad_resp.text == "job not found"
    # Purging removes the job row only; its allocation and evaluations stay readable.
    assert n.allocation.get_allocation(alloc["ID"])["ID"] == alloc["ID"]
    assert n.evaluation.get_evaluation(alloc["EvalID"])["ID"] == alloc["EvalID"]
    # Deleting an unknown job is not an error: an empty reply, every index 0 (X-Nomad-Index too).
    resp = agent.http.delete("/v1/job/never-was")
    assert resp.status_code == 200 and resp.headers["X-Nomad-Index"] == "0"
    assert {k: resp.json()[k] for k in ("EvalID", "EvalCreateIndex", "JobModifyIndex", "Index")} == {
        "EvalID": "",
        "EvalCreateIndex": 0,
        "JobModifyIndex": 0,
        "Index": 0,
    }


# Allocation and Evaluation carry `_struct bool codec:",omitempty"`: go-msgpack leaves out every
# empty top-level field (nomad/structs/alloc.go, eval.go; go-msgpack codec/helper.go isEmptyValue).
EMPTY_ALLOC_FIELDS = {
    "Resources",
    "SharedResources",
    "TaskResources",
    "DesiredDescription",
    "DesiredTransition",
    "AllocStates",
    "PreviousAllocation",
    "NextAllocation",
    "DeploymentID",
    "DeploymentStatus",
    "RescheduleTracker",
    "NetworkStatus",
    "FollowupEvalID",
    "PreemptedAllocations",
    "PreemptedByAllocation",
    "SigningKeyID",
}
EMPTY_EVAL_FIELDS = {
    "NodeID",
    "NodeModifyIndex",
    "DeploymentID",
    "StatusDescription",
    "Wait",
    "WaitUntil",
    "NextEval",
    "PreviousEval",
    "BlockedEval",
    "RelatedEvals",
    "FailedTGAllocs",
    "PlanAnnotations",
    "ClassEligibility",
    "QuotaLimitReached",
    "MissingNonNodeResources",
    "EscapedComputedClass",
    "AnnotatePlan",
}


def test_full_allocations_and_evaluations_omit_empty_fields(agent):
    agent.register("sparse", "true")
    alloc = agent.wait_alloc("sparse", ("complete",))
    assert not EMPTY_ALLOC_FIELDS & set(alloc)
    assert {
        "ID",
        "EvalID",
        "Job",
        "TaskStates",
        "Metrics",
        "AllocatedResources",
        "DesiredStatus",
        "ClientStatus",
        "CreateIndex",
        "AllocModifyIndex",
        "CreateTime",
    } <= set(alloc)
    # Only the top level: the nested Job, AllocMetric and TaskEvent structs keep their zero fields.
    assert alloc["Job"]["Constraints"] is None and alloc["Job"]["ParentID"] == ""
    assert "ClassFiltered" in alloc["Metrics"] and alloc["Metrics"]["ClassFiltered"] is None
    assert alloc["TaskStates"]["main"]["Events"][0]["Signal"] == 0
    # List stubs have no such tag.
    stub = agent.nomad.job.get_allocations("sparse")[0]
    assert stub["DeploymentStatus"] is None and stub["FollowupEvalID"] == "" and "DesiredTransition" in stub

    ev = agent.http.get(f"/v1/evaluation/{alloc['EvalID']}").json()
    assert not EMPTY_EVAL_FIELDS & set(ev)
    assert ev["QueuedAllocations"] == {"main": 0} and ev["Status"] == "complete" and ev["SnapshotIndex"] > 0
    listed = agent.http.get("/v1/job/sparse/evaluations").json()
    assert [e["ID"] for e in listed] == [ev["ID"]] and not EMPTY_EVAL_FIELDS & set(listed[0])
    listed = agent.http.get("/v1/evaluations", params={"job": "sparse"}).json()
    assert [e["ID"] for e in listed] == [ev["ID"]] and not EMPTY_EVAL_FIELDS & set(listed[0])


def test_bool_query_params_as_each_handler_parses_them(agent):
    agent.register("bools", "true")
    agent.wait_alloc("bools", ("complete",))
    # http.go parseBool: an uncoded error (500); an empty value is no value.
    resp = agent.http.get("/v1/jobs", params={"meta": "maybe"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "meta" (maybe) as a bool: strconv.ParseBool: parsing "maybe": invalid syntax',
    )
    assert agent.http.get("/v1/jobs", params={"meta": ""}).json()[0]["ID"] == "bools"
    for name in ("resources", "task_states"):
        resp = agent.http.get("/v1/allocations", params={name: "x"})
        assert (resp.status_code, resp.text) == (
            500,
            f'Failed to parse value of "{name}" (x) as a bool: strconv.ParseBool: parsing "x": invalid syntax',
        )
    # jobAllocations ignores the error: anything else is false.
    resp = agent.http.get("/v1/job/bools/allocations", params={"all": "bogus"})
    assert resp.status_code == 200 and len(resp.json()) == 1
    # jobDelete parses its own, with parseBool's words (and a stray q for no_shutdown_delay).
    resp = agent.http.delete("/v1/job/bools", params={"purge": "nope"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "purge" (nope) as a bool: strconv.ParseBool: parsing "nope": invalid syntax',
    )
    resp = agent.http.delete("/v1/job/bools", params={"global": "2"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "global" (2) as a bool: strconv.ParseBool: parsing "2": invalid syntax',
    )
    resp = agent.http.delete("/v1/job/bools", params={"no_shutdown_delay": "y"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "no_shutdown_delay"q (y) as a bool: strconv.ParseBool: parsing "y": invalid syntax',
    )
    assert agent.nomad.job.get_job("bools")["Stop"] is False


def test_not_found_and_acl_errors(agent):
    n = agent.nomad
    for call in (
        lambda: n.job.get_job("missing"),
        lambda: n.job.get_summary("missing"),
        lambda: n.allocation.get_allocation(str(uuid.uuid4())),
        lambda: n.evaluation.get_evaluation(str(uuid.uuid4())),
    ):
        with pytest.raises(exceptions.URLNotFoundNomadException) as err:
            call()
        assert err.value.nomad_resp.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(exceptions.URLNotAuthorizedNomadException) as err:
        nomad.Nomad(address=agent.address, token=str(uuid.uuid4())).jobs.get_jobs()
    assert err.value.nomad_resp.text == "ACL token not found"
    resp = httpx.get(agent.address + "/v1/jobs")
    assert (resp.status_code, resp.text) == (403, "Permission denied")
    resp = httpx.get(agent.address + "/v1/jobs", headers={"Authorization": f"Bearer {agent.token}"})
    assert resp.status_code == 200 and resp.json() == []
    assert agent.http.patch("/v1/jobs").text == "Invalid method"


def test_register_errors(agent):
    assert (agent.http.put("/v1/jobs", content=b"").text) == "Request body is empty"
    assert agent.http.put("/v1/jobs", json={"Job": None}).text == "Job must be specified"
    assert agent.http.put("/v1/jobs", json={"Job": {"Name": "x"}}).text == "Job ID hasn't been provided"
    resp = agent.http.post("/v1/job/other", json={"Job": batch_job("x", "true")})
    assert (resp.status_code, resp.text) == (400, "Job ID does not match name")
    bad = batch_job("bad", "true", group={"RestartPolicy": {"Attempts": 0, "Mode": "delay"}})
    resp = agent.http.put("/v1/jobs", json={"Job": bad})
    assert resp.status_code == 500
    assert resp.text.startswith("1 error occurred:\n\t* Task group main validation failed: ")
    assert 'Restart policy "delay" with 0 attempts is ambiguous' in resp.text
    with pytest.raises(exceptions.URLNotFoundNomadException):
        agent.nomad.job.get_job("bad")


def test_keys_are_case_insensitive_and_unknown_keys_ignored(agent):
    job = json.loads(
        json.dumps(batch_job("cased", "true")).replace('"Driver"', '"driver"').replace('"TaskGroups"', '"taskgroups"')
    )
    job["NoSuchField"] = {"x": 1}
    agent.nomad.job.register_job("cased", {"job": job})
    stored = agent.nomad.job.get_job("cased")
    assert stored["TaskGroups"][0]["Tasks"][0]["Driver"] == "raw_exec" and "NoSuchField" not in stored


def test_list_filters_and_namespaces(agent):
    agent.register("f-one", "true")
    agent.nomad.namespace.create_namespace({"Name": "other"})
    agent.nomad.jobs.register_job(
        {"Job": {**batch_job("f-two", "true"), "Meta": {"owner": "bob"}, "Namespace": "other"}}
    )

    def ids(**q):
        return [j["ID"] for j in agent.http.get("/v1/jobs", params=q).json()]

    assert ids() == ["f-one"]
    assert ids(namespace="*") == ["f-one", "f-two"]
    assert ids(namespace="*", filter='Meta["owner"] == "bob"') == ["f-two"]
    assert ids(namespace="*", filter='Meta.owner == "bob" or ID == "f-one"') == ["f-one", "f-two"]
    assert ids(namespace="*", filter='Type == "batch" and Meta["managed-by"] == "tapit-tests"') == ["f-one"]
    assert agent.http.get("/v1/jobs", params={"filter": "Meta[ ==="}).status_code == 400
    gz = agent.http.get("/v1/jobs", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["Content-Encoding"] == "gzip" and gz.json()[0]["ID"] == "f-one"
    assert agent.http.get("/v1/jobs?pretty").text.endswith("]\n")
    assert agent.http.delete("/v1/job/f-one", params={"purge": "nope"}).status_code == 500


def test_deregister_eval_is_a_service_eval(agent):
    agent.register("dereg", "sleep 30")
    agent.wait_alloc("dereg", ("running",))
    eval_id = agent.nomad.job.deregister_job("dereg")["EvalID"]
    ev = agent.nomad.evaluation.get_evaluation(eval_id)
    # nomad/job_endpoint.go Deregister hard-codes structs.JobTypeService, even for a batch job.
    assert (ev["TriggeredBy"], ev["Type"]) == ("job-deregister", "service")
    assert agent.nomad.job.get_job("dereg")["Type"] == "batch"


def test_placement_failures_block(agent):
    agent.register("needs-docker", "true", driver="docker")
    ev = agent.nomad.job.get_evaluations("needs-docker")
    register = next(e for e in ev if e["TriggeredBy"] == "job-register")
    metric = register["FailedTGAllocs"]["main"]
    assert metric["ConstraintFiltered"] == {"missing drivers": 1} and metric["NodesFiltered"] == 1
    assert metric["ClassExhausted"] is None and metric["CoalescedFailures"] == 0  # AllocMetric: not omitempty
    blocked = agent.nomad.evaluation.get_evaluation(register["BlockedEval"])
    assert (blocked["Status"], blocked["TriggeredBy"], blocked["StatusDescription"]) == (
        "blocked",
        "queued-allocs",
        "created to place remaining allocations",
    )
    assert agent.nomad.job.get_summary("needs-docker")["Summary"]["main"]["Queued"] == 1
    assert agent.nomad.job.get_job("needs-docker")["Status"] == "pending"
    assert agent.nomad.job.get_allocations("needs-docker") == []

    agent.register("too-big", "true", task={"Resources": {"CPU": 100, "MemoryMB": 10_000_000}})
    ev = agent.nomad.job.get_evaluations("too-big")
    metric = next(e for e in ev if e["TriggeredBy"] == "job-register")["FailedTGAllocs"]["main"]
    assert metric["DimensionExhausted"] == {"memory": 1} and metric["NodesExhausted"] == 1


def test_agent_self_and_node(agent):
    me = agent.nomad.agent.get_agent()
    assert me["config"]["Version"]["Version"] >= "2.0.3"
    nodes = agent.nomad.nodes.get_nodes()
    node = agent.nomad.node.get_node(nodes[0]["ID"])
    assert node["Datacenter"] == "dc1" and node["NodePool"] == "default"
    assert node["Attributes"]["driver.raw_exec"] == "1" and "driver.docker" not in node["Attributes"]
    assert "tapit.limits.unenforced" in node["Attributes"]
    assert agent.http.get("/v1/status/leader").json()


def test_responses_compressed_as_gorilla_compress_handler_does(agent):
    """command/agent/http.go wraps the mux in gorilla/handlers CompressHandler: the first of gzip
    or deflate the client lists (deflate being raw DEFLATE), and always Vary: Accept-Encoding."""
    import gzip
    import zlib

    agent.register("zipped", "true")
    agent.wait_alloc("zipped", ("complete",))
    plain = agent.http.get("/v1/jobs", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    for accept, coding in (("gzip, deflate", "gzip"), ("br, deflate, gzip", "deflate"), ("br", None)):
        with httpx.stream(
            "GET", agent.address + "/v1/jobs", headers={"X-Nomad-Token": agent.token, "Accept-Encoding": accept}
        ) as resp:
            raw = resp.read() if coding is None else b"".join(resp.iter_raw())
        assert resp.headers.get("Content-Encoding") == coding and resp.headers["Vary"] == "Accept-Encoding"
        decoded = {"gzip": gzip.decompress, "deflate": lambda b: zlib.decompress(b, -zlib.MAX_WBITS), None: bytes}
        assert json.loads(decoded[coding](raw)) == plain.json()
