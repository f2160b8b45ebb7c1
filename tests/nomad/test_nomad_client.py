"""NomadClient against a real HTTP server speaking Nomad's wire shapes.

The server is tests/nomad/nomad_stub.py, an aiohttp stand-in for the embedded agent being
written in parallel; its bytes come from Nomad's source (the files it cites), not from this client.
"""

import base64
import os
import socket
import threading
import time

import pytest

from nomad_stub import ALLOC_ID, EVAL_ID, StubNomad, log_bytes
from tapit.nomad.client import NomadClient
from tapit.nomad.errors import NomadError, NomadNotFound, NomadRefused, NomadUnreachable
from tapit.nomad.settings import NomadSettings

JOB = {"ID": "tapit-1", "Name": "tapit-1", "Type": "batch", "Meta": {"tapit-task-id": "1"}}


def every_call(c: NomadClient) -> None:
    c.jobs.register(JOB)
    c.jobs.info("tapit-1")
    c.jobs.list("tapit")
    c.jobs.allocations("tapit-1")
    c.jobs.evaluations("tapit-1")
    c.allocations.info(ALLOC_ID)
    c.evaluations.info(EVAL_ID)
    c.agent.info()
    c.allocations.stats(ALLOC_ID)
    c.jobs.allocations("tapit-1", index=0, wait=1)
    c.allocations.info(ALLOC_ID, index=0, wait=1)
    list(log_bytes(c, ALLOC_ID, "main", "stdout"))
    stop = threading.Event()
    stop.set()
    list(c.event_stream.stream(["Job"], stop=stop))
    c.jobs.deregister("tapit-1", purge=True)


def test_every_call_carries_token_namespace_and_region(stub, client):
    every_call(client)
    assert len(stub.requests) == 14
    assert len({(r["method"], r["path"]) for r in stub.requests}) == 12
    for request in stub.requests:
        assert request["headers"]["X-Nomad-Token"] == stub.token, request
        assert ("namespace", "team-a") in request["query"], request
        assert ("region", "eu") in request["query"], request


def test_settings_not_environment_decide(stub, monkeypatch):
    # python-nomad's Nomad() would take these from the environment when a setting is unset.
    for name, value in {
        "NOMAD_TOKEN": "env-token",
        "NOMAD_REGION": "env-region",
        "NOMAD_NAMESPACE": "env-ns",
        "NOMAD_ADDR": "http://127.0.0.1:1",
    }.items():
        monkeypatch.setenv(name, value)
    with NomadClient(NomadSettings(address=stub.address, token=stub.token)) as c:
        every_call(c)
    for request in stub.requests:
        assert request["headers"]["X-Nomad-Token"] == stub.token
        assert dict(request["query"]).get("namespace") == "default"
        assert "region" not in dict(request["query"])


def test_register_get_list_delete(stub, client):
    answer = client.jobs.register(JOB)
    assert answer["EvalID"] == EVAL_ID and answer["JobModifyIndex"] > 0
    assert client.jobs.info("tapit-1")["Meta"] == JOB["Meta"]
    assert client.jobs.info("tapit-404") is None
    jobs = client.jobs.list("tapit")
    assert [j["ID"] for j in jobs] == ["tapit-1"] and jobs[0]["Meta"] == JOB["Meta"]
    assert stub.query()["prefix"] == "tapit"
    assert client.jobs.list("nothing-") == []
    client.jobs.list("tapit", namespace="*")
    assert stub.query()["namespace"] == "*"
    assert client.jobs.deregister("tapit-1")["EvalID"] == EVAL_ID
    assert "purge" not in stub.query()
    assert client.jobs.info("tapit-1")["Stop"] is True
    client.jobs.deregister("tapit-1", purge=True)
    assert stub.query()["purge"] in ("true", "True")
    assert client.jobs.info("tapit-1") is None
    assert client.jobs.deregister("tapit-1", purge=True)["EvalID"] == ""  # unknown job: not an error


