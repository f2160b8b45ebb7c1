"""Console budgets (issues 4, 13): keystroke round trip, `cat` throughput (local terminal, TUI pane), first prompt.

    python bench/console_bench.py [--keystrokes 500] [--megabytes 50] [--starts 5] [--pane-megabytes 20]

Runs against a fresh embedded agent in a temporary TAPIT_HOME (NOMAD_ADDR is ignored) and drives
the real `tapit run` under a pseudo-terminal, as a user's terminal would; the round trip is
also measured at the exec API alone, to show what the CLI's terminal handling adds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time

PROMPT = b"PROMPT> "
SHELL = f"PS1='{PROMPT.decode()}' exec sh"


class Terminal:
    """`tapit run <command>` on a pseudo-terminal we read as fast as it writes."""

    def __init__(self, command: str, env: dict, local: bool = False):
        """`local`: the command runs straight on the pty, the reference a console is compared to."""
        master, slave = pty.openpty()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            ["sh", "-c", command] if local else [sys.executable, "-m", "tapit", "run", command],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.fd = master
        self.seen = bytearray()

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, marker: bytes, timeout: float = 120.0) -> int:
        """Read until `marker` appears in new output; returns how many bytes were read."""
        self.seen.clear()
        count, deadline = 0, time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no {marker!r} in {bytes(self.seen[-200:])!r}")
            chunk = os.read(self.fd, 1 << 16)
            count += len(chunk)
            self.seen += chunk
            if marker in self.seen[-(len(chunk) + len(marker)) :]:
                return count
            del self.seen[: -len(marker)]

    def close(self, how: bytes = b"\rexit\r") -> None:
        """End the console, reading what it still prints so that it never blocks on a full pty."""
        self.send(how)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and select.select([self.fd], [], [], 1)[0]:
            try:
                if not os.read(self.fd, 1 << 16):
                    break
            except OSError:  # EIO: tapit exited and closed the terminal
                break
        self.proc.wait(30)
        os.close(self.fd)


def time_to_prompt(env: dict, starts: int) -> list[float]:
    times = []
    for _ in range(starts):
        term = Terminal(SHELL, env)
        term.read_until(PROMPT)
        times.append(time.perf_counter() - term.started)
        term.close()
    return times


def cli_round_trips(env: dict, keystrokes: int) -> list[float]:
    term = Terminal(SHELL, env)
    term.read_until(PROMPT)
    term.send(b"stty raw -echo; cat\r")  # every byte comes straight back through cat, unbuffered
    time.sleep(0.5)
    os.read(term.fd, 1 << 16)
    times = []
    for i in range(keystrokes):
        byte = bytes([ord("a") + i % 26])
        start = time.perf_counter()
        term.send(byte)
        term.read_until(byte)
        times.append(time.perf_counter() - start)
    term.close(b"\r~.")  # cat in raw mode takes Ctrl-C as a byte: disconnect instead
    return times


def cat_throughput(env: dict, megabytes: int, local: bool = False) -> tuple[int, float]:
    term = Terminal(SHELL, env, local)
    term.read_until(PROMPT)
    size = megabytes * 1_000_000
    # Printable text, so the local terminal has nothing to interpret but newlines.
    # Markers are computed, so the echo of the command line never matches them.
    term.send(f"head -c {size * 3 // 4} /dev/urandom | base64 -w 100 > big.txt; echo MADE-$((1+1))\r".encode())
    term.read_until(b"MADE-2\r\n")
    term.send(b"cat big.txt; echo END-OF-$((2+2))\r")
    start = time.perf_counter()
    count = term.read_until(b"END-OF-4\r\n")
    elapsed = time.perf_counter() - start
    term.send(b"rm big.txt\r")
    term.close()
    return count, elapsed


async def pane_cat_throughput(megabytes: int) -> tuple[int, float, float]:
    """The same `cat` in the TUI's embedded pane (`c`): exec session, emulator and drawing, all in one process.

    Returns bytes shown, wall seconds and CPU seconds of this process (the agent runs in its own)."""
    from tapit.service import TaskService
    from tapit.tui.app import TapitApp
    from tapit.tui.console_pane import ConsoleScreen

    app = TapitApp(TaskService.from_environment())
    async with app.run_test(size=(160, 45)) as pilot:
        while app.state not in ("live", "polling"):
            await pilot.pause(0.05)
        await pilot.press("c", "enter")  # the console form, with `sh` filled in
        while not (isinstance(app.screen, ConsoleScreen) and app.screen.session is not None):
            await pilot.pause(0.05)
        screen = app.screen
        terminal, session = screen.terminal, screen.session
        seen, done, count = bytearray(), asyncio.Event(), 0
        marker = b""
        feed = terminal.feed

        def counting_feed(data: bytes) -> None:  # what the pane is given, as it is given
            nonlocal count
            count += len(data)
            feed(data)
            seen.extend(data)
            if marker and marker in seen:
                done.set()
            del seen[: -len(marker or b"x") - 1]

        terminal.feed = counting_feed
        size = megabytes * 1_000_000
        marker = b"MADE-2\r\n"
        await session.send_stdin(
            f"head -c {size * 3 // 4} /dev/urandom | base64 -w 100 > big.txt; echo MADE-$((1+1))\r".encode()
        )
        await done.wait()
        done.clear()
        marker = b"END-OF-4\r\n"
        await session.send_stdin(b"cat big.txt; echo END-OF-$((2+2))\r")
        count = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        await done.wait()
        await pilot.pause(0.05)  # the last frame drawn
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await session.send_stdin(b"rm big.txt; exit\r")
        while not screen.finished:
            await pilot.pause(0.05)
    return count, elapsed, cpu


async def api_round_trips(keystrokes: int) -> list[float]:
    """The same echo through the service's consoles alone, no CLI or local terminal."""
    from tapit.params import build_spec
    from tapit.service import TaskService
    from tapit.service.consoles import Output, start_console

    service = TaskService.from_environment()
    console = await asyncio.to_thread(
        start_console, service, build_spec("stty raw -echo; cat", {}, service.config, "bench")
    )
    times = []
    try:
        async with console.session(tty=True, rows=24, cols=80) as session:
            events = aiter(session)
            for i in range(keystrokes):
                byte = bytes([ord("a") + i % 26])
                start = time.perf_counter()
                await session.send_stdin(byte)
                while True:
                    event = await anext(events)
                    if isinstance(event, Output) and byte in event.data:
                        break
                times.append(time.perf_counter() - start)
            await session.end("benchmark done", 0)
    finally:
        await asyncio.to_thread(console.close)
    return times


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(values) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keystrokes", type=int, default=500)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--cat-runs", type=int, default=5, help="rounds of the `cat` ratio (median)")
    parser.add_argument("--pane-megabytes", type=int, default=20)
    parser.add_argument("--only-cat", action="store_true", help="only the `cat` inside tapit run against a local pty")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tapit-bench-") as home:
        os.environ["TAPIT_HOME"] = home
        for name in [n for n in os.environ if n.startswith("NOMAD_")]:
            del os.environ[name]
        env = dict(os.environ)
        from tapit.agent import daemon

        daemon.ensure_running()
        try:
            time_to_prompt(env, 1)  # warm the agent and the page cache
            if not args.only_cat:
                _latencies(env, args)
            _cat_ratio(env, args)
            if not args.only_cat:
                _pane(env, args)
        finally:
            daemon.stop(kill_tasks=True)


