"""NomadClient against tapit's real embedded agent (tapit/agent), running a real process.

The `tapit_home` fixture (tests/conftest.py) gives the agent its own state directory and stops
it, with its tasks, at teardown.
"""

import threading
import time

import pytest
from batch_jobs import batch_job
from nomad_stub import log_bytes

from tapit.agent import daemon
from tapit.nomad.client import NomadClient
from tapit.nomad.errors import NomadRefused
from tapit.nomad.settings import NomadSettings

TERMINAL = ("complete", "failed", "lost")


@pytest.fixture
def agent_client(tapit_home):
    info = daemon.ensure_running()
    with NomadClient(NomadSettings(address=info.address, token=info.token)) as client:
        yield client


def wait_until(client: NomadClient, alloc_id: str, done) -> dict:
    alloc, index = client.allocations.info(alloc_id, index=0)
    while not done(alloc):
        alloc, index = client.allocations.info(alloc_id, index=index, wait=10)
    return alloc


def started(alloc: dict) -> bool:
    # Logs of a task that has not started are a 404 (client/fs_endpoint.go logs: "not started yet").
    return (alloc.get("TaskStates") or {}).get("main", {}).get("State") in ("running", "dead")


def test_a_task_from_register_to_purge(agent_client):
    c = agent_client
    answer = c.jobs.register(batch_job("tapit-client-1", "echo out; echo err >&2; sleep 1; echo done; exit 7"))
    assert answer["EvalID"]
    assert c.jobs.info("tapit-client-1")["Type"] == "batch"
    assert [j["Meta"] for j in c.jobs.list("tapit-client-")] == [{"managed-by": "tapit-tests"}]
    allocs, index = c.jobs.allocations("tapit-client-1", index=0)
    while not allocs:
        allocs, index = c.jobs.allocations("tapit-client-1", index=index, wait=10)
    alloc_id = allocs[0]["ID"]
    assert c.jobs.evaluations("tapit-client-1")[0]["JobID"] == "tapit-client-1"
    assert c.evaluations.info(answer["EvalID"])["ID"] == answer["EvalID"]

    # Follow stdout while the task runs; stop it once the allocation is terminal: Nomad never ends a
    # followed stream itself (client/fs_endpoint.go logsImpl).
    wait_until(c, alloc_id, started)
    stop, out = threading.Event(), []
    follower = threading.Thread(
        target=lambda: out.extend(log_bytes(c, alloc_id, "main", "stdout", follow=True, stop=stop))
    )
    follower.start()
    alloc = wait_until(c, alloc_id, lambda a: a["ClientStatus"] in TERMINAL)
    stop.wait(1.5)  # more than a batch window, so the last frames arrive
    stop.set()
    follower.join(5)
    assert not follower.is_alive()
    assert b"".join(out) == b"out\ndone\n"

    assert alloc["ClientStatus"] == "failed"
    assert b"".join(log_bytes(c, alloc_id, "main", "stderr")) == b"err\n"
    assert b"".join(log_bytes(c, alloc_id, "main", "stdout", offset=4)) == b"done\n"
    assert c.allocations.info(alloc_id)["TaskStates"]["main"]["State"] == "dead"

    c.jobs.deregister("tapit-client-1", purge=True)
    assert c.jobs.info("tapit-client-1") is None


def test_event_stream_from_the_agent(agent_client):
    c = agent_client
    stop = threading.Event()
    stream = c.event_stream.stream(["Job:tapit-client-2"], stop=stop)
    threading.Timer(0.3, c.jobs.register, [batch_job("tapit-client-2", "true")]).start()
    message = next(stream)
    assert message["Index"] > 0 and message["Events"][0]["Key"] == "tapit-client-2"
    stop.set()
    started = time.monotonic()
    list(stream)
    assert time.monotonic() - started < 1  # heartbeats are 30 s apart: the stop ended it


def test_agent_refuses_a_wrong_token(tapit_home):
    info = daemon.ensure_running()
    with NomadClient(NomadSettings(address=info.address, token="not-the-token")) as c:
        with pytest.raises(NomadRefused) as caught:
            c.jobs.list("")
    assert caught.value.status == 403 and info.token not in str(caught.value)
