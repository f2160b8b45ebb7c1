"""Per-task cgroups (v2, or v1 where that is what the machine has): limits, usage, OOM counts.

The agent creates the cgroup and writes its limits; the supervisor's child joins it by writing
"0" (itself) into the listed `join` files just before exec, so the task and everything it forks
are accounted and limited from their first instruction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import capabilities

# TAPIT_CGROUP_ROOT lets a test play a machine without cgroups (an unprivileged laptop).
ROOT = Path(os.environ.get("TAPIT_CGROUP_ROOT", "/sys/fs/cgroup"))
PARENT = "tapit"
CFS_PERIOD_US = 100_000
MIB = 1024 * 1024


@dataclass
class TaskCgroup:
    """The directories of one task's cgroup; `procs` are the files a process joins through."""

    version: str
    dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def procs(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in dict.fromkeys(self.dirs.values())]

    @property
    def join(self) -> list[str]:
        """The files a single-threaded process moves itself through, by writing "0".  On v1 that
        is `tasks`: moving one thread, the calling one, needs no write lock on the kernel's
        cgroup_threadgroup_rwsem, whose taking waits for an RCU grace period (10-20 ms here,
        every task's start) when cgroup.procs moves a whole thread group.  The supervisor's
        forked child has one thread, so the process, and everything it forks, is in the cgroup
        all the same.  v2's threads file moves threads of a threaded cgroup only: cgroup.procs."""
        if self.version == "v2":
            return self.procs
        return [str(d / "tasks") for d in dict.fromkeys(self.dirs.values())]

    def oom_kills(self) -> int:
        if self.version == "v2":
            return _keyed(self.dirs["memory"] / "memory.events").get("oom_kill", 0)
        return _keyed(self.dirs["memory"] / "memory.oom_control").get("oom_kill", 0)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs:
            try:
                found.update(int(p) for p in Path(procs).read_text().split())
            except OSError:
                pass
        return sorted(found)


