"""GET /v1/client/allocation/:id/stats: AllocResourceUsage from the task's driver (its cgroup, or
its processes when the machine has no cgroups for us) (client/structs ResourceUsage/MemoryStats/CpuStats)."""

from __future__ import annotations

from typing import Callable

from . import structs as wire
from .drivers.base import TaskHandle


class StatsTracker:
    """Keeps the previous CPU sample per task so Percent is the usage since the last read."""

    def __init__(self, mhz_per_core: int, sample: Callable[[TaskHandle], tuple[dict, int, dict, list[str]]]):
        self.mhz_per_core = mhz_per_core
        self.sample = sample  # the task's driver's TaskStats (Runner.task_stats)
        self.previous: dict[tuple[str, str], tuple[int, int, int, int]] = {}
        self.latest: dict[tuple[str, str], dict] = {}

    def task_usage(self, handle: TaskHandle) -> dict:
        now = wire.now_ns()
        memory, total, cpu, measured = self.sample(handle)
        key = (handle.alloc_id, handle.name)
        prev_time, prev_total, prev_user, prev_system = self.previous.get(key, (now, total, cpu["user"], cpu["system"]))
        self.previous[key] = (now, total, cpu["user"], cpu["system"])
        wall = max(1, now - prev_time)
        percent = 100.0 * (total - prev_total) / wall if now != prev_time else 0.0
        usage = {
            "MemoryStats": memory,
            "CpuStats": {
                "SystemMode": 100.0 * (cpu["system"] - prev_system) / wall,
                "UserMode": 100.0 * (cpu["user"] - prev_user) / wall,
                "TotalTicks": percent / 100.0 * self.mhz_per_core,
                "ThrottledPeriods": cpu["nr_throttled"],
                "ThrottledTime": cpu["throttled"],
                "Percent": percent,
                "Measured": measured,
            },
            "DeviceStats": None,
        }
        return {"ResourceUsage": usage, "Timestamp": now, "Pids": None}

    def alloc_usage(self, alloc: dict, running: dict[str, TaskHandle], task_filter: str = "") -> dict:
        """allocRunner.LatestAllocStats: every task's latest sample (sampled now when it runs, the
        last one taken while it ran otherwise), and the sum over the running ones only."""
        memory_keys = ("RSS", "Cache", "Swap", "MappedFile", "Usage", "MaxUsage", "KernelUsage", "KernelMaxUsage")
        cpu_keys = ("SystemMode", "UserMode", "TotalTicks", "ThrottledPeriods", "ThrottledTime", "Percent")
        # &MemoryStats{}, &CpuStats{} and an empty DeviceStats slice, before anything is added.
        memory: dict = dict.fromkeys(memory_keys, 0) | {"Measured": None}
        cpu: dict = dict.fromkeys(cpu_keys, 0) | {"Measured": None}
        tasks, timestamp = {}, 0
        for name in alloc["TaskStates"]:
            if task_filter and task_filter != name:
                continue
            key = (alloc["ID"], name)
            if name in running:
                usage = self.latest[key] = self.task_usage(running[name])
                for k in memory_keys:
                    memory[k] += usage["ResourceUsage"]["MemoryStats"][k]
                for k in cpu_keys:
                    cpu[k] += usage["ResourceUsage"]["CpuStats"][k]
                memory["Measured"] = _join(memory["Measured"], usage["ResourceUsage"]["MemoryStats"]["Measured"])
                cpu["Measured"] = _join(cpu["Measured"], usage["ResourceUsage"]["CpuStats"]["Measured"])
                timestamp = max(timestamp, usage["Timestamp"])
            elif key in self.latest:
                usage = self.latest[key]
            else:
                continue  # never sampled while it ran
            tasks[name] = usage
        return {
            "ResourceUsage": {"MemoryStats": memory, "CpuStats": cpu, "DeviceStats": []},
            "Tasks": tasks,
            "Timestamp": timestamp,
        }


def _join(have: list[str] | None, more: list[str]) -> list[str]:
    """client/structs joinStringSet."""
    return list(dict.fromkeys([*(have or ()), *more]))