def test_reads(stub, client):
    assert client.jobs.allocations("tapit-1")[0]["ID"] == ALLOC_ID
    assert client.jobs.evaluations("tapit-1")[0]["ID"] == EVAL_ID
    assert client.allocations.info(ALLOC_ID)["ClientStatus"] == "running"
    assert client.evaluations.info(EVAL_ID)["TriggeredBy"] == "job-register"
    assert client.agent.info()["config"]["Version"]["Version"] == "2.0.5"
    assert "ResourceUsage" in client.allocations.stats(ALLOC_ID)


def test_lookups_of_missing_objects(client):
    for lookup in (
        lambda: client.allocations.info("nope"),
        lambda: client.evaluations.info("nope"),
        lambda: list(log_bytes(client, "nope", "main", "stdout")),
    ):
        with pytest.raises(NomadNotFound) as caught:
            lookup()
        assert caught.value.reason in ("alloc not found", "eval not found")
        assert caught.value.address in str(caught.value)


def test_permission_denied_names_the_capability(stub, client):
    with pytest.raises(NomadRefused) as caught:
        client.jobs.info("forbidden")
    assert caught.value.status == 403 and caught.value.reason == "Permission denied"
    assert str(caught.value) == (
        f"Nomad at {stub.address} refused the request (HTTP 403): Permission denied "
        '(the token needs capability "read-job" in namespace "team-a")'
    )


def test_wrong_token_is_refused_everywhere(stub):
    c = NomadClient(NomadSettings(address=stub.address, token="wrong-token"))
    calls = {
        "submit-job": lambda: c.jobs.register(JOB),
        "list-jobs": lambda: c.jobs.list(""),
        "read-job": lambda: c.allocations.info(ALLOC_ID, index=1, wait=1),
        "read-logs": lambda: list(log_bytes(c, ALLOC_ID, "main", "stdout")),
        '"purge-job"': lambda: c.jobs.deregister("x", purge=True),
        'agent policy "read"': c.agent.info,
    }
    for capability, call in calls.items():
        with pytest.raises(NomadRefused) as caught:
            call()
        assert caught.value.status == 403
        assert capability in str(caught.value)
        assert "wrong-token" not in str(caught.value)
    with pytest.raises(NomadRefused, match="read-job"):
        list(c.event_stream.stream(["Job", "Allocation:tapit-1"]))
    c.close()


def test_server_errors_keep_the_body_and_print_one_line(stub, client):
    with pytest.raises(NomadRefused) as caught:
        client.jobs.info("broken")
    assert caught.value.status == 500
    assert caught.value.reason == "rpc error: 2 errors occurred:\n\t* one\n\t* two"
    assert "\n" not in str(caught.value) and "* one * two" in str(caught.value)
    with pytest.raises(NomadRefused) as caught:
        client.jobs.register({"ID": "invalid"})
    assert "validation failed" in str(caught.value)
    with pytest.raises(NomadRefused) as caught:
        client.jobs.register({})
    assert (caught.value.status, caught.value.reason) == (400, "Job must be specified")


def test_token_never_appears_in_errors(stub, client):
    with pytest.raises(NomadRefused) as caught:
        client.jobs.register({"ID": "echo-token"})
    assert stub.token not in str(caught.value) and stub.token not in caught.value.reason
    assert "<token>" in caught.value.reason


