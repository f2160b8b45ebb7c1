"""The client endpoints that touch running tasks and allocation directories, against Nomad's
structs (client/structs/structs.go AllocFileInfo, client/hoststats/host.go HostStats) and the
drivers' own behaviour (drivers/rawexec/driver.go SignalTask)."""

import base64
import json
import time

import httpx

# client/structs AllocFileInfo (ContentType is omitempty, and only Stat sets it).
FILE_INFO = {"Name", "IsDir", "Size", "FileMode", "ModTime"}
# client/hoststats HostStats, MemoryStats, CPUStats, DiskStats.
HOST_STATS = {"Memory", "CPU", "DiskStats", "AllocDirStats", "DeviceStats", "Uptime", "Timestamp", "CPUTicksConsumed"}
MEMORY_STATS = {"Total", "Available", "Used", "Free"}
CPU_STATS = {"CPU", "User", "System", "Idle", "TotalPercent", "TotalTicks"}
DISK_STATS = {"Device", "Mountpoint", "Size", "Used", "Available", "UsedPercent", "InodesUsedPercent"}
# A task that says which signals reach it, and ends on SIGINT as a shell does.
TRAPPING = "trap 'echo got USR1' USR1; trap 'echo got INT; exit 3' INT; echo ready; while :; do sleep 0.1; done"


def running(agent, job_id, command=TRAPPING):
    agent.register(job_id, command)
    alloc = agent.wait_alloc(job_id, ("running",))
    agent.wait_output(alloc["ID"], "ready\n")
    return alloc


def test_signal_reaches_the_task_and_an_unknown_one_is_sigint(agent):
    alloc = running(agent, "sig")
    url = f"/v1/client/allocation/{alloc['ID']}/signal"
    resp = agent.http.post(url, json={"Signal": "SIGUSR1", "Task": "main"})
    assert (resp.status_code, resp.json()) == (200, {"Index": 0})  # structs.GenericResponse
    agent.wait_output(alloc["ID"], "got USR1\n")
    events = agent.nomad.allocation.get_allocation(alloc["ID"])["TaskStates"]["main"]["Events"]
    assert (events[-1]["Type"], events[-1]["Details"]["signal"]) == ("Signaling", "SIGUSR1")
    assert events[-1]["DisplayMessage"] == "Task being sent a signal"
    # raw_exec: a name signals.SignalLookup does not have is sent as SIGINT, no error.
    assert agent.http.post(url, json={"Signal": "NOT-A-SIGNAL"}).status_code == 200
    agent.wait_output(alloc["ID"], "got INT\n")
    agent.wait_alloc("sig", ("failed",))
    resp = agent.http.post(url, json={"Signal": "SIGUSR1", "Task": "main"})
    assert (resp.status_code, resp.text) == (500, "Task not running")
    resp = agent.http.post(url, json={"Signal": "SIGUSR1"})
    assert (resp.status_code, resp.text) == (
        500,
        "1 error occurred:\n\t* Failed to signal task: main, err: Task not running\n\n",
    )
    resp = agent.http.post(url, json={"Signal": "SIGUSR1", "Task": "other"})
    assert (resp.status_code, resp.text) == (500, "Task not found")
    resp = agent.http.post("/v1/client/allocation/nope/signal", json={"Signal": "SIGUSR1"})
    assert (resp.status_code, resp.text) == (404, 'Unknown allocation "nope"')
    resp = agent.http.post(url, content=b"{")
    assert (resp.status_code, resp.text) == (400, "Failed to decode body: unexpected EOF")