def _latencies(env: dict, args) -> None:
    print(f"time to first prompt (warm agent, {args.starts} starts): {ms(time_to_prompt(env, args.starts))}")
    print(f"keystroke round trip, exec API ({args.keystrokes}): {ms(asyncio.run(api_round_trips(args.keystrokes)))}")
    print(f"keystroke round trip, tapit run on a pty ({args.keystrokes}): {ms(cli_round_trips(env, args.keystrokes))}")


def _cat_ratio(env: dict, args) -> None:
    """In turns A B A B, tapit then the same shell on a local pty, so that both see the same machine."""
    ratios = []
    for run in range(args.cat_runs):
        count, elapsed = cat_throughput(env, args.megabytes)
        local_count, local_elapsed = cat_throughput(env, args.megabytes, local=True)
        rate, local_rate = count / 1e6 / elapsed, local_count / 1e6 / local_elapsed
        ratios.append(rate / local_rate)
        print(
            f"cat of {args.megabytes} MB, run {run}: tapit run {rate:.1f} MB/s, "
            f"local pty {local_rate:.1f} MB/s, ratio {rate / local_rate:.2f}",
            flush=True,
        )
    print(
        f"cat inside tapit run against a local pty: median ratio {statistics.median(ratios):.2f} "
        f"over {args.cat_runs} rounds (load average {os.getloadavg()[0]:.1f})"
    )


def _pane(env: dict, args) -> None:
    count, elapsed, cpu = asyncio.run(pane_cat_throughput(args.pane_megabytes))
    local_count, local_elapsed = cat_throughput(env, args.pane_megabytes, local=True)
    rate, local_rate = count / 1e6 / elapsed, local_count / 1e6 / local_elapsed
    print(
        f"cat of a {args.pane_megabytes} MB file in the TUI's embedded pane: {rate:.1f} MB/s "
        f"({count / 1e6 / cpu:.1f} MB per CPU second of the TUI); local pty {local_rate:.1f} MB/s, "
        f"ratio {rate / local_rate:.3f}"
    )


if __name__ == "__main__":
    main()
