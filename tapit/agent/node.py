"""The single client node: identity, fingerprinted attributes, drivers, capacity."""

from __future__ import annotations

import os
import platform
import shutil
import socket

from . import structs as wire
from . import topology
from .drivers.base import HEALTHY, UNDETECTED, Fingerprint

DATACENTER = "dc1"
NODE_POOL = "default"
VERSION = "2.0.5"  # the Nomad release whose API this agent speaks (max_run_duration needs >= 2.0.3)


CPU_SYSFS = "/sys/devices/system/cpu/cpu0"
MAX_RETAINED_NODE_EVENTS = 10  # structs.MaxRetainedNodeEvents
# structs.NodeListStub's fields between Version and NodeResources, in its order.
STUB_FIELDS = ("Drain", "SchedulingEligibility", "Status", "StatusDescription", "Drivers", "HostVolumes")


def _read_number(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _mhz_per_core() -> int:
    """A core's speed as Nomad's CPU fingerprinter finds it (client/lib/numalib detect_linux.go
    discoverCoreSpeeds and Core.MHz): the base speed (acpi_cppc nominal_freq under acpi-cpufreq,
    else cpufreq base_frequency), else the maximum (cpuinfo_max_freq), else what the generic
    scanner guesses from /proc/cpuinfo (detect_generic.go, via gopsutil).  The sysfs figures
    are fixed; /proc/cpuinfo's "cpu MHz" is the current one, which moves with frequency scaling."""
    try:
        with open(f"{CPU_SYSFS}/cpufreq/scaling_driver") as f:
            driver = f.read().strip()
    except OSError:
        driver = ""
    if driver == "acpi-cpufreq":
        base = _read_number(f"{CPU_SYSFS}/acpi_cppc/nominal_freq")  # MHz
    else:
        base = _read_number(f"{CPU_SYSFS}/cpufreq/base_frequency") // 1000  # kHz
    if base := base or _read_number(f"{CPU_SYSFS}/cpufreq/cpuinfo_max_freq") // 1000:
        return base
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]))
    except OSError:
        pass
    return 1000


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


