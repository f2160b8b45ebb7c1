"""What the agent knows of processes, through psutil (as Nomad's client takes them from
gopsutil): a process's identity, its children, and the usage of a process tree where no cgroup
accounts for it.  The supervisors (supervisor.py, run with the standard library only) record their
own start in clock ticks, /proc's unit; psutil gives seconds since the epoch."""

from __future__ import annotations

import os

import psutil

SECOND = 1_000_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (/proc/<pid>/stat starttime)."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return round((created - psutil.boot_time()) * CLOCK_TICKS)


def same_process(pid: int, recorded_start: int) -> bool:
    """The process `pid` is the one that recorded its start as `recorded_start` (a pid reused
    since has another start)."""
    return bool(pid) and start_ticks(pid) == recorded_start


def running(pid: int) -> bool:
    """Still there and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def first_child(pid: int) -> int:
    """The oldest child of `pid`; ProcessLookupError when it has none (or is gone)."""
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        children = []
    if not children:
        raise ProcessLookupError(pid)
    return min(children, key=_created).pid


def _created(process: psutil.Process) -> float:
    try:
        return process.create_time()
    except psutil.Error:
        return float("inf")


def tree_usage(root_pid: int) -> tuple[dict, int, dict]:
    """Memory (RSS) and CPU (user, system) of a process and all its descendants."""
    rss = user = system = 0
    if root_pid:
        try:
            root = psutil.Process(root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for process in tree:
            try:
                with process.oneshot():
                    times, memory = process.cpu_times(), process.memory_info()
            except psutil.Error:
                continue
            user += round(times.user * SECOND)
            system += round(times.system * SECOND)
            rss += memory.rss
    memory = {
        "RSS": rss,
        "Cache": 0,
        "Swap": 0,
        "MappedFile": 0,
        "Usage": 0,
        "MaxUsage": 0,
        "KernelUsage": 0,
        "KernelMaxUsage": 0,
        "Measured": ["RSS"],
    }
    return memory, user + system, {"user": user, "system": system, "nr_throttled": 0, "throttled": 0}
