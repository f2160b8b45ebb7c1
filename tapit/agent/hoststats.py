"""GET /v1/client/stats: the host's resource usage as Nomad's client collects it
(client/hoststats/host.go HostStatsCollector, on gopsutil; here psutil, its Python counterpart):
memory, each CPU's use since the previous collection, the physical partitions, the disk of the
allocation directory, uptime."""

from __future__ import annotations

import math
import os
import time

import psutil

from . import structs as wire


def _disk(path: str, device: str = "", mountpoint: str = "") -> dict:
    """disk.Usage and toDiskStats (a NaN percentage is 0); inodes from the same statvfs."""
    usage = psutil.disk_usage(path)
    vfs = os.statvfs(path)
    inodes = 100 * (vfs.f_files - vfs.f_ffree) / vfs.f_files if vfs.f_files else 0.0
    used_percent = usage.percent if not math.isnan(usage.percent) else 0.0
    return {
        "Device": device,
        "Mountpoint": mountpoint,
        "Size": usage.total,
        "Used": usage.used,
        "Available": usage.free,
        "UsedPercent": used_percent,
        "InodesUsedPercent": inodes,
    }


class HostStats:
    """The collector keeps the previous CPU times: percentages are over the time between two
    collections, as HostCpuStatsCalculator computes them."""

    def __init__(self, alloc_dir: str, mhz_per_core: int):
        self.alloc_dir = alloc_dir
        self.mhz_per_core = mhz_per_core
        self.previous = psutil.cpu_times(percpu=True)

    def _cpus(self) -> tuple[list[dict], float]:
        now = psutil.cpu_times(percpu=True)
        cpus, ticks = [], 0.0
        for i, (before, after) in enumerate(zip(self.previous, now)):
            total = sum(after) - sum(before)
            # HostCpuStatsCalculator.Calculate: each share of the time gone by, idle the rest.
            user, system, idle = (
                100 * (getattr(after, f) - getattr(before, f)) / total if total > 0 else 0.0
                for f in ("user", "system", "idle")
            )
            busy = 100.0 - idle if total > 0 else 0.0
            cpu_ticks = busy / 100 * self.mhz_per_core
            ticks += cpu_ticks
            cpus.append(
                {
                    "CPU": f"cpu{i}",
                    "User": user,
                    "System": system,
                    "Idle": idle,
                    "TotalPercent": busy,
                    "TotalTicks": cpu_ticks,
                }
            )
        self.previous = now
        return cpus, ticks

    def collect(self) -> dict:
        """collectLocked: hoststats.HostStats."""
        memory = psutil.virtual_memory()
        cpus, ticks = self._cpus()
        disks = []
        for part in psutil.disk_partitions(all=False):
            try:
                disks.append(_disk(part.mountpoint, part.device, part.mountpoint))
            except OSError:
                continue  # a partition whose usage cannot be read is skipped, as Nomad's
        return {
            "Memory": {"Total": memory.total, "Available": memory.available, "Used": memory.used, "Free": memory.free},
            "CPU": cpus,
            "DiskStats": disks,
            "AllocDirStats": _disk(self.alloc_dir),
            "DeviceStats": [],
            "Uptime": int(time.time() - psutil.boot_time()),
            "Timestamp": wire.now_ns(),
            "CPUTicksConsumed": ticks,
        }
