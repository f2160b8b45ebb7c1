"""Blocking queries, the event stream, and alloc exec over a websocket."""

import base64
import json
import signal
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, connect_ws
from wsproto.utilities import LocalProtocolError

from tapit.agent import daemon


def test_blocking_query_waits_for_a_change(agent):
    agent.register("block", "sleep 0.5")
    alloc = agent.wait_alloc("block", ("running",))
    resp = agent.http.get(f"/v1/allocation/{alloc['ID']}")
    index = int(resp.headers["X-Nomad-Index"])
    assert resp.headers["X-Nomad-KnownLeader"] == "true" and resp.headers["X-Nomad-LastContact"] == "0"
    started = time.monotonic()
    resp = agent.http.get(f"/v1/allocation/{alloc['ID']}", params={"index": index, "wait": "10s"})
    assert time.monotonic() - started < 5 and int(resp.headers["X-Nomad-Index"]) > index
    resp = agent.http.get("/v1/jobs", params={"index": 10**9, "wait": "300ms"})
    assert resp.status_code == 200 and time.monotonic() - started >= 0.3
    assert agent.http.get("/v1/jobs", params={"index": 1, "wait": "soon"}).text == "Invalid wait time"
    assert agent.http.get("/v1/jobs", params={"index": "x"}).text == "Invalid index"


def test_a_zero_or_negative_wait_blocks_as_long_as_any(agent):
    """QueryOptions.TimeToBlock: a wait of zero or less is DefaultBlockingRPCQueryTime, not none;
    http.go parseWait reads wait before index, with time.ParseDuration and strconv.ParseUint."""
    index = int(agent.http.get("/v1/jobs").headers["X-Nomad-Index"])
    for wait in ("0", "-5s"):
        timer = threading.Timer(0.5, agent.register, (f"woken-{wait}", "true"))
        timer.start()
        started = time.monotonic()
        resp = agent.http.get("/v1/jobs", params={"index": index, "wait": wait})
        timer.join()
        assert time.monotonic() - started >= 0.4 and int(resp.headers["X-Nomad-Index"]) > index, wait
        index = int(resp.headers["X-Nomad-Index"])
    assert agent.http.get("/v1/jobs", params={"index": "x", "wait": "soon"}).text == "Invalid wait time"
    for bad in ("+1", " 1", "-1", str(2**64)):
        assert agent.http.get("/v1/jobs", params={"index": bad}).text == "Invalid index", bad


def test_event_stream(agent):
    lines = []
    subscribed = threading.Event()

    def listen():
        with httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": agent.token}) as client:
            with client.stream(
                "GET",
                "/v1/event/stream",
                params=[("topic", "Job:ev"), ("topic", "Allocation:ev")],
                timeout=httpx.Timeout(10, read=10),
            ) as resp:
                assert resp.headers["Content-Type"].startswith("application/json")
                for line in resp.iter_lines():
                    lines.append(json.loads(line))
                    subscribed.set()  # the first line, {}, comes once the subscription stands
                    events = [e for b in lines for e in b.get("Events", [])]
                    if any(
                        e["Topic"] == "Allocation" and e["Payload"]["Allocation"]["ClientStatus"] == "complete"
                        for e in events
                    ):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert subscribed.wait(10)
    agent.register("other", "true")
    agent.register("ev", "true")
    listener.join(timeout=10)
    assert lines[0] == {}
    events = [e for b in lines for e in b.get("Events", [])]
    assert {e["Key"] for e in events if e["Topic"] == "Job"} == {"ev"}
    kinds = [(e["Topic"], e["Type"]) for e in events]
    assert kinds[0] == ("Job", "JobRegistered")
    assert ("Allocation", "PlanResult") in kinds and ("Allocation", "AllocationUpdated") in kinds
    alloc_event = next(e for e in events if e["Topic"] == "Allocation")
    # Nomad strips the Job from allocation events; Allocation being omitempty, the key goes too.
    assert "Job" not in alloc_event["Payload"]["Allocation"]
    assert not {"DeploymentID", "DesiredTransition", "NextAllocation"} & set(alloc_event["Payload"]["Allocation"])
    assert alloc_event["FilterKeys"][0] == "ev" and alloc_event["Index"] > 0
    assert agent.http.get("/v1/event/stream", params={"topic": "a:b:c"}).text == "Invalid topic query"