def test_ls_stat_cat_readat(agent):
    alloc = running(agent, "files", "printf 'hello world' > $NOMAD_ALLOC_DIR/data.txt; echo ready; sleep 60")
    base = "/v1/client/fs"
    files = agent.http.get(f"{base}/ls/{alloc['ID']}", params={"path": "/alloc"}).json()
    by_name = {f["Name"]: f for f in files}
    assert [f["Name"] for f in files] == sorted(by_name) and set(by_name["data.txt"]) == FILE_INFO
    assert (by_name["data.txt"]["Size"], by_name["logs"]["IsDir"]) == (11, True)
    assert by_name["logs"]["FileMode"].startswith("d")
    info = agent.http.get(f"{base}/stat/{alloc['ID']}", params={"path": "/alloc/data.txt"}).json()
    assert set(info) == FILE_INFO | {"ContentType"} and info["ContentType"] == "text/plain; charset=utf-8"
    assert agent.http.get(f"{base}/cat/{alloc['ID']}", params={"path": "/alloc/data.txt"}).text == "hello world"
    resp = agent.http.get(f"{base}/readat/{alloc['ID']}", params={"path": "/alloc/data.txt", "offset": 6, "limit": 3})
    assert resp.text == "wor"
    resp = agent.http.get(f"{base}/readat/{alloc['ID']}", params={"path": "/alloc/data.txt"})
    assert (resp.status_code, resp.text) == (500, 'error parsing offset: strconv.ParseInt: parsing "": invalid syntax')
    resp = agent.http.get(f"{base}/ls/{alloc['ID']}", params={"path": "/nope"})
    assert resp.status_code == 404 and resp.text.endswith("/nope: no such file or directory")
    resp = agent.http.get(f"{base}/ls/{alloc['ID']}", params={"path": "../.."})
    assert (resp.status_code, resp.text) == (500, "Path escapes the alloc directory")
    resp = agent.http.get(f"{base}/stat/{alloc['ID']}")
    assert (resp.status_code, resp.text) == (400, "must provide a file name")


def test_stream_frames_and_its_400_for_a_path_that_does_not_exist(agent):
    alloc = running(agent, "streamed", "echo ready; sleep 60")
    url = f"{agent.address}/v1/client/fs/stream/{alloc['ID']}"
    headers = {"X-Nomad-Token": agent.token}
    resp = httpx.get(url, params={"path": "/alloc/logs/main.stdout.0", "follow": "false"}, headers=headers)
    frame = json.loads(resp.text)
    # api.StreamFrame: Offset is where the frame's data ends, Data base64, File the path asked.
    assert frame == {"Offset": 6, "Data": base64.b64encode(b"ready\n").decode(), "File": "/alloc/logs/main.stdout.0"}
    resp = httpx.get(url, params={"path": "/redis/executor"}, headers=headers)
    assert resp.status_code == 400 and resp.text.endswith("/redis/executor: no such file or directory")
    resp = httpx.get(url, params={"path": "/alloc/logs"}, headers=headers)
    assert (resp.status_code, resp.text) == (400, 'file "/alloc/logs" is a directory')
    resp = httpx.get(url, params={"path": "/alloc/logs/main.stdout.0", "origin": "middle"}, headers=headers)
    assert (resp.status_code, resp.text) == (400, "origin must be start or end")
    # Following: the frames go on as the file grows.
    with httpx.stream("GET", url, params={"path": "/alloc/logs/main.stdout.0"}, headers=headers, timeout=10) as resp:
        first = next(resp.iter_raw())
        assert json.loads(first)["Offset"] == 6


def test_host_stats(agent):
    stats = agent.http.get("/v1/client/stats").json()
    assert set(stats) == HOST_STATS and set(stats["Memory"]) == MEMORY_STATS
    assert stats["CPU"] and all(set(c) == CPU_STATS for c in stats["CPU"])
    assert [c["CPU"] for c in stats["CPU"]] == [f"cpu{i}" for i in range(len(stats["CPU"]))]
    assert set(stats["AllocDirStats"]) == DISK_STATS and stats["DiskStats"]
    assert stats["Uptime"] > 0 and stats["Memory"]["Total"] >= stats["Memory"]["Free"]
    resp = agent.http.get("/v1/client/stats", params={"node_id": "other"})
    assert (resp.status_code, resp.text) == (404, "Unknown node other")


