"""The node's processor topology, as Nomad's client fingerprints it (client/lib/numalib
detect_linux.go PlatformScanners, topology.go Topology and Core) and as it appears in
NodeResources.Processors.Topology.

The Sysfs scanner reads the online NUMA nodes, their distances and each online core's node,
socket, grade and speeds; when what it found is unusable (no node, no distance, no core, or no
speed: a virtual machine without cpufreq) the Fallback scanner starts again with the generic one:
one node, every core at the speed /proc/cpuinfo gives.  The Smbios scanner (dmidecode) is not
run; the Cgroups scanners mark no core disabled (scanIDs sets Disable on a copy of each core).
Nodes and each row of Distances are Go []uint8, which JSON encodes as base64.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

SYS = Path("/sys/devices/system")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(path: Path) -> int:
    text = _read(path)
    try:
        return int(text) if text else 0
    except ValueError:
        return 0


def parse_id_set(text: str | None) -> list[int]:
    """idset.Parse: "0-3,8" into its IDs, in order."""
    ids: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit():
            ids.update(range(int(low), int(high or low) + 1) if (high or low).isdigit() else ())
    return sorted(ids)


def _core_speeds(core: int) -> tuple[int, int]:
    """discoverCoreSpeeds, in MHz: (base, max)."""
    cpu = SYS / "cpu" / f"cpu{core}"
    if _read(cpu / "cpufreq" / "scaling_driver") == "acpi-cpufreq":
        base = _number(cpu / "acpi_cppc" / "nominal_freq")
    else:
        base = _number(cpu / "cpufreq" / "base_frequency") // 1000
    return base, _number(cpu / "cpufreq" / "cpuinfo_max_freq") // 1000


def _core(node: int, socket: int, core: int, performance: bool, base: int, max_speed: int) -> dict:
    """numalib.Core, as Topology.insert sets it."""
    return {
        "SocketID": socket,
        "NodeID": node,
        "ID": core,
        "Grade": performance,
        "Disable": False,
        "BaseSpeed": base,
        "MaxSpeed": max_speed,
        "GuessSpeed": 0,
    }


def _sysfs() -> tuple[list[int], list[list[int]], list[dict]]:
    nodes = parse_id_set(_read(SYS / "node" / "online"))
    distances = []
    for node in nodes:
        row = [int(c) for c in (_read(SYS / "node" / f"node{node}" / "distance") or "").split()]
        distances.append((row + [0] * len(nodes))[: len(nodes)])
    cores = []
    online = parse_id_set(_read(SYS / "cpu" / "online"))
    for node in nodes or [0]:
        members = parse_id_set(_read(SYS / "node" / f"node{node}" / "cpulist")) if nodes else online
        for core in members:
            if core not in online:
                continue
            topo = SYS / "cpu" / f"cpu{core}" / "topology"
            siblings = parse_id_set(_read(topo / "thread_siblings_list"))
            base, max_speed = _core_speeds(core)
            # gradeOf: a core with hyperthread siblings is a performance core.
            cores.append(_core(node, _number(topo / "physical_package_id"), core, len(siblings) > 1, base, max_speed))
    return nodes, distances, cores


def _cpuinfo_mhz() -> int:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]))
    except (OSError, ValueError):
        pass
    return 0


def _bus_associativity() -> dict[str, int]:
    """discoverPCI: each PCI device's NUMA node, where it has one."""
    found = {}
    for device in sorted(Path("/sys/bus/pci/devices").glob("*")):
        node = _read(device / "numa_node")
        if node is not None and node.lstrip("-").isdigit() and int(node) >= 0:
            found[device.name] = int(node)
    return found


def _b64(values: list[int]) -> str:
    return base64.b64encode(bytes(values)).decode()


def topology() -> dict:
    """numalib.Topology as the node reports it."""
    distances: list[list[int]] | None  # None: not read, Nomad's fallback has none
    nodes, distances, cores = _sysfs()
    speed = sum(c["BaseSpeed"] or c["MaxSpeed"] for c in cores)
    broken = not nodes or not distances or not cores or speed <= 0
    if broken:  # Fallback, then scanGeneric
        mhz = _cpuinfo_mhz()
        nodes, distances = [0], None
        cores = [_core(0, 0, i, True, mhz, 0) for i in range(os.cpu_count() or 1)]
    return {
        "Nodes": _b64(nodes),
        "Distances": None if distances is None else [_b64(row) for row in distances],
        "Cores": cores,
        "BusAssociativity": _bus_associativity(),
        "OverrideTotalCompute": 0,
        "OverrideWitholdCompute": 0,
    }