def read_events(agent, params, until, timeout=10.0):
    """Events of the stream until until(events) holds; fails if the stream goes quiet first."""
    events = []
    deadline = time.monotonic() + timeout
    with agent.http.stream("GET", "/v1/event/stream", params=params, timeout=httpx.Timeout(timeout)) as resp:
        for line in resp.iter_lines():
            events += json.loads(line).get("Events", [])
            if until(events):
                return events
            assert time.monotonic() < deadline, events
    raise AssertionError(f"the stream ended: {events}")


def test_events_are_snapshots_and_index_zero_replays_the_buffer(agent):
    agent.register("snap", "sleep 30")
    agent.wait_alloc("snap", ("running",))
    agent.nomad.job.deregister_job("snap")
    agent.wait_alloc("snap", ("complete",))

    def complete(events):
        return any(
            e["Topic"] == "Allocation" and e["Payload"]["Allocation"]["ClientStatus"] == "complete" for e in events
        )

    # index=0 starts at the buffer's head (EventBroker.Subscribe): the past comes first.
    for index in (0, 1):
        events = read_events(agent, [("topic", "Job:snap"), ("topic", "Allocation:snap"), ("index", index)], complete)
        jobs = [e for e in events if e["Topic"] == "Job"]
        assert jobs[0]["Type"] == "JobRegistered"
        # Each event shows its object as it was at that index, not as it is now.
        assert jobs[0]["Payload"]["Job"]["Stop"] is False and jobs[0]["Payload"]["Job"]["Status"] == "pending"
        stop = next(e for e in jobs if e["Type"] == "JobDeregistered")
        assert stop["Payload"]["Job"]["Stop"] is True
        allocs = [e["Payload"]["Allocation"] for e in events if e["Topic"] == "Allocation"]
        assert allocs[0]["ClientStatus"] == "pending" and allocs[0]["DesiredStatus"] == "run"
        assert allocs[-1]["ClientStatus"] == "complete" and allocs[-1]["DesiredStatus"] == "stop"
        assert len({a["ModifyIndex"] for a in allocs}) == len(allocs)


def test_job_status_change_is_a_job_write(agent):
    agent.register("status", "sleep 1")
    agent.wait_alloc("status", ("running",))
    resp = agent.http.get("/v1/job/status")
    index = int(resp.headers["X-Nomad-Index"])
    assert resp.json()["Status"] == "running"
    # setJobStatus writes the job: ModifyIndex, the jobs table index (waking blocking queries) ...
    resp = agent.http.get("/v1/job/status", params={"index": index, "wait": "8s"})
    job = resp.json()
    assert job["Status"] == "dead" and job["ModifyIndex"] > index
    assert int(resp.headers["X-Nomad-Index"]) == job["ModifyIndex"]
    resp = agent.http.get("/v1/jobs", params={"index": index, "wait": "1s"})
    assert int(resp.headers["X-Nomad-Index"]) >= job["ModifyIndex"]
    assert resp.json()[0]["ModifyIndex"] == job["ModifyIndex"]
    # ... and a Job event of the transaction's type.
    events = read_events(
        agent,
        [("topic", "Job:status"), ("index", 1)],
        lambda evs: any(e["Payload"]["Job"]["Status"] == "dead" for e in evs),
    )
    assert [(e["Type"], e["Payload"]["Job"]["Status"]) for e in events] == [
        ("JobRegistered", "pending"),
        ("PlanResult", "running"),
        ("AllocationUpdated", "dead"),
    ]
    assert events[-1]["Index"] == job["ModifyIndex"] == events[-1]["Payload"]["Job"]["ModifyIndex"]


