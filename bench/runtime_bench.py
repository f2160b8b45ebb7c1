"""Embedded agent limits as a task feels them: CPU measured from inside a busy task, and how far
a fast writer gets past its ephemeral disk under each mechanism; the start latency each adds.

Run: python bench/runtime_bench.py   (throwaway TAPIT_HOMEs; stops everything it starts)

CPU: `tapit create task '<busy loop>' cpu=N --wait`, as a user types it; the task prints the CPU
time it got over the wall time it ran (process_time / time), so 0.5 means half a core.
cpu=2 is the reference measured in the same run: one busy thread, unthrottled, gets what this
machine gives it now (other processes share its 2 cores).
Disk: a 10 MB ephemeral disk and `head -c 200000000 /dev/zero` into it, for the size-limited
filesystem and for the inotify watcher; what the "Disk Resources Exceeded" event measured, and
for the watcher (whose directory stays) the bytes that landed before the kill.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402
from batch_jobs import batch_job  # noqa: E402

BUSY = (
    "python3 -c 'import time\n"
    "w, c = time.time(), time.process_time()\n"
    "while time.time() - w < 6: pass\n"
    "print(round((time.process_time() - c) / (time.time() - w), 3))'"
)
MB = 1024 * 1024


def tapit(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_")}
    environ |= {"TAPIT_HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "tapit", *args], env=environ, capture_output=True, text=True, cwd=home, check=False
    )


def cores_used(home: Path, cpu: str) -> float:
    done = tapit(home, "create", "task", BUSY, f"cpu={cpu}", "--wait")
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


def agent_client(home: Path, env: dict) -> httpx.Client:
    code = "from tapit.agent import daemon; i = daemon.ensure_running(); print(i.address, i.token)"
    environ = os.environ | {"TAPIT_HOME": str(home)} | env
    out = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
    address, token = out.stdout.split()
    return httpx.Client(base_url=address, headers={"X-Nomad-Token": token}, timeout=30)


def disk_job(job_id: str, command: str) -> dict:
    # 100 MHz: twenty of them fit on the node at once.
    resources = {"Resources": {"CPU": 100, "MemoryMB": 64}}
    return {"Job": batch_job(job_id, command, group={"EphemeralDisk": {"SizeMB": 10}}, task=resources)}


def alloc_of(client: httpx.Client, job_id: str, statuses: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        allocs = client.get(f"/v1/job/{job_id}/allocations").json()
        if allocs and allocs[0]["ClientStatus"] in statuses:
            return client.get(f"/v1/allocation/{allocs[0]['ID']}").json()
        time.sleep(0.002)
    raise RuntimeError(f"{job_id} never reached {statuses}")


def disk_run(home: Path, client: httpx.Client, job_id: str, watcher: bool) -> tuple[float, int | None]:
    client.put("/v1/jobs", json=disk_job(job_id, "head -c 200000000 /dev/zero > ../alloc/data/blob; sleep 30"))
    alloc = alloc_of(client, job_id, ("failed", "complete"))
    event = next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Disk Resources Exceeded")
    seen = float(re.search(r"uses ([\d.]+) MB", event["Message"])[1])
    if not watcher:  # the filesystem, and the blob on it, go as the task ends
        return seen, None
    return seen, (home / "agent" / "allocs" / alloc["ID"] / "alloc" / "data" / "blob").stat().st_size


def start_latency(client: httpx.Client, prefix: str, runs: int = 20) -> float:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        client.put("/v1/jobs", json=disk_job(f"{prefix}-{i}", "sleep 60"))
        alloc_of(client, f"{prefix}-{i}", ("running",))
        times.append((time.perf_counter() - started) * 1000)
    for i in range(runs):
        client.delete(f"/v1/job/{prefix}-{i}")
    return statistics.median(times)


def main() -> None:
    homes = [Path(tempfile.mkdtemp(prefix="tapit-bench-")) for _ in range(2)]
    filesystem_home, watcher_home = homes
    try:
        cpu = {n: [cores_used(filesystem_home, n) for _ in range(3)] for n in ("0.25", "0.5", "1", "2")}
        print("cpu=N: cores used from inside a busy task (3 runs each)")
        for n, runs in cpu.items():
            print(f"  cpu={n:<5} median {statistics.median(runs):.3f}  runs {runs}")

        results = {}
        for name, home, env in (
            ("filesystem", filesystem_home, {}),
            ("watcher", watcher_home, {"TAPIT_DISK_ENFORCEMENT": "watcher"}),
        ):
            client = agent_client(home, env)
            node = client.get(f"/v1/node/{client.get('/v1/nodes').json()[0]['ID']}").json()
            assert node["Attributes"]["tapit.limits.disk"] == name, node["Attributes"]["tapit.limits.disk"]
            runs = [disk_run(home, client, f"fill-{i}", name == "watcher") for i in range(5)]
            results[name] = (runs, start_latency(client, "start"))
        print("10 MB ephemeral disk, 200 MB written with head -c (5 runs each)")
        for name, (runs, latency) in results.items():
            seen = [s for s, _ in runs]
            landed = [b for _, b in runs if b is not None]
            print(f"  {name:<10} usage when caught: median {statistics.median(seen):.2f} MB, max {max(seen):.2f} MB")
            if landed:
                print(
                    f"  {'':<10} bytes landed: median {statistics.median(landed) / MB:.2f} MB, max {max(landed) / MB:.2f} MB"
                )
            print(f"  {'':<10} register -> running, median of 20: {latency:.1f} ms")
    finally:
        for home in homes:
            tapit(home, "agent", "stop", "--kill-tasks")
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