def test_client_gc_removes_what_has_ended(agent):
    agent.register("ended", "true")
    ended = agent.wait_alloc("ended", ("complete",))
    live = running(agent, "live", "echo ready; sleep 60")
    resp = agent.http.post(f"/v1/client/allocation/{live['ID']}/gc")
    assert (resp.status_code, resp.text) == (500, "No such allocation on client, or allocation not eligible for GC")
    resp = agent.http.put("/v1/client/gc")
    assert (resp.status_code, resp.content) == (200, b"")
    deadline = time.monotonic() + 10
    while (agent.home / "agent" / "allocs" / ended["ID"]).exists():
        assert time.monotonic() < deadline, "the ended allocation's directory stayed"
        time.sleep(0.05)
    assert (agent.home / "agent" / "allocs" / live["ID"]).exists()
    resp = agent.http.get(f"/v1/client/fs/ls/{ended['ID']}")
    assert (resp.status_code, resp.text) == (404, f"state for allocation {ended['ID']} not found on client")
    assert agent.nomad.allocation.get_allocation(ended["ID"])["ClientStatus"] == "complete"  # the server keeps it


def test_restart_runs_the_tasks_again_in_place(agent):
    """command/agent/alloc_endpoint.go allocRestart, client/client.go RestartAllocation and
    client/allocrunner/taskrunner/lifecycle.go restartImpl: the same allocation, its task killed
    and run again, "Restart Signaled" then "Terminated", "Restarting" (task_runner.go
    shouldRestart) and "Started"; TaskState.Restarts counted (appendEvent)."""
    alloc = running(agent, "restart", "echo ready; exec sleep 60")
    url = f"/v1/client/allocation/{alloc['ID']}/restart"
    resp = agent.http.post(url)  # no body: io.EOF, which allocRestart ignores
    assert (resp.status_code, resp.json()) == (200, {"Index": 0})  # structs.GenericResponse
    agent.wait_output(alloc["ID"], "ready\nready\n")
    state = agent.nomad.allocation.get_allocation(alloc["ID"])["TaskStates"]["main"]
    assert (state["State"], state["Restarts"], state["Failed"]) == ("running", 1, False)
    assert not state["LastRestart"].startswith("0001-")
    kinds = [event["Type"] for event in state["Events"]]
    assert kinds[-4:] == ["Restart Signaled", "Terminated", "Restarting", "Started"]
    signaled, restarting = state["Events"][-4], state["Events"][-2]
    assert signaled["RestartReason"] == signaled["DisplayMessage"] == "User requested running tasks to restart"
    assert signaled["Details"] == {"restart_reason": "User requested running tasks to restart"}
    assert (restarting["StartDelay"], restarting["DisplayMessage"]) == (0, "Task restarting in 0s")
    assert restarting["Details"] == {"start_delay": "0", "restart_reason": ""}
    assert [a["ID"] for a in agent.nomad.job.get_allocations("restart")] == [alloc["ID"]]

    resp = agent.http.put(url, json={"TaskName": "main"})
    assert resp.status_code == 200
    state = agent.nomad.allocation.get_allocation(alloc["ID"])["TaskStates"]["main"]
    assert state["Restarts"] == 2
    # The reply comes once the task has exited (restartImpl waits on killTask); "Started" of
    # the next run may or may not be there yet, so the event is found by its type.
    signaled = [event for event in state["Events"] if event["Type"] == "Restart Signaled"][-1]
    assert signaled["RestartReason"] == "User requested task to restart"

    resp = agent.http.post(url, json={"TaskName": "main", "AllTasks": True})
    assert (resp.status_code, resp.text) == (500, "task name cannot be set when restarting all tasks")
    resp = agent.http.post(url, json={"TaskName": "other"})
    assert (resp.status_code, resp.text) == (500, "Could not find task runner for task: other")
    resp = agent.http.post(url, content=b"{")
    assert (resp.status_code, resp.text) == (500, "unexpected EOF")
    resp = agent.http.post("/v1/client/allocation/nope/restart")
    assert (resp.status_code, resp.text) == (404, 'Unknown allocation "nope"')

    agent.nomad.job.deregister_job("restart")
    agent.wait_alloc("restart", ("complete",))
    resp = agent.http.post(url, json={"AllTasks": True})
    assert (resp.status_code, resp.text) == (500, "restart of an alloc that should not run")
    resp = agent.http.post(url, json={"TaskName": "main"})
    assert (resp.status_code, resp.text) == (500, "Task not running")
