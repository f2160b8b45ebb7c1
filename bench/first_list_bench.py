"""The first `tapit list tasks` after many tasks finished unwatched (issue 16): that list brings
each record up to date with Nomad (where an archivist ships the logs, as the embedded agent's
does, from one list of the allocations, leaving the logs to it). Against the next list of the same
history (everything recorded then), timed in turns, each from a copy of the history as the tasks
left it.

Run: .venv/bin/python bench/first_list_bench.py [--tasks N] [--runs N] [--keep DIR]
It starts an embedded agent under a throwaway directory (DIR with --keep, which leaves the homes
and the agent running and prints the commands), creates N `true` tasks and waits for them to end,
and stops the agent (and its tasks) at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from history_bench import timed_in_turns  # bench/ is on the path when this script runs


def create_tasks(home: Path, env: dict[str, str], count: int) -> None:
    from tapit.params import build_spec
    from tapit.service import TaskService

    agent_home = os.environ["TAPIT_HOME"]
    os.environ["TAPIT_HOME"] = str(home)  # where the service keeps its history
    try:
        service = TaskService.from_environment({**env, "TAPIT_HOME": str(home)})
        for _ in range(count):
            service.create(build_spec("true", {}, service.config, "bench@host"))
    finally:
        os.environ["TAPIT_HOME"] = agent_home  # where the agent is found, to stop it
    nomad = service.cluster.client()
    while any(job["Status"] != "dead" for job in nomad.jobs.list(prefix=service.config.job_prefix)):
        time.sleep(0.5)
    service.close()
    # The agent's archivist ships every task's logs meanwhile: done when each has its manifest, so
    # that it is not at work while the lists are timed.
    store = Path(agent_home) / "agent" / "logstore"
    deadline = time.monotonic() + 600
    while len(list(store.glob("*/*/manifest.json"))) < count and time.monotonic() < deadline:
        time.sleep(1)


def first_list_command(snapshot: Path, home: Path, env: dict[str, str]) -> list[str]:
    """The list over a fresh copy of the history as the tasks left it (nothing refreshed yet)."""
    script = f"rm -rf {home} && cp -a {snapshot} {home} && exec {shlex.join(list_tasks())}"
    return ["sh", "-c", script]


def list_tasks() -> list[str]:
    return [sys.executable, "-m", "tapit", "list", "tasks"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="tapit-first-list-bench-"))
    os.environ["TAPIT_HOME"] = str(root / "agent")
    from tapit.agent import daemon

    try:
        agent = daemon.ensure_running()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOMAD_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(NOMAD_ADDR=agent.address, NOMAD_TOKEN=agent.token)
        snapshot, refreshed = root / "unwatched", root / "refreshed"
        create_tasks(snapshot, env, args.tasks)
        shutil.copytree(snapshot, refreshed)
        subprocess.run(list_tasks(), env={**env, "TAPIT_HOME": str(refreshed)}, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "first list": (
                first_list_command(snapshot, root / "first", env),
                {**env, "TAPIT_HOME": str(root / "first")},
            ),
            "next list": (
                first_list_command(refreshed, root / "next", env),
                {**env, "TAPIT_HOME": str(root / "next")},
            ),
        }
        if args.keep:
            for name, (cmd, cmd_env) in commands.items():
                names = ("TAPIT_HOME", "NOMAD_ADDR", "NOMAD_TOKEN")
                print(f"{name}: env {' '.join(f'{k}={cmd_env[k]}' for k in names)} {shlex.join(cmd)}")
            return
        first, after = timed_in_turns(commands, args.runs).values()
        print(f"first list after {args.tasks:,} tasks ended: {first:8.1f} ms median, {first / after:5.2f}x the next")
        print(f"the next list (the reference):  {after:8.1f} ms median")
    finally:
        if not args.keep:
            daemon.stop(kill_tasks=True)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
