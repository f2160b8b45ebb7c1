"""Malformed and hostile register requests get Nomad's answer and leave nothing behind.

A body Go's encoding/json refuses is a 400 with the decoder's own error (command/agent/http.go
decodeBody, job_endpoint.go jobUpdate); what structs.Job.Validate refuses comes back from the
server's Job.Register as an uncoded error, which http.go wrap answers with a 500.  Either way the
job is not stored."""

import json

import pytest
from batch_jobs import batch_job


def job_with(group=None, task=None, **fields):
    return {"Job": {**batch_job("hostile", "true", group=group, task=task), **fields}}


def raw(value) -> bytes:
    return json.dumps(value).encode()


MALFORMED = [
    # (body, Nomad's answer)
    (b"null", "Job must be specified"),
    (b"[]", "json: cannot unmarshal array into Go value of type api.JobRegisterRequest"),
    (b'"x"', "json: cannot unmarshal string into Go value of type api.JobRegisterRequest"),
    (b'{"Job":"string"}', "json: cannot unmarshal string into Go struct field JobRegisterRequest.Job of type api.Job"),
    (b'{"Job":{"ID":5}}', "json: cannot unmarshal number into Go struct field Job.Job.ID of type string"),
    (b'{"Job":{}}', "Job ID hasn't been provided"),
    (
        raw({"Job": {**batch_job("hostile", "true"), "TaskGroups": {"main": {}}}}),
        "json: cannot unmarshal object into Go struct field Job.Job.TaskGroups of type []*api.TaskGroup",
    ),
    (
        raw({"Job": {**batch_job("hostile", "true"), "TaskGroups": ["main"]}}),
        "json: cannot unmarshal string into Go struct field Job.Job.TaskGroups of type api.TaskGroup",
    ),
    (
        raw(job_with(task={"Resources": [500]})),
        "json: cannot unmarshal array into Go struct field Task.Job.TaskGroups.Tasks.Resources of type api.Resources",
    ),
    (
        raw(job_with(task={"Resources": {"CPU": "500"}})),
        "json: cannot unmarshal string into Go struct field Resources.Job.TaskGroups.Tasks.Resources.CPU of type int",
    ),
    (
        raw(job_with(group={"Count": 1}))[:-1].replace(b'"Count": 1', b'"Count": 1e400'),
        "unexpected EOF",
    ),
    (
        raw(job_with(group={"Count": 1})).replace(b'"Count": 1', b'"Count": 1e400'),
        "json: cannot unmarshal number 1e400 into Go struct field TaskGroup.Job.TaskGroups.Count of type int",
    ),
    (
        raw(job_with(group={"Count": 1})).replace(b'"Count": 1', b'"Count": 2.5'),
        "json: cannot unmarshal number 2.5 into Go struct field TaskGroup.Job.TaskGroups.Count of type int",
    ),
    (
        raw(job_with(task={"Resources": {"MemoryMB": 2**63}})),
        "json: cannot unmarshal number 9223372036854775808 into Go struct field "
        "Resources.Job.TaskGroups.Tasks.Resources.MemoryMB of type int",
    ),
    (
        raw(job_with(task={"KillTimeout": 10**19})),
        "json: cannot unmarshal number 10000000000000000000 into Go struct field "
        "Task.Job.TaskGroups.Tasks.KillTimeout of type time.Duration",
    ),
    (
        raw({**job_with(), "JobModifyIndex": -1}),
        "json: cannot unmarshal number -1 into Go struct field JobRegisterRequest.JobModifyIndex of type uint64",
    ),
    (
        raw(job_with(group={"Affinities": [{"LTarget": "a", "RTarget": "b", "Operand": "=", "Weight": 128}]})),
        "json: cannot unmarshal number 128 into Go struct field Affinity.Job.TaskGroups.Affinities.Weight of type int8",
    ),
    (
        raw({**job_with(), "Region": 5}),
        "json: cannot unmarshal number into Go struct field JobRegisterRequest.WriteRequest.Region of type string",
    ),
    (b"[" * 50_000 + b"]" * 50_000, "invalid character '[' exceeded max depth"),
    (b'{"Job":' * 50_000, "invalid character '{' exceeded max depth"),
    (b'{"Job": {"ID": "x",}}', "invalid character '}' looking for beginning of object key string"),
    (b'{"Job": NaN}', "invalid character 'N' looking for beginning of value"),
    (b"   ", "EOF"),
]


