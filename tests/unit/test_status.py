"""Reading Nomad's allocation and evaluation shapes (nomad/structs/alloc.go Allocation, AllocClientStatus*;
nomad/structs/structs.go TaskState, TaskEvent, Evaluation.FailedTGAllocs, AllocMetric) as tapit statuses.

The fixtures are written from those structs, not from the agent.
"""

from datetime import datetime, timezone

from tapit.translate.status import event_job_id, observe, placement, record_from_stub, usage

T0 = 1495755675956923000


def alloc(client_status, events, description="", state="dead", failed=False, index=10):
    return {
        "ID": "a-1",
        "NodeName": "node1",
        "CreateIndex": index,
        "ClientStatus": client_status,
        "ClientDescription": description,
        "DesiredStatus": "run",
        "TaskStates": {
            "task": {
                "State": state,
                "Failed": failed,
                "Restarts": 0,
                "LastRestart": "0001-01-01T00:00:00Z",
                "StartedAt": "2017-05-25T23:41:23.240184101Z",
                "FinishedAt": "2017-05-25T23:41:25.5Z",
                "Events": events,
            }
        },
    }


def event(kind, **fields):
    return {"Type": kind, "Time": T0, "Details": {}, "ExitCode": 0, "Signal": 0, "DisplayMessage": "", **fields}


RECEIVED = [event("Received"), event("Task Setup", Message="Building Task Directory"), event("Started")]


def test_success():
    seen = observe(
        [alloc("complete", RECEIVED + [event("Terminated", Details={"exit_code": "0"})], "All tasks have completed")],
        [],
    )
    assert (seen.status, seen.exit_code) == ("complete", 0)
    assert seen.started_at == "2017-05-25T23:41:23.240Z" and seen.finished_at == "2017-05-25T23:41:25.500Z"


def test_failure_keeps_the_tasks_own_exit_code():
    events = RECEIVED + [
        event("Terminated", ExitCode=7, Details={"exit_code": "7"}),
        event("Not Restarting", FailsTask=True, RestartReason="Policy allows no restarts"),
    ]
    seen = observe([alloc("failed", events, "Failed tasks", failed=True)], [])
    assert (seen.status, seen.exit_code) == ("failed", 7)


def test_oom_kill_names_the_limit():
    events = RECEIVED + [event("Terminated", ExitCode=137, Details={"exit_code": "137", "oom_killed": "true"})]
    a = alloc("failed", events, "Failed tasks", failed=True)
    assert observe([a], [], memory_limit_mb=512).reason == "killed: out of memory (limit 512 MB)"


def test_a_kill_with_a_reason_says_it():
    # structs.TaskEvent.SetKillReason: a Killing event that says why the task was killed.
    events = RECEIVED + [
        event("Killing", KillReason="node drained"),
        event("Terminated", ExitCode=137, Signal=9),
        event("Killed"),
    ]
    a = alloc("failed", events, "Failed tasks", failed=True)
    assert observe([a], []).reason == "killed: node drained"


def test_stopped_by_job_stop():
    events = RECEIVED + [event("Killing"), event("Terminated", ExitCode=143), event("Killed")]
    assert observe([alloc("complete", events)], []).status == "stopped"


def test_max_run_duration():
    events = RECEIVED + [event("Killing", DisplayMessage="allocation exceeded max_run_duration"), event("Terminated")]
    seen = observe([alloc("complete", events, "allocation exceeded max_run_duration")], [])
    assert seen.status == "timed_out"


def test_running_pending_and_lost():
    assert observe([alloc("running", RECEIVED, "Tasks are running", state="running")], []).status == "running"
    assert (
        observe([alloc("pending", [event("Received")], "No tasks have started", state="pending")], []).status
        == "pending"
    )
    assert observe([alloc("lost", RECEIVED)], []).status == "lost"


def test_latest_allocation_wins():
    old = alloc("failed", RECEIVED, index=5)
    new = alloc("running", RECEIVED, state="running", index=9)
    assert observe([new, old], []).status == "running"


