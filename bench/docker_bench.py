"""The docker driver on the embedded agent: register -> container running, register -> complete,
and `tapit create 'true' image=… --wait` end to end, against a real engine.

Run: python bench/docker_bench.py   (uses the machine's Docker/Podman, else starts
`podman system service` as the tests do; a throwaway TAPIT_HOME; stops everything it starts)
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["TAPIT_HOME"] = tempfile.mkdtemp(prefix="tapit-bench-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402
from container_engine import (
    TEST_IMAGE,
    EngineUnderTest,
    busybox_rootfs,
    existing_engine,  # noqa: E402
    start_podman,
    stop_process_group,
)

from tapit.agent import daemon  # noqa: E402

RUNS = 20


def job(job_id):
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
                            "Driver": "docker",
                            "Config": {"image": TEST_IMAGE, "command": "/bin/sh", "args": ["-c", "true"]},
                            "Resources": {"CPU": 100, "MemoryMB": 64},
                        }
                    ],
                }
            ],
        }
    }


def event_time(events, kind):
    return next((e["Time"] for e in events if e["Type"] == kind), None)


def main():
    podman, url = None, existing_engine()
    if not url:
        podman, url, why_not = start_podman(Path(tempfile.mkdtemp(prefix="tapit-podman-")))
        if not url:
            sys.exit(why_not)
    os.environ["DOCKER_HOST"] = url
    engine = EngineUnderTest(url)
    engine.import_image(busybox_rootfs(), TEST_IMAGE)
    try:
        info = daemon.ensure_running()
        client = httpx.Client(base_url=info.address, headers={"X-Nomad-Token": info.token}, timeout=30)
        starts, completes = [], []
        for i in range(RUNS):
            t0 = time.time_ns()
            client.put("/v1/jobs", json=job(f"docker-{i}"))
            while True:
                allocs = client.get(f"/v1/job/docker-{i}/allocations").json()
                events = allocs[0]["TaskStates"]["main"]["Events"] if allocs else []
                if allocs and allocs[0]["ClientStatus"] in ("complete", "failed"):
                    starts.append((event_time(events, "Started") - t0) / 1e6)
                    completes.append((event_time(events, "Terminated") - t0) / 1e6)
                    break
                time.sleep(0.01)
        print(
            f"register -> container running: median {statistics.median(starts):.0f} ms, "
            f"max {max(starts):.0f} ms over {RUNS}"
        )
        print(
            f"register -> `true` terminated: median {statistics.median(completes):.0f} ms, "
            f"max {max(completes):.0f} ms over {RUNS}"
        )
        walls = []
        for _ in range(5):
            t0 = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "tapit", "create", "task", "true", f"image={TEST_IMAGE}", "--wait", "--json"],
                capture_output=True,
                text=True,
            )
            walls.append(time.monotonic() - t0)
            assert json.loads(result.stdout)["status"] == "complete", result.stderr
        print(f"tapit create 'true' image=… --wait (warm agent): median {statistics.median(walls) * 1000:.0f} ms")
    finally:
        daemon.stop(kill_tasks=True)
        if podman:
            stop_process_group(podman)


if __name__ == "__main__":
    main()
