"""Job diffs (POST /v1/job/<id>/plan with Diff, GET /v1/job/<id>/versions?diffs=true) against
nomad/structs/diff.go: the field lists below are its JobDiff, TaskGroupDiff, TaskDiff, ObjectDiff
and FieldDiff (no omitempty: nil slices are null), its rules for Type (fieldDiff,
primitiveObjectDiff, Job.Diff), its sorting, and scheduler/annotate.go for a plan's annotations."""

from batch_jobs import batch_job

from tapit.agent.structs.job_diff import annotate, job_diff

JOB_DIFF = {"Type", "ID", "Fields", "Objects", "TaskGroups"}
TASK_GROUP_DIFF = {"Type", "Name", "Fields", "Objects", "Tasks", "Updates"}
TASK_DIFF = {"Type", "Name", "Fields", "Objects", "Annotations"}
OBJECT_DIFF = {"Type", "Name", "Fields", "Objects"}
FIELD_DIFF = {"Type", "Name", "Old", "New", "Annotations"}


def _shapes(diff):
    assert set(diff) == JOB_DIFF
    for group in diff["TaskGroups"] or ():
        assert set(group) == TASK_GROUP_DIFF
        for task in group["Tasks"] or ():
            assert set(task) == TASK_DIFF
            for obj in task["Objects"] or ():
                assert set(obj) == OBJECT_DIFF
                assert all(set(field) == FIELD_DIFF for field in obj["Fields"] or ())


def test_versions_diff_each_version_against_the_one_before(agent):
    agent.register("ver", "true")
    agent.register("ver", "echo changed")
    body = agent.http.get("/v1/job/ver/versions", params={"diffs": "true"}).json()
    assert len(body["Diffs"]) == 1  # the oldest version has nothing before it
    diff = body["Diffs"][0]
    _shapes(diff)
    assert (diff["Type"], diff["ID"], diff["Fields"], diff["Objects"]) == ("Edited", "ver", None, None)
    (group,) = diff["TaskGroups"]
    (task,) = group["Tasks"]
    assert (group["Type"], group["Updates"], task["Type"], task["Fields"]) == ("Edited", None, "Edited", None)
    (config,) = task["Objects"]
    # configDiff: contextual (GetJobVersions diffs with contextual=true), flattened with indexes.
    assert (config["Type"], config["Name"]) == ("Edited", "Config")
    assert [(f["Type"], f["Name"], f["Old"], f["New"]) for f in config["Fields"]] == [
        ("None", "args[0]", "-c", "-c"),
        ("Edited", "args[1]", "true", "echo changed"),
        ("None", "command", "/bin/sh", "/bin/sh"),
    ]
    # diff_version: every version against that one (itself included, a None diff).
    body = agent.http.get("/v1/job/ver/versions", params={"diffs": "true", "diff_version": "1"}).json()
    assert [d["Type"] for d in body["Diffs"]] == ["None", "Edited"]
    resp = agent.http.get("/v1/job/ver/versions", params={"diffs": "true", "diff_version": "7"})
    assert (resp.status_code, resp.text) == (500, "version 7 not found")


def test_plan_diff_with_annotations(agent):
    agent.register("planned", "sleep 300")  # still running when planned: it is replaced, not ignored
    job = agent.nomad.job.get_job("planned")
    job["Meta"] = {"owner": "ops"}
    job["TaskGroups"][0]["Count"] = 2
    resp = agent.http.post("/v1/job/planned/plan", json={"Job": job, "Diff": True})
    assert resp.status_code == 200
    diff = resp.json()["Diff"]
    _shapes(diff)
    assert diff["Type"] == "Edited"
    # Job.Diff: the job's own fields are never contextual; Meta is flattened as Meta[key].
    assert [(f["Type"], f["Name"], f["Old"], f["New"]) for f in diff["Fields"]] == [
        ("Deleted", "Meta[managed-by]", "tapit-tests", ""),
        ("Added", "Meta[owner]", "", "ops"),
    ]
    (group,) = diff["TaskGroups"]
    assert [(f["Name"], f["Old"], f["New"], f["Annotations"]) for f in group["Fields"]] == [
        ("Count", "1", "2", ["forces create"])
    ]
    # annotate.go: from DesiredTGUpdates (a changed Meta replaces the running allocation).
    assert group["Updates"] == {"create": 1, "create/destroy update": 1}
    assert group["Tasks"][0]["Type"] == "None" and group["Tasks"][0]["Annotations"] is None
    # Without Diff there is none; a new job is all Added.
    assert agent.http.post("/v1/job/planned/plan", json={"Job": job}).json()["Diff"] is None
    fresh = batch_job("fresh", "true")
    diff = agent.http.post("/v1/job/fresh/plan", json={"Job": fresh, "Diff": True}).json()["Diff"]
    assert diff["Type"] == "Added" and diff["TaskGroups"][0]["Type"] == "Added"
    assert diff["TaskGroups"][0]["Tasks"][0]["Annotations"] == ["forces create"]
    assert all(f["Type"] == "Added" for f in diff["Fields"])