def test_placement_failure_from_the_blocked_evaluation():
    evals = [
        {
            "ID": "e1",
            "Status": "complete",
            "CreateIndex": 3,
            "FailedTGAllocs": {
                "task": {
                    "NodesEvaluated": 1,
                    "NodesFiltered": 1,
                    "NodesInPool": 1,
                    "ConstraintFiltered": {"missing drivers": 1},
                    "DimensionExhausted": None,
                }
            },
        },
        {"ID": "e2", "Status": "blocked", "CreateIndex": 4, "TriggeredBy": "queued-allocs"},
    ]
    seen = observe([], evals)
    assert seen.status == "pending"
    assert "missing drivers" in seen.reason


def test_exhausted_dimension():
    evals = [{"CreateIndex": 1, "FailedTGAllocs": {"task": {"NodesEvaluated": 1, "DimensionExhausted": {"memory": 1}}}}]
    assert observe([], evals).reason == "not enough memory on any node"


def test_placement_reads_node_reserved_cpu_and_task_events():
    allocation = alloc(
        "failed",
        RECEIVED + [event("Terminated", ExitCode=137, DisplayMessage="Exit Code: 137", Details={"oom_killed": "true"})],
    )
    allocation["AllocatedResources"] = {"Tasks": {"task": {"Cpu": {"CpuShares": 2400}, "Memory": {"MemoryMB": 256}}}}
    seen = placement(allocation)
    assert (seen.node_name, seen.cpu_mhz) == ("node1", 2400)
    assert [(e.type, e.message) for e in seen.events] == [
        ("Received", ""),
        ("Task Setup", "Building Task Directory"),  # no DisplayMessage: the Message
        ("Started", ""),
        ("Terminated", "Exit Code: 137 (out of memory)"),
    ]
    assert seen.events[0].at == datetime.fromtimestamp(T0 / 1e9, timezone.utc)  # Unix nanoseconds
    assert placement({"ID": "a-2"}) == type(seen)(node_name=None, cpu_mhz=None, events=())  # a stub: nothing yet


def test_usage_from_allocation_stats():
    # api/tasks.go AllocResourceUsage: RSS where the driver measures it, else Usage.
    stats = {
        "ResourceUsage": {
            "MemoryStats": {"RSS": 0, "Usage": 5 << 20},
            "CpuStats": {"Percent": 12.5, "TotalTicks": 300.0},
        }
    }
    assert usage(stats) == type(usage(stats))(memory_bytes=5 << 20, cpu_percent=12.5, cpu_mhz=300.0)
    assert usage({}).memory_bytes == 0 and usage({}).cpu_mhz == 0.0


def test_the_job_of_an_event():
    # nomad/state/events.go: a Job event is keyed by the job; an Allocation event by the allocation.
    assert event_job_id({"Topic": "Job", "Key": "tapit-1", "Payload": {"Job": {"ID": "tapit-1"}}}) == "tapit-1"
    assert (
        event_job_id({"Topic": "Allocation", "Key": "a-1", "Payload": {"Allocation": {"JobID": "tapit-2"}}})
        == "tapit-2"
    )
    assert event_job_id({"Topic": "Evaluation"}) == ""


def test_a_teammates_task_from_its_job_stub():
    stub = {
        "ID": "tapit-0a1b2c3d",
        "Namespace": "team-a",
        "Status": "dead",
        "Meta": {
            "tapit_task_id": "0a1b2c3d",
            "tapit_command": "make",
            "tapit_initiated_by": "bob",
            "tapit_kind": "task",
        },
        "JobSummary": {"Summary": {"task": {"Complete": 0, "Failed": 1}}},
    }
    record = record_from_stub(stub)
    assert (record.id, record.status, record.command, record.initiated_by) == ("0a1b2c3d", "failed", "make", "bob")
    assert record.nomad_namespace == "team-a" and record.nomad_job_id == "tapit-0a1b2c3d"
    assert record_from_stub({"ID": "web", "Meta": {}}) is None  # not a tapit task