def test_event_stream_marks_timeouts(agent):
    agent.register("tick", "sleep 60", group={"MaxRunDuration": 500_000_000})
    agent.wait_alloc("tick", ("complete",))
    with agent.http.stream("GET", "/v1/event/stream", params={"topic": "Allocation:tick", "index": 1}) as resp:
        for line in resp.iter_lines():
            batch = json.loads(line)
            done = [e for e in batch.get("Events", []) if e["Payload"]["Allocation"]["ClientStatus"] == "complete"]
            if done:
                assert done[0]["Payload"]["Timeout"] is True
                assert done[0]["Payload"]["TimeoutReason"] == "allocation exceeded max_run_duration"
                return


def exec_url(agent, alloc_id, command, tty, **extra):
    query = f"task=main&tty={str(tty).lower()}&command={quote(json.dumps(command))}"
    for key, value in extra.items():
        query += f"&{key}={value}"
    return f"{agent.address.replace('http', 'ws')}/v1/client/allocation/{alloc_id}/exec?{query}"


def run_exec(agent, alloc_id, command, tty=False, stdin=b"", headers=None, handshake=None, resize=None):
    out, frames = b"", []
    headers = {"X-Nomad-Token": agent.token} if headers is None else headers
    extra = {"ws_handshake": "true"} if handshake else {}
    with httpx.Client(headers=headers) as client:
        with connect_ws(exec_url(agent, alloc_id, command, tty, **extra), client) as ws:

            def send(frame) -> None:
                try:
                    ws.send_text(frame if isinstance(frame, str) else json.dumps(frame))
                except (LocalProtocolError, WebSocketDisconnect):
                    # A command that reads no input (`exit 5`) may be over, its exit sent and the
                    # socket closing, before all of this is sent: its frames are read all the same.
                    pass

            if handshake:
                send(handshake)
            if resize:
                send({"tty_size": resize})
            if stdin:
                send({"stdin": {"data": base64.b64encode(stdin).decode()}})
            send({"stdin": {"close": True}})
            send("{}")
            while True:
                frame = json.loads(ws.receive_text(timeout=10))
                frames.append(frame)
                for key in ("stdout", "stderr"):
                    if frame.get(key, {}).get("data"):
                        out += base64.b64decode(frame[key]["data"])
                if frame.get("exited"):
                    return out, frames


def test_exec_pipes_tty_and_exit_codes(agent):
    agent.register("console", "sleep 60", task={"Env": {"GREETING": "hi"}})
    alloc = agent.wait_alloc("console", ("running",))
    out, frames = run_exec(
        agent, alloc["ID"], ["/bin/sh", "-c", "cat; echo $GREETING; pwd; echo oops >&2"], stdin=b"typed\n"
    )
    # stdout and stderr are separate pipes: only the order within each is defined.
    stdout = b"".join(base64.b64decode(f["stdout"]["data"]) for f in frames if f.get("stdout", {}).get("data"))
    task_dir = agent.home / "agent" / "allocs" / alloc["ID"] / "main"
    assert stdout.decode().splitlines() == ["typed", "hi", str(task_dir)]
    assert {"stderr": {"data": base64.b64encode(b"oops\n").decode()}} in frames
    assert frames[-1] == {"exited": True, "result": {}}
    assert {"stdout": {"close": True}} in frames and {"stderr": {"close": True}} in frames
    out, frames = run_exec(agent, alloc["ID"], ["/bin/sh", "-c", "exit 5"])
    assert frames[-1] == {"exited": True, "result": {"exit_code": 5}}
    # The command waits for a line, which comes after the resize frame: the size is set by then.
    out, frames = run_exec(
        agent,
        alloc["ID"],
        ["/bin/sh", "-c", "read go; stty size; tty"],
        tty=True,
        resize={"height": 33, "width": 101},
        stdin=b"go\n",
    )
    lines = out.decode().split()
    assert lines[-3:-1] == ["33", "101"] and lines[-1].startswith("/dev/pts/")
    out, frames = run_exec(
        agent, alloc["ID"], ["/bin/echo", "shake"], headers={}, handshake={"version": 1, "auth_token": agent.token}
    )
    assert out == b"shake\n"