def _keyed(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return {k: int(v) for k, v in (line.split() for line in lines if line.count(" ") == 1)}


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


class Cgroups:
    """Detects what this machine offers and makes task cgroups accordingly."""

    def __init__(self) -> None:
        self.version = ""
        self.enforced: set[str] = set()
        self._detect()

    def _detect(self) -> None:
        if capabilities.masked(capabilities.CGROUPS):
            return
        if (ROOT / "cgroup.controllers").exists():
            parent = ROOT / PARENT
            try:
                parent.mkdir(exist_ok=True)
                available = set((ROOT / "cgroup.subtree_control").read_text().split())
                wanted = {"memory", "cpu"} & set((ROOT / "cgroup.controllers").read_text().split())
                for ctl in wanted - available:
                    (ROOT / "cgroup.subtree_control").write_text(f"+{ctl}")
                (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            except OSError:
                return
            self.version = "v2"
            self.enforced = set((parent / "cgroup.subtree_control").read_text().split()) & {"memory", "cpu"}
            return
        for ctl in ("memory", "cpu", "cpuacct"):
            try:
                (ROOT / ctl / PARENT).mkdir(exist_ok=True)
            except OSError:
                continue
            self.version = "v1"
            if ctl != "cpuacct":
                self.enforced.add(ctl)

    def unenforced(self) -> list[str]:
        return [limit for limit in ("memory", "cpu") if limit not in self.enforced]

    def create(self, name: str, memory_mb: int, cpu_mhz: int, mhz_per_core: int) -> TaskCgroup | None:
        if not self.version:
            return None
        group = TaskCgroup(self.version)
        quota = max(1000, cpu_mhz * CFS_PERIOD_US // mhz_per_core) if cpu_mhz else 0
        if self.version == "v2":
            path = ROOT / PARENT / name
            path.mkdir(exist_ok=True)
            group.dirs = {"memory": path, "cpu": path}
            if "memory" in self.enforced:
                (path / "memory.max").write_text(str(memory_mb * MIB))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
            if "cpu" in self.enforced and quota:
                (path / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
            return group
        for ctl in ("memory", "cpu", "cpuacct"):
            base = ROOT / ctl / PARENT
            if base.is_dir():
                (base / name).mkdir(exist_ok=True)
                group.dirs[ctl] = base / name
        if "memory" in group.dirs:
            (group.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_mb * MIB))
        if "cpu" in group.dirs and quota:
            (group.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            (group.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
        return group

    def of_process(self, pid: int) -> TaskCgroup | None:
        """The cgroup a process already runs in (a container's, made by its engine)."""
        if not self.version:
            return None
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        group = TaskCgroup(self.version)
        for line in lines:
            _, controllers, path = line.split(":", 2)
            relative = path.lstrip("/")
            if self.version == "v2" and not controllers:
                group.dirs = {"memory": ROOT / relative, "cpu": ROOT / relative}
            elif self.version == "v1":
                for ctl in set(controllers.split(",")) & {"memory", "cpu", "cpuacct"}:
                    group.dirs[ctl] = ROOT / ctl / relative
        return group if "memory" in group.dirs else None

    @staticmethod
    def attach(version: str, dirs: dict[str, str]) -> TaskCgroup:
        return TaskCgroup(version, {k: Path(v) for k, v in dirs.items()})


def usage(group: TaskCgroup) -> tuple[dict, int, dict]:
    """Memory figures, cumulative CPU nanoseconds and user/system split, from the cgroup files."""
    if group.version == "v2":
        path = group.dirs["memory"]
        stat = _keyed(path / "memory.stat")
        memory = {
            "RSS": stat.get("anon", 0),
            "Cache": stat.get("file", 0),
            "Swap": _read_int(path / "memory.swap.current"),
            "MappedFile": stat.get("file_mapped", 0),
            "Usage": _read_int(path / "memory.current"),
            "MaxUsage": _read_int(path / "memory.peak"),
            "KernelUsage": stat.get("kernel", 0),
            "KernelMaxUsage": 0,
            "Measured": ["Cache", "Swap", "Usage"],
        }
        cpu = _keyed(group.dirs["cpu"] / "cpu.stat")
        return (
            memory,
            cpu.get("usage_usec", 0) * 1000,
            {
                "user": cpu.get("user_usec", 0) * 1000,
                "system": cpu.get("system_usec", 0) * 1000,
                "nr_throttled": cpu.get("nr_throttled", 0),
                "throttled": cpu.get("throttled_usec", 0) * 1000,
            },
        )
    mem = group.dirs["memory"]
    stat = _keyed(mem / "memory.stat")
    memory = {
        "RSS": stat.get("rss", 0),
        "Cache": stat.get("cache", 0),
        "Swap": stat.get("swap", 0),
        "MappedFile": stat.get("mapped_file", 0),
        "Usage": _read_int(mem / "memory.usage_in_bytes"),
        "MaxUsage": _read_int(mem / "memory.max_usage_in_bytes"),
        "KernelUsage": _read_int(mem / "memory.kmem.usage_in_bytes"),
        "KernelMaxUsage": _read_int(mem / "memory.kmem.max_usage_in_bytes"),
        "Measured": ["RSS", "Cache", "Swap", "Usage", "Max Usage", "Kernel Usage", "Kernel Max Usage"],
    }
    acct = group.dirs.get("cpuacct")
    ticks = _keyed(acct / "cpuacct.stat") if acct else {}
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    throttle = _keyed(group.dirs["cpu"] / "cpu.stat") if "cpu" in group.dirs else {}
    return (
        memory,
        _read_int(acct / "cpuacct.usage") if acct else 0,
        {
            "user": ticks.get("user", 0) * tick_ns,
            "system": ticks.get("system", 0) * tick_ns,
            "nr_throttled": throttle.get("nr_throttled", 0),
            "throttled": throttle.get("throttled_time", 0),
        },
    )
