"""Cluster budgets (issue 6): through an SSH tunnel on loopback, `tapit list tasks` at most 2x its
direct time once the connection is up, and a console keystroke round trip of at most 10 ms median.

    python bench/cluster_bench.py [--runs 30] [--keystrokes 300]

Uses a throwaway TAPIT_HOME and HOME, a fresh embedded agent addressed as a cluster (NOMAD_ADDR),
and the tests' in-process asyncssh bastion (tests/ssh/sshd.py); stops all of them at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "ssh")]

SLEEPER = {
    "ID": "bench-console",
    "Name": "bench-console",
    "Type": "batch",
    "TaskGroups": [
        {
            "Name": "main",
            "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [
                {
                    "Name": "main",
                    "Driver": "raw_exec",
                    "Config": {"command": "/bin/sleep", "args": ["600"]},
                    "Resources": {"CPU": 100, "MemoryMB": 64},
                    "KillTimeout": 1_000_000_000,
                }
            ],
        }
    ],
}


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def list_in_process(environ: dict, runs: int) -> float:
    """`tapit list tasks` minus interpreter start-up, with the connection (and tunnel) already up."""
    from tapit.config import load_config
    from tapit.service.history import History
    from tapit.output import task_table
    from tapit.paths import state_dir
    from tapit.service import TaskService, resolve_connection

    config = load_config(environ=environ)
    connection = resolve_connection(environ, config)  # opens the tunnel when TAPIT_SSH is set
    service = TaskService(History(state_dir()), config, lambda: connection)
    samples = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            task_table(service.list(), width=10_000)
            samples.append(time.perf_counter() - start)
    finally:
        service.close()
    return median_ms(samples)


def list_cli(env: dict, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tapit", "list", "tasks"], env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return median_ms(samples)


async def keystrokes(settings, alloc_id: str, count: int) -> float:
    """One byte to `cat` on a TTY and its echo back, through the exec websocket, `count` times."""
    from tapit.nomad.exec import Output, open_exec
    from tapit.nomad.transport import Transport

    samples = []
    async with open_exec(Transport(settings), alloc_id, "main", ["/bin/cat"], tty=True) as session:
        events = aiter(session)
        for n in range(count):
            key = b"abcdefghij"[n % 10 : n % 10 + 1]
            start = time.perf_counter()
            await session.send_stdin(key)
            while True:
                event = await anext(events)
                if isinstance(event, Output) and key in event.data:
                    break
            samples.append(time.perf_counter() - start)
        await session.send_stdin(b"\x04")
    return median_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--keystrokes", type=int, default=300)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tapit-cluster-bench-"))
    os.environ.update(TAPIT_HOME=str(scratch / "home"), XDG_CONFIG_HOME=str(scratch / "config"))
    for name in [n for n in os.environ if n.startswith(("NOMAD_", "TAPIT_SSH"))] + ["SSH_AUTH_SOCK"]:
        os.environ.pop(name, None)

    from sshd import Bastion

    from tapit.agent import daemon
    from tapit.nomad.client import NomadClient
    from tapit.nomad.settings import NomadSettings
    from tapit.nomad.tunnel import close_all

    bastion = Bastion(scratch).start()
    try:
        os.environ["HOME"] = str(bastion.user_home(scratch / "user"))
        agent = daemon.ensure_running()
        direct = {**os.environ, "NOMAD_ADDR": agent.address, "NOMAD_TOKEN": agent.token}
        tunnelled = {**direct, "TAPIT_SSH": bastion.target}
        Path(os.environ["TAPIT_HOME"], "tapit.toml").write_text('driver = "raw_exec"\n')
        for n in range(5):
            subprocess.run(
                [sys.executable, "-m", "tapit", "create", "task", f"echo {n}", "--wait"],
                env=direct,
                check=True,
                stdout=subprocess.DEVNULL,
                cwd=os.environ["TAPIT_HOME"],
            )

        print(f"tapit list tasks, connection up (median of {args.runs}):")
        d, t = list_in_process(direct, args.runs), list_in_process(tunnelled, args.runs)
        print(f"  direct {d:7.1f} ms   through SSH {t:7.1f} ms   ratio {t / d:4.2f} (budget 2.00)")
        print(f"tapit list tasks, whole CLI run incl. start-up and SSH handshake (median of {args.runs // 3}):")
        d, t = list_cli(direct, args.runs // 3), list_cli(tunnelled, args.runs // 3)
        print(f"  direct {d:7.1f} ms   through SSH {t:7.1f} ms")

        with NomadClient(NomadSettings(address=agent.address, token=agent.token)) as nomad:
            nomad.jobs.register(SLEEPER)
            for _ in range(200):
                allocs = nomad.jobs.allocations(SLEEPER["ID"])
                if allocs and allocs[0]["ClientStatus"] == "running":
                    break
                time.sleep(0.05)
            alloc_id = allocs[0]["ID"]
            from tapit.config import load_config
            from tapit.service import resolve_connection

            via_ssh = resolve_connection(tunnelled, load_config(environ=tunnelled)).settings
            print(f"console keystroke round trip, exec websocket (median of {args.keystrokes}):")
            d = asyncio.run(
                keystrokes(NomadSettings(address=agent.address, token=agent.token), alloc_id, args.keystrokes)
            )
            t = asyncio.run(keystrokes(via_ssh, alloc_id, args.keystrokes))
            print(f"  direct {d:7.2f} ms   through SSH {t:7.2f} ms (budget 10 ms)")
            nomad.jobs.deregister(SLEEPER["ID"], purge=True)
    finally:
        close_all()
        daemon.stop(kill_tasks=True)
        bastion.stop()


if __name__ == "__main__":
    main()