@pytest.mark.parametrize("body,answer", MALFORMED, ids=lambda v: v[:40] if isinstance(v, (bytes, str)) else None)
def test_malformed_bodies_are_refused_and_save_nothing(agent, body, answer):
    for path in ("/v1/jobs", "/v1/job/hostile"):
        resp = agent.http.put(path, content=body)
        assert (resp.status_code, resp.text) == (400, answer)
        assert resp.headers["Content-Type"].startswith("text/plain")
    assert agent.http.get("/v1/jobs", params={"namespace": "*"}).json() == []
    assert agent.http.get("/v1/evaluations").json() == []
    assert sorted(p.name for p in (agent.home / "agent" / "state").iterdir()) == ["meta.json"]


INVALID = [
    # (request, the errors Job.Validate lists)
    (
        job_with(task={"Name": "../../../../tmp/tapit-escape"}),
        [
            "Task group main validation failed: 1 error occurred:\n\t* Task ../../../../tmp/tapit-escape validation "
            "failed: 1 error occurred:\n\t* Task name cannot include slashes\n\n\n\n"
        ],
    ),
    (
        job_with(task={"Name": "alloc"}),
        [
            "Task group main validation failed: 1 error occurred:\n\t* Task alloc validation failed: 1 error "
            'occurred:\n\t* Task cannot be named "alloc"\n\n\n\n'
        ],
    ),
    (
        job_with(task={"Name": "a\\b", "Resources": {"CPU": 0, "MemoryMB": 5}}),
        [
            "Task group main validation failed: 1 error occurred:\n\t* Task a\\b validation failed: 2 errors "
            "occurred:\n\t* Task name cannot include slashes\n\t* 1 error occurred:\n\t* 2 errors occurred:\n\t"
            "* minimum CPU value is 1; got 0\n\t* minimum MemoryMB value is 10; got 5\n\n\n\n\n\n\n\n"
        ],
    ),
    (
        job_with(ID="bad\0id", Name="x", Priority=101),
        ["Job ID contains a null character", "job priority must be between [1, 100]"],
    ),
    (
        job_with(group={"Name": "g\0", "Count": 50_001}),
        [
            "Task group g\0 validation failed: 1 error occurred:\n\t* Task group name contains null character\n\n",
            "total count was greater than configured job_max_count: 50001 > 50000",
        ],
    ),
]


def multierror(errors):
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    return f"{len(errors)} errors occurred:\n\t" + "\n\t".join(f"* {e}" for e in errors) + "\n\n"


@pytest.mark.parametrize("request_body,errors", INVALID, ids=range(len(INVALID)))
def test_invalid_jobs_answer_as_job_register_does_and_save_nothing(agent, request_body, errors):
    escape = agent.home.parent / "tapit-escape"
    resp = agent.http.put("/v1/jobs", json=request_body)
    assert (resp.status_code, resp.text) == (500, multierror(errors))
    assert agent.http.get("/v1/jobs", params={"namespace": "*"}).json() == []
    assert sorted(p.name for p in (agent.home / "agent" / "state").iterdir()) == ["meta.json"]
    assert not (agent.home / "agent" / "allocs").exists() or not any((agent.home / "agent" / "allocs").iterdir())
    assert not escape.exists() and not (agent.home / "tmp").exists()


def test_dot_task_names_never_leave_the_allocation_directory(agent):
    """Task.Validate lets "." and ".." through (they have no slash); the agent still builds no
    directory outside the allocation's."""
    allocs = agent.home / "agent" / "allocs"
    before = {p for p in agent.home.rglob("*")}
    for name in ("..", "."):
        job_id = f"dots{len(name)}"
        agent.nomad.jobs.register_job({"Job": batch_job(job_id, "true", task={"Name": name})})
        alloc = agent.wait_alloc(job_id, ("failed", "complete"))
        assert alloc["ClientStatus"] == "failed"
    created = {p for p in agent.home.rglob("*")} - before
    # The supervisors' files and everything under the disks' directory are the agent's own: the
    # allocations' images (one goes in the background once its allocation has ended, so it may
    # still be there), the disk made ready for the next allocation (tapit/agent/diskpool.py), and
    # a release's bind mount of the allocations' directory (disk.py `view`), which shows the
    # allocation's own files under a second path while it lasts.
    run, disks = agent.home / "agent" / "run", agent.home / "agent" / "disks"
    stray = [p for p in created if allocs not in p.parents and p.parent != run and disks not in p.parents]
    assert not [p for p in stray if "state" not in p.parts], stray
    for alloc_dir in allocs.iterdir():
        # lost+found: the allocation's filesystem, until its release in the background unmounts it.
        assert {p.name for p in alloc_dir.iterdir()} <= {"alloc", "lost+found"}, list(alloc_dir.iterdir())
    assert not (allocs / "local").exists() and not (allocs / "secrets").exists()
