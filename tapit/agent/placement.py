"""Whether, and how much of, a job fits the one node: the feasibility checks of
scheduler/feasible.go (datacenter, node pool, eligibility, drivers) and the resource fit of
scheduler/rank.go's BinPackIterator (structs.AllocsFit: CPU, memory, disk), reduced to one node.
The scheduler places by these, and a plan answers by them without writing anything."""

from __future__ import annotations

import fnmatch

from . import structs
from .node import Node
from .state.store import Store


class NodeFit:
    def __init__(self, store: Store, node: Node):
        self.store = store
        self.node = node

    def feasible(self, job: dict, group: dict) -> tuple[dict, bool]:
        """The group's AllocMetric, and whether the node is ruled out before any resource is
        counted (wrong datacenter or pool: no node evaluated; a missing driver: filtered)."""
        metric = structs.alloc_metric({"dc1": 1})
        metric.update(NodesEvaluated=1, NodesInPool=1, NodePool=node_pool(job))
        if not any(fnmatch.fnmatchcase("dc1", dc) for dc in job["Datacenters"]) or node_pool(job) != "default":
            metric.update(NodesEvaluated=0, NodesInPool=0, NodesAvailable={"dc1": 0})
        elif self.node.eligibility != "eligible":  # readyNodesInDCsAndPool leaves it out
            metric.update(NodesEvaluated=0, NodesAvailable={"dc1": 0})
        elif any(not self.node.drivers.get(t["Driver"]) for t in group["Tasks"]):
            metric.update(NodesFiltered=1, ConstraintFiltered={"missing drivers": 1})
        else:
            return metric, False
        return metric, True

    def ask(self, group: dict) -> tuple[int, int, int]:
        """What one allocation of the group reserves on the node: CPU MHz (cores at the node's
        MHz each), memory MB, and the group's ephemeral disk MB."""
        mhz = self.node.mhz_per_core
        cpu = sum(t["Resources"]["CPU"] or t["Resources"]["Cores"] * mhz for t in group["Tasks"])
        return cpu, sum(t["Resources"]["MemoryMB"] for t in group["Tasks"]), group["EphemeralDisk"]["SizeMB"]

    def in_use(self) -> list[int]:
        """What the allocations that are not terminal hold (structs.AllocsFit counts only those)."""
        used = [0, 0, 0]
        for alloc in self.store.allocs():
            if not structs.alloc_terminal(alloc):
                group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
                for i, amount in enumerate(self.ask(group)):
                    used[i] += amount
        return used

    def exhausted(self, used: list[int], ask: tuple[int, int, int]) -> str | None:
        """The first dimension the node lacks for one more allocation (AllocsFit's order)."""
        capacity = (self.node.total_cpu, self.node.memory_mb, self.node.free_disk_mb())
        for dimension, have, want, total in zip(("cpu", "memory", "disk"), used, ask, capacity):
            if have + want > total:
                return dimension
        return None

    def could_place_one(self, job: dict, group: dict) -> bool:
        return not self.feasible(job, group)[1] and self.exhausted(self.in_use(), self.ask(group)) is None


def name_index(name: str) -> int:
    """The index in an allocation's name, `<job>.<group>[<index>]`."""
    return int(name.rsplit("[", 1)[1].rstrip("]"))


def node_pool(job: dict) -> str:
    return job["NodePool"] or "default"