class Node:
    def __init__(self, node_id: str, unenforced: list[str], cgroup_version: str, data_dir: str, http_addr: str):
        self.id = node_id
        self.name = socket.gethostname()
        self.cores = os.cpu_count() or 1
        self.mhz_per_core = _mhz_per_core()
        self.memory_mb = _memory_mb()
        self.data_dir = data_dir
        self.http_addr = http_addr
        self.drivers: dict[str, bool] = {}  # healthy or not, by name (set_driver)
        self.fingerprints: dict[str, Fingerprint] = {}
        self.driver_attributes: dict[str, dict[str, str]] = {}
        self.create_time = wire.now_ns()
        self.processors = {"Topology": topology.topology()}
        # What the state store's nodes table holds of the node and its operators change (kept in
        # the store's meta: persisted()/restore()).
        self.create_index = 1
        self.modify_index = 1
        self.drain_strategy: dict | None = None
        self.eligibility = "eligible"
        self.last_drain: dict | None = None
        self.events: list[dict] = []
        self.status_updated_at = self.create_time // wire.SECOND
        self.attributes = {
            "kernel.name": platform.system().lower(),
            "kernel.version": platform.release(),
            "kernel.arch": platform.machine(),
            "os.name": platform.system().lower(),
            "cpu.arch": platform.machine(),
            "cpu.numcores": str(self.cores),
            "cpu.frequency": str(self.mhz_per_core),
            "cpu.totalcompute": str(self.cores * self.mhz_per_core),
            "memory.totalbytes": str(self.memory_mb * 1024 * 1024),
            "unique.hostname": self.name,
            "nomad.version": VERSION,
            "nomad.advertise.address": http_addr.removeprefix("http://"),
            "unique.cgroup.version": cgroup_version,
            # client/fingerprint/cgroup.go: "1" or "2", and no attribute on a node without cgroups.
            **({"os.cgroups.version": cgroup_version.removeprefix("v")} if cgroup_version else {}),
            "tapit.limits.unenforced": ",".join(unenforced),
        }

    def set_driver(self, name: str, found: Fingerprint) -> None:
        """What a driver's fingerprint found (client/pluginmanager/drivermanager: the node's
        DriverInfo); its attributes are the node's while it is healthy."""
        self.fingerprints[name] = found
        self.drivers[name] = found.health == HEALTHY
        for key in self.driver_attributes.pop(name, {}):
            self.attributes.pop(key, None)
        if self.drivers[name]:
            self.driver_attributes[name] = dict(found.attributes or {})
            self.attributes.update(found.attributes or {})

    def set_driver_attribute(self, name: str, key: str, value: str) -> None:
        """An attribute a healthy driver learns after its fingerprint (KeyError: no longer healthy)."""
        self.driver_attributes[name][key] = value
        self.attributes[key] = value

    def persisted(self) -> dict:
        return {
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "DrainStrategy": self.drain_strategy,
            "SchedulingEligibility": self.eligibility,
            "LastDrain": self.last_drain,
            "Events": self.events,
            "StatusUpdatedAt": self.status_updated_at,
        }

    def restore(self, saved: dict) -> None:
        self.create_index, self.modify_index = saved["CreateIndex"], saved["ModifyIndex"]
        self.drain_strategy, self.eligibility = saved["DrainStrategy"], saved["SchedulingEligibility"]
        self.last_drain, self.events = saved["LastDrain"], saved["Events"]
        self.status_updated_at = saved["StatusUpdatedAt"]

    def add_event(self, index: int, message: str, subsystem: str, details: dict | None = None) -> None:
        """structs.NodeEvent, appended as appendNodeEvents does (MaxRetainedNodeEvents kept)."""
        event = {
            "Message": message,
            "Subsystem": subsystem,
            "Details": details,
            "Timestamp": wire.rfc3339nano(wire.now_ns()),
            "CreateIndex": index,
        }
        self.events = [*self.events, event][-MAX_RETAINED_NODE_EVENTS:]

    @property
    def total_cpu(self) -> int:
        return self.cores * self.mhz_per_core

    def free_disk_mb(self) -> int:
        return shutil.disk_usage(self.data_dir).free // (1024 * 1024)

    def as_dict(self, index: int) -> dict:
        """structs.Node, sanitized (SecretID blank), with the Drain field that the encoder's
        nodeExt adds to every node it writes (nomad/structs/extensions.go)."""
        drivers = {
            name: {
                "Attributes": self.driver_attributes.get(name),
                "Detected": self.fingerprints[name].health != UNDETECTED,
                "Healthy": ok,
                "HealthDescription": self.fingerprints[name].description,
                "UpdateTime": wire.rfc3339nano(self.create_time),
            }
            for name, ok in self.drivers.items()
        }
        return {
            "ID": self.id,
            "SecretID": "",
            "Datacenter": DATACENTER,
            "Name": self.name,
            "CgroupParent": "",
            "HTTPAddr": self.http_addr.removeprefix("http://"),
            "TLSEnabled": False,
            "Attributes": self.attributes,
            "NodeResources": {
                "Cpu": {"CpuShares": self.total_cpu, "TotalCpuCores": self.cores, "ReservableCpuCores": None},
                "Processors": self.processors,
                "Memory": {"MemoryMB": self.memory_mb},
                "Disk": {"DiskMB": self.free_disk_mb()},
                "Devices": None,
                "NodeNetworks": None,
                "Networks": None,
                "MinDynamicPort": 20000,
                "MaxDynamicPort": 32000,
            },
            "ReservedResources": None,
            "Links": None,
            "Meta": None,
            "NodeClass": "",
            "NodePool": NODE_POOL,
            "ComputedClass": "",
            "DrainStrategy": self.drain_strategy,
            "SchedulingEligibility": self.eligibility,
            "Status": "ready",
            "StatusDescription": "",
            "IdentitySigningKeyID": "",
            "StatusUpdatedAt": self.status_updated_at,
            "Events": self.events or None,
            "Drivers": drivers,
            "CSIControllerPlugins": None,
            "CSINodePlugins": None,
            "HostVolumes": None,
            "GCVolumesOnNodeGC": False,
            "HostNetworks": None,
            "LastDrain": self.last_drain,
            "NodeMaxAllocs": 0,
            "LastMissedHeartbeatIndex": 0,
            "LastAllocUpdateIndex": index,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
            "Drain": self.drain_strategy is not None,
        }

    def stub(self, index: int, resources: bool = False, os_name: bool = False) -> dict:
        """structs.Node.Stub, with the fields NodeStubFields asks for (Attributes, NodeResources
        and ReservedResources are omitempty)."""
        full = self.as_dict(index)
        stub = {"Address": self.http_addr.removeprefix("http://").rsplit(":", 1)[0], "ID": full["ID"]}
        if os_name:
            stub["Attributes"] = {"os.name": full["Attributes"]["os.name"]}
        stub.update({k: full[k] for k in ("Datacenter", "Name", "NodePool", "NodeClass")})
        stub["Version"] = full["Attributes"]["nomad.version"]
        stub.update({k: full[k] for k in STUB_FIELDS})
        if resources:
            stub["NodeResources"] = full["NodeResources"]
            if full["ReservedResources"] is not None:
                stub["ReservedResources"] = full["ReservedResources"]
        stub.update(LastDrain=full["LastDrain"], CreateIndex=full["CreateIndex"], ModifyIndex=full["ModifyIndex"])
        return stub
