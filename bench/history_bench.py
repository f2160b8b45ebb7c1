"""`tapit list tasks` as the history grows (issue 16): the same command over a history of 1,000
finished tasks and over one of 100,000, against the same embedded agent, timed in turns.

Run: .venv/bin/python bench/history_bench.py [--runs N] [--sizes 1000,100000] [--keep DIR]
It builds one TAPIT_HOME per size in a throwaway directory (or DIR with --keep, which leaves the
homes and the agent for other timings and prints the commands), starts one embedded agent, and
stops it (and its tasks) at the end unless --keep is given. The commands run with bytecode
caching on, as on a user's machine.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


def build_home(home: Path, count: int) -> None:
    from bench_records import finished_task

    from tapit.service.history import History

    home.mkdir(parents=True, exist_ok=True)
    # Minutes apart, so the newest are the highest numbers, as in a real history.
    records = (replace(finished_task(n, created_at=_minutes_after_start(n)), logs_archived=True) for n in range(count))
    History(home).add(*records)


def _minutes_after_start(n: int) -> str:
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def agent_env(agent_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["TAPIT_HOME"] = str(agent_home)
    out = subprocess.run(
        [sys.executable, "-m", "tapit", "agent", "env"], env=env, check=True, capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    return env


def timed_in_turns(commands: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs + 1):  # the first round warms the caches and is not counted
        for name, (cmd, env) in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[1:]) * 1000 for name, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--keep", type=Path, help="build the homes here and leave them (and the agent) running")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="tapit-history-bench-"))
    agent_home = root / "agent"
    agent_home.mkdir(parents=True, exist_ok=True)
    os.environ["TAPIT_HOME"] = str(agent_home)
    try:
        env = agent_env(agent_home)
        commands = {}
        for size in sizes:
            home = root / f"h{size}"
            if not (home / "history.json").exists():
                build_home(home, size)
            commands[f"list tasks, {size:,} records"] = (
                [sys.executable, "-m", "tapit", "list", "tasks"],
                {**env, "TAPIT_HOME": str(home)},
            )
        if args.keep:
            for name, (cmd, cmd_env) in commands.items():
                names = ("TAPIT_HOME", "NOMAD_ADDR", "NOMAD_TOKEN")
                print(f"{name}: env {' '.join(f'{k}={cmd_env[k]}' for k in names)} {shlex.join(cmd)}")
            return
        medians = timed_in_turns(commands, args.runs)
        first = next(iter(medians.values()))
        for name, median in medians.items():
            print(f"{name:32} {median:8.1f} ms median, {median / first:5.2f}x the first")
    finally:
        if not args.keep:
            from tapit.agent import daemon

            daemon.stop(kill_tasks=True)
            import shutil

            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
