"""Embedded agent memory after a burst: RSS after 2,500 concurrent API requests, as a ratio of the
idle RSS measured in the same run, and with 20 event-stream clients that never read.

Run: python bench/agent_rss_bench.py   (uses a throwaway TAPIT_HOME; stops everything it starts)
"""

import asyncio
import os
import socket
import tempfile
import time
from urllib.parse import urlsplit

os.environ["TAPIT_HOME"] = tempfile.mkdtemp(prefix="tapit-bench-")

import agent_bench  # noqa: E402  (bench/: the same job shape and RSS reading)
import httpx  # noqa: E402

from tapit.agent import daemon  # noqa: E402

BURST = 2500
JOBS = 50
STALLED_CLIENTS = 20


def job(job_id: str) -> dict:
    """A job that is never placed (no such datacenter): state to read, no processes."""
    body = agent_bench.job(job_id, "true")
    body["Job"].update(Datacenters=["nowhere"], Meta={"padding": "x" * 4000})
    return body


def settled_rss(pid: int, seconds: float = 3.0) -> float:
    time.sleep(seconds)
    return agent_bench.rss_mb(pid)


async def burst(address: str, token: str) -> float:
    paths = ["/v1/jobs", "/v1/allocations", "/v1/evaluations", "/v1/job/j1", "/v1/job/j1/summary"]
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=address, headers={"X-Nomad-Token": token}, limits=limits, timeout=120
    ) as client:
        start = time.monotonic()
        replies = await asyncio.gather(*(client.get(paths[i % len(paths)]) for i in range(BURST)))
        assert all(r.status_code == 200 for r in replies), {r.status_code for r in replies}
        return time.monotonic() - start


def stalled_stream(address: str, token: str) -> socket.socket:
    url = urlsplit(address)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET /v1/event/stream HTTP/1.1\r\nHost: {url.netloc}\r\nX-Nomad-Token: {token}\r\n\r\n".encode())
    return sock


def main() -> None:
    info = daemon.ensure_running()
    try:
        with httpx.Client(base_url=info.address, headers={"X-Nomad-Token": info.token}, timeout=30) as client:
            for i in range(JOBS):
                client.put("/v1/jobs", json=job(f"j{i}")).raise_for_status()
            idle = settled_rss(info.pid)
            took = asyncio.run(burst(info.address, info.token))
            peak = agent_bench.rss_mb(info.pid)
            after = settled_rss(info.pid)
            print(f"idle RSS                          {idle:7.1f} MB")
            print(f"{BURST} concurrent requests        {took:7.2f} s")
            print(f"RSS right after the burst         {peak:7.1f} MB  ({peak / idle:.2f} x idle)")
            print(f"RSS 3 s after the burst           {after:7.1f} MB  ({after / idle:.2f} x idle)")

            stalled = [stalled_stream(info.address, info.token) for _ in range(STALLED_CLIENTS)]
            before = settled_rss(info.pid, 1.0)
            for i in range(3 * 100):  # three times the broker's buffer of batches
                client.put("/v1/jobs", json=job(f"s{i}")).raise_for_status()
            with_stalled = settled_rss(info.pid)
            print(
                f"{STALLED_CLIENTS} stalled event streams, 300 writes {with_stalled:7.1f} MB"
                f"  (+{with_stalled - before:.1f} MB, {with_stalled / idle:.2f} x idle)"
            )
            for sock in stalled:
                sock.close()
    finally:
        daemon.stop(kill_tasks=True)


if __name__ == "__main__":
    main()
