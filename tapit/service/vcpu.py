"""How many MHz a vCPU is: tapit's `cpu` counts cores, Nomad reserves MHz (`Resources.CPU`).

With `mhz_per_vcpu` in the config, that is the figure.  Unset, tapit derives it from the nodes
that could run the task, as Nomad's CPU fingerprinter describes them (client/fingerprint/cpu.go):
per node `cpu.totalcompute` / `cpu.numcores` (what one core adds to the node's compute, which is
what drivers turn into a share of a core: drivers/docker/driver.go's cpu_hard_limit quota and the
embedded agent's), else `cpu.frequency`.  Of several, the highest: `cpu=1` then reserves at least
a whole core wherever the task lands.  On the embedded agent, one node: a vCPU is one of this
machine's cores.  The figure is cached per address, driver and placement for CACHE_S.
"""

from __future__ import annotations

import fnmatch
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from tapit.config import FALLBACK_MHZ_PER_VCPU, AppConfig
from tapit.nomad.errors import NomadError
from tapit.paths import write_private

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient

CACHE_FILE = "vcpu.json"
CACHE_S = 3600.0
MAX_NODES_READ = 32  # each node is a request; beyond this many candidates, the first by ID


@dataclass(frozen=True)
class VcpuMhz:
    mhz: int
    source: str  # for `tapit config`


def per_core_mhz(attributes: Mapping[str, str]) -> int | None:
    try:
        total, cores = int(attributes["cpu.totalcompute"]), int(attributes["cpu.numcores"])
        if total > 0 and cores > 0:
            return round(total / cores)
    except (KeyError, ValueError):
        pass
    try:
        return int(attributes["cpu.frequency"]) or None
    except (KeyError, ValueError):
        return None


def could_run(stub: dict, driver: str, config: AppConfig) -> bool:
    """A node list stub (structs.NodeListStub) that the scheduler might place the task on: ready,
    eligible, not draining, in one of the job's datacenters and its node pool, with the driver."""
    info = (stub.get("Drivers") or {}).get(driver) or {}
    pool = config.node_pool or "default"
    return (
        stub.get("Status") == "ready"
        and stub.get("SchedulingEligibility") == "eligible"
        and not stub.get("Drain")
        and any(fnmatch.fnmatchcase(stub.get("Datacenter", ""), dc) for dc in config.datacenters)
        and pool in ("all", stub.get("NodePool", "default"))
        and bool(info.get("Detected")) and bool(info.get("Healthy"))
    )  # fmt: skip


def derive(nodes: list[dict]) -> int | None:
    """The MHz per vCPU for these nodes (full structs.Node), None when none says."""
    found = [m for m in (per_core_mhz(n.get("Attributes") or {}) for n in nodes) if m]
    return max(found, default=None)


def _cache_key(address: str, driver: str, config: AppConfig) -> str:
    return f"{address} {driver} {','.join(config.datacenters)} {config.node_pool or 'default'}"


def resolve(config: AppConfig, nomad: NomadClient, driver: str, address: str, home: Path) -> VcpuMhz:
    """The MHz per vCPU for a task on `driver`: configured, cached, or derived now from the
    cluster; FALLBACK_MHZ_PER_VCPU when no node could be read."""
    if config.mhz_per_vcpu:
        return VcpuMhz(config.mhz_per_vcpu, config.sources.get("mhz_per_vcpu", "default"))

    path, key = home / CACHE_FILE, _cache_key(address, driver, config)
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    hit = cache.get(key)
    if isinstance(hit, dict) and time.time() - hit.get("at", 0) < CACHE_S and isinstance(hit.get("mhz"), int):
        return VcpuMhz(hit["mhz"], hit["source"] + f", cached in {path}")
    try:
        candidates = sorted((s for s in nomad.nodes.list() if could_run(s, driver, config)), key=lambda s: s["ID"])
        nodes = [nomad.nodes.info(s["ID"]) for s in candidates[:MAX_NODES_READ]]
    except NomadError as exc:
        return VcpuMhz(FALLBACK_MHZ_PER_VCPU, f"fallback: the nodes could not be read ({exc})")
    mhz = derive(nodes)
    if mhz is None:
        return VcpuMhz(FALLBACK_MHZ_PER_VCPU, f"fallback: no node at {address} could run a {driver} task")
    source = f"derived from the MHz per core of {len(nodes)} node(s) at {address}"
    cache = {k: v for k, v in cache.items() if isinstance(v, dict) and time.time() - v.get("at", 0) < CACHE_S}
    cache[key] = {"mhz": mhz, "source": source, "at": time.time()}
    try:
        write_private(path, json.dumps(cache).encode())
    except OSError:
        pass  # a read-only home: derived again next time
    return VcpuMhz(mhz, source)
