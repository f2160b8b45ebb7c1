"""Blocking queries, the event stream, and alloc exec over a websocket."""

import base64
import json
import threading
import time
from urllib.parse import quote

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, connect_ws


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


def test_event_stream(agent):
    lines = []
    subscribed = threading.Event()

    def listen():
        with httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": agent.token}) as client:
            with client.stream("GET", "/v1/event/stream", params=[("topic", "Job:ev"), ("topic", "Allocation:ev")],
                               timeout=httpx.Timeout(10, read=10)) as resp:
                assert resp.headers["Content-Type"].startswith("application/json")
                for line in resp.iter_lines():
                    lines.append(json.loads(line))
                    subscribed.set()  # the first line, {}, comes once the subscription stands
                    events = [e for b in lines for e in b.get("Events", [])]
                    if any(e["Topic"] == "Allocation" and e["Payload"]["Allocation"]["ClientStatus"] == "complete"
                           for e in events):
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
    assert alloc_event["Payload"]["Allocation"]["Job"] is None
    assert alloc_event["FilterKeys"][0] == "ev" and alloc_event["Index"] > 0
    assert agent.http.get("/v1/event/stream", params={"topic": "a:b:c"}).text == "Invalid topic query"


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
            if handshake:
                ws.send_text(json.dumps(handshake))
            if resize:
                ws.send_text(json.dumps({"tty_size": resize}))
            if stdin:
                ws.send_text(json.dumps({"stdin": {"data": base64.b64encode(stdin).decode()}}))
            ws.send_text(json.dumps({"stdin": {"close": True}}))
            ws.send_text("{}")
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
    out, frames = run_exec(agent, alloc["ID"], ["/bin/sh", "-c", "cat; echo $GREETING; pwd; echo oops >&2"],
                           stdin=b"typed\n")
    assert out.decode().splitlines()[:3] == ["typed", "hi", str(agent.home / "agent" / "allocs" / alloc["ID"] / "main")]
    assert {"stderr": {"data": base64.b64encode(b"oops\n").decode()}} in frames
    assert frames[-1] == {"exited": True, "result": {}}
    assert {"stdout": {"close": True}} in frames and {"stderr": {"close": True}} in frames
    out, frames = run_exec(agent, alloc["ID"], ["/bin/sh", "-c", "exit 5"])
    assert frames[-1] == {"exited": True, "result": {"exit_code": 5}}
    out, frames = run_exec(agent, alloc["ID"], ["/bin/sh", "-c", "stty size; tty"], tty=True,
                           resize={"height": 33, "width": 101})
    lines = out.decode().split()
    assert lines[:2] == ["33", "101"] and lines[2].startswith("/dev/pts/")
    out, frames = run_exec(agent, alloc["ID"], ["/bin/echo", "shake"], headers={},
                           handshake={"version": 1, "auth_token": agent.token})
    assert out == b"shake\n"


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
        1008, "ACL token not found")
    assert close_frame(agent, alloc["ID"], ["/bin/true"], {}, {"version": 2, "auth_token": agent.token}) == (
        1008, "unexpected handshake value: 2")
    assert close_frame(agent, alloc["ID"], [], token) == (1008, "command is not present")
    assert close_frame(agent, "00000000-0000-0000-0000-000000000000", ["/bin/true"], token) == (
        1008, 'Unknown allocation "00000000-0000-0000-0000-000000000000"')