def test_exec_commands_start_with_default_signal_dispositions(agent):
    # An agent that was itself started with SIGHUP ignored (under nohup, say) does not pass it on.
    daemon.stop()
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        agent.refresh()
    finally:
        signal.signal(signal.SIGHUP, previous)
    agent.register("console3", "sleep 60")
    alloc = agent.wait_alloc("console3", ("running",))
    for tty in (False, True):
        command = ["/bin/sh", "-c", "exec grep -E '^Sig(Ign|Blk)' /proc/self/status"]
        out, _ = run_exec(agent, alloc["ID"], command, tty=tty)
        assert out.decode().split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def close_frame(agent, alloc_id, command, headers, handshake=None):
    """Open an exec session that the agent must refuse; return its close code and reason."""
    extra = {"ws_handshake": "true"} if handshake else {}
    with httpx.Client(headers=headers) as client:
        with connect_ws(exec_url(agent, alloc_id, command, False, **extra), client) as ws:
            if handshake:
                ws.send_text(json.dumps(handshake))
            with pytest.raises(WebSocketDisconnect) as err:
                ws.receive_text(timeout=10)
    return err.value.code, err.value.reason


def test_exec_errors_are_close_frames(agent):
    agent.register("console2", "sleep 60")
    alloc = agent.wait_alloc("console2", ("running",))
    token = {"X-Nomad-Token": agent.token}
    assert close_frame(agent, alloc["ID"], ["/bin/true"], {}, {"version": 1, "auth_token": "wrong"}) == (
        1008,
        "ACL token not found",
    )
    assert close_frame(agent, alloc["ID"], ["/bin/true"], {}, {"version": 2, "auth_token": agent.token}) == (
        1008,
        "unexpected handshake value: 2",
    )
    assert close_frame(agent, alloc["ID"], [], token) == (1008, "command is not present")
    # allocExec's tty error is uncoded (500, so 1011); readWsHandshake's goes out as a 400 (1008).
    with httpx.Client(headers=token) as client:
        with connect_ws(exec_url(agent, alloc["ID"], ["/bin/true"], "maybe"), client) as ws:
            with pytest.raises(WebSocketDisconnect) as err:
                ws.receive_text(timeout=10)
    assert (err.value.code, err.value.reason) == (
        1011,
        'tty value is not a boolean: strconv.ParseBool: parsing "maybe": invalid syntax',
    )
    with httpx.Client(headers=token) as client:
        with connect_ws(exec_url(agent, alloc["ID"], ["/bin/true"], False, ws_handshake="yes"), client) as ws:
            with pytest.raises(WebSocketDisconnect) as err:
                ws.receive_text(timeout=10)
    assert (err.value.code, err.value.reason) == (
        1008,
        'ws_handshake value is not a boolean: strconv.ParseBool: parsing "yes": invalid syntax',
    )
    assert close_frame(agent, "00000000-0000-0000-0000-000000000000", ["/bin/true"], token) == (
        1008,
        'Unknown allocation "00000000-0000-0000-0000-000000000000"',
    )


def test_the_exec_driver_isolates_pids_and_exec_joins_the_task(agent):
    [node] = agent.nomad.nodes.get_nodes()
    if not node["Drivers"]["exec"]["Healthy"]:
        pytest.skip("this machine cannot make pid and mount namespaces (no exec driver)")
    agent.register("isolated", "echo pid $$; sleep 60", driver="exec")
    alloc = agent.wait_alloc("isolated", ("running",))
    agent.wait_output(alloc["ID"], "pid 1\n")  # the task is pid 1 of its own pid namespace
    out, frames = run_exec(
        agent, alloc["ID"], ["/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'"]
    )
    command, count = out.decode().splitlines()
    assert command.strip() == "/bin/sh -c echo pid $$; sleep 60"  # the exec session sees the task as pid 1
    assert int(count) < 10  # and only the task's processes, not the machine's
    assert frames[-1] == {"exited": True, "result": {}}
