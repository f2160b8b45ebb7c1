"""`tapit create task … --wait` of a large output against the same pipeline run locally.

Run: python bench/output_bench.py [--mb 200] [--runs 5] [--cpu N]

Both write their output to a file on the same disk; runs alternate (tapit, local, tapit, …) and
the ratio is taken pair by pair, so that a machine whose speed drifts still gives a fair figure.
Every tapit run is checked byte for byte against the local one (size and SHA-256) — or, when
the task outran the follower and Nomad's log rotation (10 files of 10 MB) took bytes before they
were read, against the count tapit printed — and so is the stream the agent's archivist shipped
to its log store (tapit archives its own copy of what it printed beside it). The
client's peak RSS is the kernel's figure for the finished `tapit` process. Before the local run
the bench waits until the agent's archivist has shipped the task (its manifest is in the log
store) and the agent has released the allocation's disk, and every timed run starts with the
page cache written back (sync), so that what tapit leaves to do in the background never slows
the reference down, nor one run the next. Uses
a throwaway TAPIT_HOME, stops its agent and removes the home at the end.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def digest(path: Path) -> tuple[int, str]:
    with open(path, "rb") as f:
        return os.fstat(f.fileno()).st_size, hashlib.file_digest(f, "sha256").hexdigest()


def timed(argv: list[str], out: Path, env: dict) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the process itself, and what it wrote on stderr. Written
    back first: what the previous runs left dirty in the page cache is not flushed during this one."""
    os.sync()
    with open(out, "wb") as stdout, tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if process.returncode:
        sys.exit(f"{argv[:3]} exited {process.returncode}: {errors}")
    return wall, usage.ru_maxrss / 1024, errors


def store_folder(home: Path, task_id: str) -> Path:
    """The task's folder in the embedded agent's log store (tapit/trail/logformat.py task_prefix)."""
    return home / "agent" / "logstore" / "default" / task_id


def settled(home: Path, task: dict, timeout: float = 300.0) -> None:
    """Until the embedded agent has done all it does for the task after it ended: its archivist
    has written the task's manifest to its log store (tapit/trail/logformat.py manifest_path, the
    last object it writes), and the agent has released the allocation's disk, copying its logs out
    (tapit/agent/disk.py Filesystem.release: its mount is gone)."""
    manifest = store_folder(home, task["id"]) / "manifest.json"
    mount = os.fsencode(os.path.realpath(home / "agent" / "allocs" / task["nomad_alloc_id"]))
    deadline = time.monotonic() + timeout

    def mounted() -> bool:
        with open("/proc/self/mountinfo", "rb") as f:
            return any(line.split()[4] == mount for line in f)

    while not manifest.exists() or mounted():
        if time.monotonic() > deadline:
            sys.exit(f"the agent had not shipped task {task['id']} and released its disk after {timeout:g} s")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200, help="output size in MB (10^6 bytes)")
    parser.add_argument("--runs", type=int, default=5)
    # A vCPU is one core of this machine on the embedded agent: all of them, so that the limit
    # does not slow the task down against a local pipe that has every core.
    parser.add_argument("--cpu", default=str(os.cpu_count()))
    args = parser.parse_args()
    size = args.mb * 1_000_000
    # Varied, deterministic lines: a dropped, doubled or reordered piece changes the checksum.
    command = f"seq {size // 8} | head -c {size}"
    work = Path(tempfile.mkdtemp(prefix="tapit-output-bench-"))
    env = {**os.environ, "TAPIT_HOME": str(work / "home")}
    env.pop("NOMAD_ADDR", None)
    tapit = [sys.executable, "-m", "tapit"]
    try:
        subprocess.run([*tapit, "agent", "env"], env=env, check=True, capture_output=True)  # a warm agent
        local_out, tapit_out = work / "local.out", work / "tapit.out"
        walls, locals_, ratios, peaks, losses, loads = [], [], [], [], [], []
        for run in range(args.runs + 1):  # the first pair warms the caches and is not counted
            wall, peak, errors = timed([*tapit, "create", "task", command, f"cpu={args.cpu}", "--wait"], tapit_out, env)
            listing = subprocess.run([*tapit, "list", "tasks", "--json"], env=env, capture_output=True, check=True)
            newest = json.loads(listing.stdout)[0]
            settled(work / "home", newest)
            local, _, _ = timed(["sh", "-c", command], local_out, env)
            expected = digest(local_out)
            got = digest(tapit_out)
            lost = sum(int(n.replace(",", "")) for n in re.findall(r"tapit: ([\d,]+) bytes of the task's", errors))
            if got != expected and got[0] + lost != expected[0]:
                sys.exit(f"run {run}: tapit's output differs from the local one, unannounced: {got} {errors}")
            if errors and not lost:
                sys.exit(f"run {run}: tapit said: {errors}")
            if digest(store_folder(work / "home", newest["id"]) / "stdout") != got:
                sys.exit(f"run {run}: the shipped stream differs from the output")
            if run:
                walls.append(wall)
                locals_.append(local)
                ratios.append(wall / local)
                peaks.append(peak)
                losses.append(lost)
            loads.append(os.getloadavg()[0])
            exact = "byte-exact" if not lost else f"{lost:,} bytes rotated away before they were read, said so"
            print(
                f"run {run}: tapit {wall:.2f} s, local {local:.2f} s, ratio {wall / local:.2f}, "
                f"client peak {peak:.0f} MB, {exact}, load {loads[-1]:.1f}"
            )
        print(
            f"\n{args.mb} MB, cpu={args.cpu}, {args.runs} runs: tapit median {statistics.median(walls):.2f} s "
            f"({args.mb / statistics.median(walls):.0f} MB/s), local median {statistics.median(locals_):.2f} s; "
            f"ratio median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); "
            f"client peak RSS max {max(peaks):.0f} MB; {losses.count(0)} of {args.runs} runs byte-exact (the others "
            "fell behind Nomad's log rotation and said how many bytes it took); shipped streams equal to the output; "
            f"load average {min(loads):.1f}-{max(loads):.1f}"
        )
    finally:
        subprocess.run([*tapit, "agent", "stop", "--kill-tasks"], env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
