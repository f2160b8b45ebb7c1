"""The shared trail's cost to `list tasks`: a new machine's first list, which reads the newest 200
records from Nomad Variables into its history, against the same list once they are cached there
(the reference, measured in the same run), with the same 200 tasks in the trail.

Run: .venv/bin/python bench/trail_bench.py [--runs N]
It starts an embedded agent under a throwaway TAPIT_HOME, addresses it as a cluster (NOMAD_ADDR),
and stops it at the end. Bytecode caching is on, as on a user's machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASKS = 200


def write_trail(address: str, token: str) -> None:
    """200 finished tasks in the trail, as other operators' tapits would have left them."""
    from bench_records import finished_task

    from tapit.nomad.client import NomadClient
    from tapit.nomad.settings import NomadSettings
    from tapit.service.trail import Trail

    with NomadClient(NomadSettings(address=address, token=token)) as nomad:
        trail = Trail(lambda namespace: nomad)
        for n in range(TASKS):
            trail.write(finished_task(n, created_at=f"2026-11-01T00:{n // 60:02d}:{n % 60:02d}.000Z"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    tapit = [sys.executable, "-m", "tapit", "list", "tasks"]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TAPIT_HOME"] = str(Path(tmp) / "agent-home")
        from tapit.agent import daemon

        try:
            agent = daemon.ensure_running()
            write_trail(agent.address, agent.token)
            env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_") and k != "PYTHONDONTWRITEBYTECODE"}
            env.update(NOMAD_ADDR=agent.address, NOMAD_TOKEN=agent.token)
            first, cached = [], []
            for run in range(args.runs):
                home = Path(tmp) / f"operator-{run}"
                home.mkdir()
                for samples in (first, cached):  # a new machine, then the same machine again
                    start = time.perf_counter()
                    subprocess.run(tapit, env={**env, "TAPIT_HOME": str(home)}, check=True, stdout=subprocess.DEVNULL)
                    samples.append(time.perf_counter() - start)
            first_ms, cached_ms = statistics.median(first) * 1000, statistics.median(cached) * 1000
            print(f"list tasks, {TASKS} tasks in the trail, new machine: {first_ms:7.1f} ms median")
            print(f"list tasks, the same, cached in the history:      {cached_ms:7.1f} ms median (reference)")
            print(f"ratio: {first_ms / cached_ms:.2f} x")
        finally:
            daemon.stop(kill_tasks=True)


if __name__ == "__main__":
    main()
