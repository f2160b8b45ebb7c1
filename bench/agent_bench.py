"""Embedded agent budgets: task start overhead, RSS under 200 running tasks, reattach time.

Run: python bench/agent_bench.py [--pause S] [--starts-only]   (uses a throwaway TAPIT_HOME,
removed at the end; stops everything it starts)

The start overhead is compared with starting the smallest Python process, `python -I -S -c pass`,
timed in the same run between the tasks, so that a busy machine slows both alike.  Each start
comes --pause seconds (0.5) after the one before: the agent has then made ready the supervisor
and the disk the next start takes (tapit/agent/warm.py, diskpool.py); --pause 0 measures starts
back to back, each of which finds them still being made.
"""

import argparse

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["TAPIT_HOME"] = tempfile.mkdtemp(prefix="tapit-bench-")

import httpx  # noqa: E402

from tapit.agent import daemon  # noqa: E402


def job(job_id, command):
    return {
        "Job": {
            "ID": job_id,
            "Type": "batch",
            "TaskGroups": [
                {
                    "Name": "main",
                    "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
                    "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
                    "Tasks": [
                        {
                            "Name": "main",
                            "Driver": "raw_exec",
                            "Config": {"command": "/bin/sh", "args": ["-c", command]},
                            "Resources": {"CPU": 10, "MemoryMB": 16},
                        }
                    ],
                }
            ],
        }
    }


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_running(client, ids, timeout=60):
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        allocs = client.get("/v1/allocations").json()
        pending -= {a["JobID"] for a in allocs if a["ClientStatus"] == "running"}
        time.sleep(0.05)
    return not pending


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between one start and the next")
    parser.add_argument("--starts-only", action="store_true", help="measure (a) only")
    args = parser.parse_args()
    info = daemon.ensure_running()
    client = httpx.Client(base_url=info.address, headers={"X-Nomad-Token": info.token}, timeout=30)
    try:
        # (a) register -> process running, from the task's own Started event.
        overheads, references = [], []
        time.sleep(args.pause)  # the agent's own start-up done
        for i in range(50):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
            references.append((time.perf_counter() - t0) * 1000)
            t0 = time.time_ns()
            client.put("/v1/jobs", json=job(f"start-{i}", "true"))
            while True:
                allocs = client.get(f"/v1/job/start-{i}/allocations").json()
                events = allocs[0]["TaskStates"]["main"]["Events"] if allocs else []
                started = [e["Time"] for e in events if e["Type"] == "Started"]
                if started:
                    overheads.append((started[0] - t0) / 1e6)
                    break
                time.sleep(0.005)
            time.sleep(args.pause)
        ratios = sorted(o / r for o, r in zip(overheads, references))
        print(
            f"(a) register -> task running: median {statistics.median(overheads):.1f} ms "
            f"(p90 {sorted(overheads)[44]:.1f} ms) over 50 tasks; `python -I -S -c pass` median "
            f"{statistics.median(references):.1f} ms; ratio median {statistics.median(ratios):.2f} "
            f"(p90 {ratios[44]:.2f}); load average {os.getloadavg()[0]:.1f}"
        )
        if args.starts_only:
            return

        # (b) agent RSS with 200 concurrent sleep tasks.
        ids = [f"sleep-{i}" for i in range(200)]
        for job_id in ids:
            client.put("/v1/jobs", json=job(job_id, "sleep 600"))
        assert wait_running(client, ids), "not all 200 tasks reached running"
        print(f"(b) agent RSS with 200 running tasks: {rss_mb(info.pid):.1f} MB")

        # (c) reattach: SIGKILL the agent, restart, time until it answers with tasks still running.
        for job_id in ids[50:]:
            client.delete(f"/v1/job/{job_id}")
        time.sleep(3)
        os.kill(info.pid, signal.SIGKILL)
        time.sleep(0.2)
        t0 = time.monotonic()
        info = daemon.ensure_running()
        client = httpx.Client(base_url=info.address, headers={"X-Nomad-Token": info.token}, timeout=30)
        assert wait_running(client, ids[:50])
        print(f"(c) reattach of 50 running tasks after SIGKILL + restart: {time.monotonic() - t0:.2f} s")
    finally:
        daemon.stop(kill_tasks=True)
        shutil.rmtree(os.environ["TAPIT_HOME"], ignore_errors=True)


if __name__ == "__main__":
    main()
