"""CLI budgets (issue 2): medians of `tapit --help`, `tapit list tasks` over 1,000 records,
and `tapit create task 'true' --wait` on a warm embedded agent.

Run: .venv/bin/python bench/cli_bench.py [--runs N]
It uses a throwaway TAPIT_HOME and stops the agent (and its tasks) at the end. The commands run
with bytecode caching on, as on a user's machine (this workplace sets PYTHONDONTWRITEBYTECODE,
which would make every run recompile tapit's own modules).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def timed(cmd: list[str], env: dict, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def fill_history(home: Path, count: int) -> None:
    from bench_records import finished_task

    from tapit.service.history import History

    History(home).add(*(replace(finished_task(n), logs_archived=True) for n in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tapit = [sys.executable, "-m", "tapit"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["TAPIT_HOME"] = tmp
        os.environ["TAPIT_HOME"] = tmp
        try:
            print(f"tapit --help:                      {timed([*tapit, '--help'], env, args.runs):7.1f} ms median")
            subprocess.run([*tapit, "agent", "env"], env=env, check=True, stdout=subprocess.DEVNULL)
            timed([*tapit, "create", "task", "true", "--wait"], env, 2)  # warm up
            wait_ms = timed([*tapit, "create", "task", "true", "--wait"], env, args.runs)
            print(f"tapit create task 'true' --wait:   {wait_ms:7.1f} ms median (warm agent)")
            fill_history(Path(tmp), 1000)
            print(
                f"tapit list tasks (1,000 records):  {timed([*tapit, 'list', 'tasks'], env, args.runs):7.1f} ms median"
            )
        finally:
            from tapit.agent import daemon

            daemon.stop(kill_tasks=True)


if __name__ == "__main__":
    main()
