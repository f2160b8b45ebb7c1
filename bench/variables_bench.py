"""Nomad Variables on the embedded agent as the audit trail will use them: one variable per task.

The headline is the first page of a list under a prefix with 100,000 variables, as a ratio against
the same page with 1,000 (both homes filled the same way, measured in the same run, over HTTP to a
real agent).  Also: a page deep in the list (next_token), a read, a write, the agent's start
with 100,000 variables on disk, its RSS, and a whole list for scale.

Run: python bench/variables_bench.py   (throwaway TAPIT_HOMEs; stops every agent it starts)
"""

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tapit.agent import daemon
from tapit.agent.state.store import Store
from tapit.agent.variables import Variables

PAGE = 20
ROUNDS = 200
PREFIX = "tapit/tasks/"


def task_path(i: int) -> str:
    return f"{PREFIX}{i:08d}"


def record(i: int) -> dict:
    """About what the audit trail keeps per task: a dozen fields and a few lines of output."""
    return {
        "who": f"user{i % 37}",
        "command": f"rake db:migrate TASK={i}",
        "image": "registry.example/app:1.2.3",
        "status": "complete",
        "exit_code": "0",
        "started": "2026-12-01T10:00:00Z",
        "finished": "2026-12-01T10:05:00Z",
        "peak_memory": "123456789",
        "cpu_time": "12.5",
        "tail": "migrated 12 tables\n" * 10,
    }


async def fill(home: Path, count: int) -> None:
    """The variables written through the agent's own write path (Variables.Apply), in-process:
    100,000 HTTP writes would measure HTTP, not the list."""
    store = Store(home / "agent")
    variables = Variables(store)
    for i in range(count):
        variables.apply("set", {"Path": task_path(i), "Items": record(i)}, "default")
        if i % 1000 == 999:
            await asyncio.sleep(0)  # let the store's scheduled flushes run
    # Variables under other prefixes, which a list under PREFIX bisects past.
    for i in range(count // 10):
        variables.apply("set", {"Path": f"other/{i:08d}", "Items": {"a": "b"}}, "default")
    store.flush()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def median_ms(client: httpx.Client, method: str, path: str, rounds: int = ROUNDS, **kwargs) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        resp = client.request(method, path, **kwargs)
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.text
    return statistics.median(times)


def measure(count: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"tapit-vars-{count}-"))
    os.environ["TAPIT_HOME"] = str(home)
    t0 = time.monotonic()
    asyncio.run(fill(home, count))
    filled = time.monotonic() - t0
    t0 = time.monotonic()
    info = daemon.ensure_running()
    started = time.monotonic() - t0
    client = httpx.Client(base_url=info.address, headers={"X-Nomad-Token": info.token}, timeout=60)
    try:
        first = client.get("/v1/vars", params={"prefix": PREFIX, "per_page": PAGE})
        assert [v["Path"] for v in first.json()] == [task_path(i) for i in range(PAGE)]
        deep_token = f"default.{task_path(count * 9 // 10)}"
        figures = {
            "fill_s": filled,
            "start_s": started,
            "first_page_ms": median_ms(client, "GET", "/v1/vars", params={"prefix": PREFIX, "per_page": PAGE}),
            "deep_page_ms": median_ms(
                client, "GET", "/v1/vars", params={"prefix": PREFIX, "per_page": PAGE, "next_token": deep_token}
            ),
            "read_ms": median_ms(client, "GET", f"/v1/var/{task_path(count // 2)}"),
            "write_ms": median_ms(client, "PUT", f"/v1/var/{task_path(count // 3)}", json={"Items": record(0)}),
            "whole_list_ms": median_ms(client, "GET", "/v1/vars", rounds=5, params={"prefix": PREFIX}),
            "rss_mb": rss_mb(info.pid),
        }
    finally:
        daemon.stop(kill_tasks=True)
    return figures


def main():
    small, large = measure(1_000), measure(100_000)
    print(f"{'measure':<34}{'1,000':>12}{'100,000':>12}{'ratio':>9}")
    for key, label in (
        ("first_page_ms", f"first page of {PAGE} under a prefix, ms"),
        ("deep_page_ms", "a page at 90 % (next_token), ms"),
        ("read_ms", "read one variable, ms"),
        ("write_ms", "write one variable, ms"),
        ("whole_list_ms", "whole list under the prefix, ms"),
        ("start_s", "agent start with them on disk, s"),
        ("rss_mb", "agent RSS, MB"),
        ("fill_s", "fill (in-process writes), s"),
    ):
        print(f"{label:<34}{small[key]:>12.2f}{large[key]:>12.2f}{large[key] / small[key]:>8.2f}x")


if __name__ == "__main__":
    main()