def test_a_plan_ignores_what_a_batch_job_finished_under_its_older_version(agent):
    agent.register("finished", "true")
    agent.wait_alloc("finished", {"complete"})
    job = agent.nomad.job.get_job("finished")
    unchanged = agent.http.post("/v1/job/finished/plan", json={"Job": job, "Diff": True}).json()
    # Same version: the finished allocation is the group's one, kept (reconcile_cluster.go computeUpdates).
    assert unchanged["Annotations"]["DesiredTGUpdates"]["main"]["Ignore"] == 1
    assert unchanged["Diff"]["TaskGroups"][0]["Updates"] == {"ignore": 1}
    job["TaskGroups"][0]["Count"] = 2
    changed = agent.http.post("/v1/job/finished/plan", json={"Job": job, "Diff": True}).json()
    # A new version: filterOldTerminalAllocs sets the finished one aside and both are placed anew.
    update = changed["Annotations"]["DesiredTGUpdates"]["main"]
    assert (update["Place"], update["Ignore"], update["DestructiveUpdate"], update["Stop"]) == (2, 1, 0, 0)
    assert changed["Diff"]["TaskGroups"][0]["Updates"] == {"create": 2, "ignore": 1}


def _job(**fields):
    task = {"Name": "t", "Driver": "raw_exec", "KillTimeout": 5, "Config": {}, "Meta": None, "Env": None}
    group = {"Name": "g", "Count": 1, "ShutdownDelay": None, "Tasks": [task], "RestartPolicy": {"Attempts": 0}}
    return {"ID": "j", "Priority": 50, "Version": 0, "Datacenters": ["dc1"], "TaskGroups": [group], **fields}


def test_rules_of_diff_go():
    old, new = _job(), _job(Version=3, Priority=70, Datacenters=["dc1", "dc2"])
    new["TaskGroups"][0]["Tasks"][0]["KillTimeout"] = 9
    new["TaskGroups"][0]["RestartPolicy"] = {"Attempts": 2}
    diff = job_diff(old, new)
    # Version is filtered; Priority is Edited; Datacenters is a string set.
    assert [(f["Name"], f["Type"]) for f in diff["Fields"]] == [("Priority", "Edited")]
    (datacenters,) = diff["Objects"]
    assert (datacenters["Name"], datacenters["Type"]) == ("Datacenters", "Added")
    # FieldDiff.Less: by Name, then Old ("" first), then New.
    assert [(f["Type"], f["Old"], f["New"]) for f in datacenters["Fields"]] == [
        ("Added", "", "dc2"),
        ("None", "dc1", "dc1"),
    ]
    group = diff["TaskGroups"][0]
    assert [(o["Name"], o["Type"]) for o in group["Objects"]] == [("RestartPolicy", "Edited")]
    # A change of KillTimeout only is an in-place update (annotate.go annotateTask).
    annotate(diff, {})
    assert group["Tasks"][0]["Annotations"] == ["forces in-place update"]
    assert job_diff(old, old)["Type"] == "None"
    deleted = job_diff(old, None)
    assert deleted["Type"] == "Deleted" and deleted["TaskGroups"][0]["Type"] == "Deleted"
    try:
        job_diff(old, _job(ID="other"))
    except ValueError as exc:
        assert str(exc) == 'can not diff jobs with different IDs: "j" and "other"'
    else:
        raise AssertionError("jobs of different IDs were diffed")
