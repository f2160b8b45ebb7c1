"""POST /v1/client/allocation/<id>/restart with AllTasks: client/allocrunner/alloc_runner.go
RestartAll (ForceRestart of every task, taskrunner/lifecycle.go), which, unlike RestartRunning,
runs a task that has already ended again while its allocation runs (task_runner.go Run waits in
ALLOC_RESTART for just that)."""

import time

from batch_jobs import batch_job


def wait_state(agent, alloc_id, task, predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        state = agent.nomad.allocation.get_allocation(alloc_id)["TaskStates"][task]
        if predicate(state):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.05)


def test_all_tasks_reruns_a_task_that_has_ended_and_restarts_the_running_one(agent):
    job = batch_job("both", "echo ready; exec sleep 60")
    once = {**job["TaskGroups"][0]["Tasks"][0], "Name": "once"}
    once["Config"] = {"command": "/bin/sh", "args": ["-c", "echo once"]}
    job["TaskGroups"][0]["Tasks"].append(once)
    agent.nomad.jobs.register_job({"Job": job})
    alloc = agent.wait_alloc("both", ("running",))
    wait_state(agent, alloc["ID"], "once", lambda s: s["State"] == "dead")
    agent.wait_output(alloc["ID"], "ready\n")

    resp = agent.http.post(f"/v1/client/allocation/{alloc['ID']}/restart", json={"AllTasks": True})
    assert resp.status_code == 200
    state = wait_state(agent, alloc["ID"], "once", lambda s: s["Restarts"] == 1 and s["State"] == "dead")
    kinds = [event["Type"] for event in state["Events"]]
    assert kinds[-4:] == ["Restart Signaled", "Restarting", "Started", "Terminated"]
    assert state["Events"][-4]["RestartReason"] == "User requested all tasks to restart"
    assert state["Failed"] is False
    params = {"task": "once", "type": "stdout", "plain": "true"}
    assert agent.http.get(f"/v1/client/fs/logs/{alloc['ID']}", params=params).text == "once\nonce\n"
    main = wait_state(agent, alloc["ID"], "main", lambda s: s["Restarts"] == 1 and s["State"] == "running")
    assert main["Events"][-4]["Type"] == "Restart Signaled"
    agent.nomad.job.deregister_job("both")
    agent.wait_alloc("both", ("complete",))
