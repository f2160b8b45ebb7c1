"""An event-stream client that never reads is dropped once it falls further behind than the
broker's buffer, as Nomad's event broker drops it (nomad/stream/event_buffer.go "event dropped
from buffer"): its stream ends after the last whole line it was sent, while a client that keeps
reading is not disturbed."""

import json
import socket
import threading
from urllib.parse import urlsplit

import h11
import httpx
from batch_jobs import batch_job

from tapit.agent.state import event_broker

BIG_META = {"padding": "x" * 50_000}  # every Job event carries the job: the stream fills quickly


def unplaceable(job_id):
    return {"Job": {**batch_job(job_id, "true"), "Datacenters": ["nowhere"], "Meta": BIG_META}}


def open_stream(agent, receive_buffer: int) -> socket.socket:
    url = urlsplit(agent.address)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((url.hostname, url.port))
    sock.sendall(
        f"GET /v1/event/stream?topic=Job HTTP/1.1\r\nHost: {url.netloc}\r\nX-Nomad-Token: {agent.token}\r\n\r\n".encode()
    )
    return sock


def read_to_end(sock: socket.socket) -> tuple[list[dict], bool]:
    """Every line of the response body, and whether the body ended properly."""
    conn = h11.Connection(h11.CLIENT)
    body, ended = b"", False
    sock.settimeout(30)
    while not ended:
        data = sock.recv(1 << 16)
        conn.receive_data(data)
        while (event := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                ended = True
        if not data:
            break
    return [json.loads(line) for line in body.decode().splitlines()], ended


def test_a_client_that_never_reads_is_dropped_and_a_reader_is_not(agent):
    reader_lines = []

    def read_everything():
        with httpx.stream(
            "GET",
            agent.address + "/v1/event/stream",
            params={"topic": "Job"},
            headers={"X-Nomad-Token": agent.token},
            timeout=60,
        ) as resp:
            for line in resp.iter_lines():
                if line.strip() and line != "{}":
                    reader_lines.append(json.loads(line))
                if any(e["Key"] == "last" for batch in reader_lines[-1:] for e in batch["Events"]):
                    return

    reader = threading.Thread(target=read_everything)
    reader.start()
    stalled = open_stream(agent, receive_buffer=4096)
    try:
        registered = 0
        while registered < 3 * event_broker.BUFFER_SIZE:
            agent.http.put("/v1/jobs", json=unplaceable(f"j{registered}")).raise_for_status()
            registered += 1
        agent.http.put("/v1/jobs", json=unplaceable("last")).raise_for_status()
        reader.join(timeout=60)
        assert not reader.is_alive()
        lines, ended = read_to_end(stalled)
    finally:
        stalled.close()
    # The reader saw every registration; the stalled client saw a beginning, whole lines only,
    # and then the end of the stream.
    reader_keys = {e["Key"] for batch in reader_lines for e in batch["Events"]}
    assert {f"j{i}" for i in range(registered)} | {"last"} <= reader_keys
    assert ended
    assert lines[0] == {}
    stalled_keys = [e["Key"] for batch in lines[1:] for e in batch["Events"]]
    assert stalled_keys and "last" not in stalled_keys
    assert stalled_keys[0] == "j0"
    # Nothing of it is still held: a new subscriber is served normally.
    resp = agent.http.get("/v1/jobs", params={"prefix": "last"})
    assert [j["ID"] for j in resp.json()] == ["last"]