def test_blocking_query_returns_at_timeout_without_change(stub, client):
    body, index = client.allocations.info(ALLOC_ID, index=stub.index, wait=0.5)
    started = time.monotonic()
    body, same = client.allocations.info(ALLOC_ID, index=index, wait=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert same == index and body["ID"] == ALLOC_ID
    assert stub.query()["index"] == str(index) and stub.query()["wait"] == "500ms"


def test_blocking_query_wakes_on_change(stub, client):
    _, index = client.jobs.allocations("tapit-1", index=0)
    threading.Timer(0.3, stub.change, [lambda s: s.alloc.update(ClientStatus="complete")]).start()
    started = time.monotonic()
    allocs, new_index = client.jobs.allocations("tapit-1", index=index, wait=30)
    assert time.monotonic() - started < 5
    assert new_index > index and allocs[0]["ClientStatus"] == "complete"


def test_blocking_query_outlasts_python_nomads_five_second_timeout(stub, client):
    _, index = client.allocations.info(ALLOC_ID, index=0)
    threading.Timer(5.5, stub.change, [lambda s: s.alloc.update(ClientStatus="failed")]).start()
    body, new_index = client.allocations.info(ALLOC_ID, index=index, wait=8)
    assert new_index > index and body["ClientStatus"] == "failed"


@pytest.mark.parametrize("gzip", [True, False])
def test_log_stream_decodes_frames_cut_anywhere(stub, client, gzip):
    stub.gzip = gzip
    payload = os.urandom(150_000) + "naïve ✓\n".encode()  # several 64 KiB frames, any bytes
    stub.logs[("main", "stdout")] = payload
    stub.log_piece = 1021
    assert b"".join(log_bytes(client, ALLOC_ID, "main", "stdout")) == payload
    query = stub.query()
    assert (query["task"], query["type"], query["follow"], query["plain"], query["offset"], query["origin"]) == (
        "main",
        "stdout",
        "false",
        "false",
        "0",
        "start",
    )


def test_log_stream_offset_and_origin(stub, client):
    assert b"".join(log_bytes(client, ALLOC_ID, "main", "stdout", offset=2)) == b"llo\n"
    assert b"".join(log_bytes(client, ALLOC_ID, "main", "stdout", offset=3, origin="end")) == b"lo\n"
    assert stub.query()["origin"] == "end"
    assert b"".join(log_bytes(client, ALLOC_ID, "main", "stderr")) == b""


def test_log_stream_errors(client):
    with pytest.raises(NomadRefused) as caught:
        list(log_bytes(client, ALLOC_ID, "other", "stdout"))
    assert (caught.value.status, caught.value.reason) == (400, 'unknown task name "other"')


@pytest.mark.parametrize(
    "task, problem",
    [("garbage", "a malformed log stream"), ("truncated", "a log stream that ended in the middle of a frame")],
)
def test_broken_log_streams_are_nomad_errors(stub, client, task, problem):
    with pytest.raises(NomadError) as caught:
        list(log_bytes(client, ALLOC_ID, task, "stdout"))
    assert str(caught.value).startswith(f"Nomad at {stub.address} sent {problem}")


def test_server_going_away_mid_follow_is_unreachable(stub, client):
    stream = log_bytes(client, ALLOC_ID, "main", "stdout", follow=True, stop=threading.Event())
    assert next(stream) == b"hello\n"
    stub.stop()
    with pytest.raises(NomadUnreachable) as caught:
        list(stream)
    assert caught.value.reason == "the server closed the connection in the middle of a response"


def test_follow_yields_new_output_and_ends_promptly_on_stop(stub, client):
    stop = threading.Event()
    stream = log_bytes(client, ALLOC_ID, "main", "stdout", follow=True, stop=stop)
    assert next(stream) == b"hello\n"
    stub.logs[("main", "stdout")] += b"world\n"
    assert next(stream) == b"world\n"  # sent at the next 1 s tick
    assert stub.query()["follow"] == "true"
    time.sleep(0.1)  # now between two heartbeats
    stop.set()
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 0.8


def test_events_skip_heartbeats_and_stop_promptly(stub, client):
    old = {"Index": 5, "Events": [{"Topic": "Job", "Type": "JobRegistered", "Key": "old", "Index": 5}]}
    new = {
        "Index": 12,
        "Events": [
            {
                "Topic": "Job",
                "Type": "JobRegistered",
                "Key": "tapit-1",
                "Index": 12,
                "Namespace": "default",
                "FilterKeys": None,
                "Payload": {"Job": JOB},
            }
        ],
    }
    stub.events = [old, new]
    stop = threading.Event()
    stream = client.event_stream.stream(["Job", "Allocation:tapit-1"], index=10, stop=stop)
    assert next(stream) == new
    assert [v for k, v in stub.requests[-1]["query"] if k == "topic"] == ["Job", "Allocation:tapit-1"]
    assert stub.query()["index"] == "10"
    later = {
        "Index": 14,
        "Events": [{"Topic": "Allocation", "Type": "AllocationUpdated", "Key": ALLOC_ID, "Index": 14}],
    }
    threading.Timer(0.2, stub.change, [lambda s: s.events.append(later)]).start()
    assert next(stream) == later
    stop.set()  # the next heartbeat is 30 s away
    started = time.monotonic()
    assert list(stream) == []
    assert time.monotonic() - started < 0.8


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_address_names_address_and_reason():
    address = f"http://127.0.0.1:{closed_port()}"
    c = NomadClient(NomadSettings(address=address, token="secret-token"))
    for call in (
        lambda: c.jobs.info("x"),
        lambda: c.jobs.register(JOB),
        lambda: c.allocations.info("a", index=1),
        lambda: list(log_bytes(c, "a", "main", "stdout")),
        lambda: list(c.event_stream.stream(["Job"])),
    ):
        with pytest.raises(NomadUnreachable) as caught:
            call()
        assert str(caught.value) == f"cannot reach Nomad at {address}: connection refused"
        assert caught.value.address == address and caught.value.reason == "connection refused"


def test_malformed_addresses_are_unreachable():
    for address in ("127.0.0.1:4646", "ftp://host", "unix://", "http://"):
        with pytest.raises(NomadUnreachable) as caught:
            NomadClient(NomadSettings(address=address))
        assert address in str(caught.value)


def test_unix_socket_address(tmp_path):
    server = StubNomad(unix_path=str(tmp_path / "nomad.sock")).start()
    try:
        assert server.address == f"unix://{tmp_path / 'nomad.sock'}"
        with NomadClient(NomadSettings(address=server.address, token=server.token)) as c:
            assert c.jobs.register(JOB)["EvalID"] == EVAL_ID  # python-nomad, over requests
            assert c.jobs.info("tapit-1")["ID"] == "tapit-1"
            assert c.jobs.info("missing") is None
            assert c.allocations.info(ALLOC_ID, index=0)[0]["ID"] == ALLOC_ID  # httpx
            assert b"".join(log_bytes(c, ALLOC_ID, "main", "stdout")) == b"hello\n"
    finally:
        server.stop()
    with pytest.raises(NomadUnreachable, match="connection refused"):  # the socket file outlives the server
        NomadClient(NomadSettings(address=server.address)).jobs.info("x")
    missing = f"unix://{tmp_path / 'missing.sock'}"
    for call in (lambda c: c.jobs.info("x"), lambda c: c.allocations.info("a", index=0)):
        with pytest.raises(NomadUnreachable) as caught:
            call(NomadClient(NomadSettings(address=missing)))
        assert str(caught.value) == f"cannot reach Nomad at {missing}: No such file or directory"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_http_basic_auth_on_rest_and_streams(stub):
    with NomadClient(NomadSettings(address=stub.address, token=stub.token, http_auth="alice:s3:cret")) as c:
        every_call(c)
    assert {r["headers"].get("Authorization") for r in stub.requests} == {basic("alice", "s3:cret")}


def test_credentials_in_the_address_are_used_and_never_shown(stub):
    address = stub.address.replace("http://", "http://bob:pa%40ss@")
    with NomadClient(NomadSettings(address=address, token=stub.token)) as c:
        c.jobs.info("tapit-1")
        c.allocations.info(ALLOC_ID, index=0)
        with pytest.raises(NomadError) as caught:
            c.jobs.info("forbidden")
    assert {r["headers"].get("Authorization") for r in stub.requests} == {basic("bob", "pa@ss")}
    assert "pa%40ss" not in str(caught.value) and "bob" not in str(caught.value)
