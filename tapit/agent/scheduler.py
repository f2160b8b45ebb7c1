"""Job registration, deregistration and placement on the single node (Nomad's batch scheduler,
reduced to one node): evaluations, allocations, blocked evals and their metrics.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch

from . import structs
from .node import Node
from .runner import Runner
from .state.store import Store

STOP_DESCRIPTION = "alloc not needed due to job update"  # scheduler/structs allocNotNeeded


class Scheduler:
    def __init__(self, store: Store, node: Node, runner: Runner):
        self.store = store
        self.node = node
        self.runner = runner
        runner.on_alloc_terminal = lambda alloc: self.unblock()
        self._starts: set[asyncio.Task] = set()

    def register(self, job: dict) -> tuple[dict, int]:
        """Upsert the job and schedule it; returns (JobRegisterResponse fields, index)."""
        store = self.store
        bucket = store.bucket(job["Namespace"], job["ID"])
        existing = bucket.job if bucket else None
        with store.txn("JobRegistered") as tx:
            job["CreateIndex"] = existing["CreateIndex"] if existing else tx.index
            job["Version"] = existing["Version"] + 1 if existing else 0
            job["JobModifyIndex"] = tx.index
            job["SubmitTime"] = structs.now_ns()
            job["Stop"] = False
            tx.put_job(job)
            ev = structs.evaluation(job, "job-register", "pending", tx.index)
            tx.put_eval(ev)
        eval_index = store.index
        if existing:
            self._stop_allocs(existing)
        self._place(job, ev)
        return {
            "EvalID": ev["ID"],
            "EvalCreateIndex": eval_index,
            "JobModifyIndex": job["JobModifyIndex"],
            "Warnings": "",
        }, eval_index

    def deregister(self, namespace: str, job_id: str, purge: bool) -> tuple[dict, int]:
        store = self.store
        bucket = store.bucket(namespace, job_id)
        if bucket is None or bucket.job is None:
            # Job.Deregister returns nil with an empty reply: every index is 0, X-Nomad-Index too.
            return {
                "EvalID": "",
                "EvalCreateIndex": 0,
                "JobModifyIndex": 0,
                "VolumeEvalID": "",
                "VolumeEvalIndex": 0,
            }, 0
        job = bucket.job
        with store.txn("JobDeregistered") as tx:
            if purge:
                tx.delete_job(bucket)
            else:
                job["Stop"] = True
                job["JobModifyIndex"] = tx.index
                tx.put_job(job)
            # nomad/job_endpoint.go Deregister hard-codes the type of this eval.
            ev = structs.evaluation(job, "job-deregister", "pending", tx.index, Type="service")
            tx.put_eval(ev)
        index = store.index
        self._stop_allocs(job)
        with store.txn("EvaluationUpdated") as tx:
            ev["Status"] = "complete"
            tx.put_eval(ev)
            for blocked in bucket.evals.values():
                if blocked["Status"] == "blocked":
                    blocked["Status"] = "canceled"
                    tx.put_eval(blocked)
            tx.set_queued(bucket, {})
        if purge:
            self.runner.collect(bucket)  # now, or once its allocations have ended
        return {
            "EvalID": ev["ID"],
            "EvalCreateIndex": index,
            "JobModifyIndex": index,
            "VolumeEvalID": "",
            "VolumeEvalIndex": 0,
        }, index

    def _stop_allocs(self, job: dict) -> None:
        bucket = self.store.bucket(job["Namespace"], job["ID"])
        victims = [a for a in bucket.allocs.values() if not structs.alloc_terminal(a)]
        if not victims:
            return
        with self.store.txn("PlanResult") as tx:
            for alloc in victims:
                alloc["DesiredStatus"] = "stop"
                alloc["DesiredDescription"] = STOP_DESCRIPTION
                tx.put_alloc(alloc)
        for alloc in victims:
            self.runner.kill(alloc["ID"])

    # --- placement -----------------------------------------------------------------------

    def _filtered(self, job: dict, group: dict) -> tuple[dict, bool]:
        """The group's AllocMetric, and whether the node is ruled out before any resource is
        counted (wrong datacenter or pool: no node evaluated; a missing driver: filtered)."""
        metric = structs.alloc_metric({"dc1": 1})
        metric.update(NodesEvaluated=1, NodesInPool=1, NodePool=node_pool(job))
        if not any(fnmatch.fnmatchcase("dc1", dc) for dc in job["Datacenters"]) or node_pool(job) != "default":
            metric.update(NodesEvaluated=0, NodesInPool=0, NodesAvailable={"dc1": 0})
        elif any(not self.node.drivers.get(t["Driver"]) for t in group["Tasks"]):
            metric.update(NodesFiltered=1, ConstraintFiltered={"missing drivers": 1})
        else:
            return metric, False
        return metric, True

    def _ask(self, group: dict) -> tuple[int, int, int]:
        """What one allocation of the group reserves on the node: CPU MHz (cores at the node's
        MHz each), memory MB, and the group's ephemeral disk MB."""
        mhz = self.node.mhz_per_core
        cpu = sum(t["Resources"]["CPU"] or t["Resources"]["Cores"] * mhz for t in group["Tasks"])
        return cpu, sum(t["Resources"]["MemoryMB"] for t in group["Tasks"]), group["EphemeralDisk"]["SizeMB"]

    def _in_use(self) -> list[int]:
        """What the allocations that are not terminal hold (structs.AllocsFit counts only those)."""
        used = [0, 0, 0]
        for alloc in self.store.allocs():
            if not structs.alloc_terminal(alloc):
                group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
                for i, amount in enumerate(self._ask(group)):
                    used[i] += amount
        return used

    def _exhausted(self, used: list[int], ask: tuple[int, int, int]) -> str | None:
        """The first dimension the node lacks for one more allocation (AllocsFit's order)."""
        capacity = (self.node.total_cpu, self.node.memory_mb, self.node.free_disk_mb())
        for dimension, have, want, total in zip(("cpu", "memory", "disk"), used, ask, capacity):
            if have + want > total:
                return dimension
        return None

    def _place(self, job: dict, ev: dict, reblock: bool = False) -> None:
        """scheduler/generic_sched.go computePlacements on the one node: every allocation the group
        still misses is placed while the node has room (the bin-packing iterator's AllocsFit); the
        first that does not fit records the group's AllocMetric and each later one is counted in
        its CoalescedFailures.  What is not placed stays queued (the eval's QueuedAllocations, the
        summary's Queued) behind a blocked evaluation (nomad/blocked_evals.go), which capacity freed
        later places; a blocked eval that still cannot place everything is reblocked.  The node's
        room bounds what one evaluation creates, and Job.Validate bounds the count (job_max_count)."""
        bucket = self.store.bucket(job["Namespace"], job["ID"])
        have: dict[str, int] = {}
        for alloc in bucket.allocs.values():
            if alloc["Job"]["JobModifyIndex"] == job["JobModifyIndex"]:
                have[alloc["TaskGroup"]] = have.get(alloc["TaskGroup"], 0) + 1
        used = self._in_use()
        snapshot = copy.deepcopy(job)  # the job as placed, shared by every allocation of this evaluation
        placed, failed, queued = [], {}, {}
        with self.store.txn("PlanResult") as tx:
            node = self.node.as_dict(tx.index)
            for group in job["TaskGroups"]:
                start = have.get(group["Name"], 0)
                missing = group["Count"] - start
                if missing <= 0:
                    continue
                metric, ruled_out = self._filtered(job, group)
                ask, count = self._ask(group), 0
                while not ruled_out and count < missing:
                    dimension = self._exhausted(used, ask)
                    if dimension is not None:
                        metric.update(NodesExhausted=1, DimensionExhausted={dimension: 1})
                        break
                    alloc = structs.allocation(snapshot, group, ev["ID"], node, tx.index)
                    alloc["Name"] = f"{job['ID']}.{group['Name']}[{start + count}]"
                    tx.put_alloc(alloc)
                    placed.append(alloc)
                    used = [u + a for u, a in zip(used, ask)]
                    count += 1
                if count < missing:
                    metric["CoalescedFailures"] = missing - count - 1
                    failed[group["Name"]] = metric
                    queued[group["Name"]] = missing - count
        with self.store.txn("EvaluationUpdated") as tx:
            ev["QueuedAllocations"] = {g["Name"]: queued.get(g["Name"], 0) for g in job["TaskGroups"]}
            if failed and reblock:
                ev["Status"] = "blocked"
            else:
                ev["Status"] = "complete"
                if failed:
                    blocked = structs.evaluation(
                        job,
                        "queued-allocs",
                        "blocked",
                        tx.index,
                        PreviousEval=ev["ID"],
                        StatusDescription="created to place remaining allocations",
                    )
                    ev["FailedTGAllocs"] = failed
                    ev["BlockedEval"] = blocked["ID"]
                    tx.put_eval(blocked)
            tx.put_eval(ev)
            tx.set_queued(bucket, queued)
        for alloc in placed:
            task = asyncio.get_running_loop().create_task(self.runner.start(alloc))
            self._starts.add(task)
            task.add_done_callback(self._starts.discard)

    def unblock(self) -> None:
        """Capacity was freed: evaluate the blocked evaluations again (BlockedEvals.Unblock), each
        placing what now fits."""
        for ev in [e for e in self.store.evals() if e["Status"] == "blocked"]:
            job = self.store.job(ev["Namespace"], ev["JobID"])
            if job is None or job["Stop"]:
                continue
            if any(self._could_place_one(job, g) for g in job["TaskGroups"]):
                self._place(job, ev, reblock=True)

    def _could_place_one(self, job: dict, group: dict) -> bool:
        return not self._filtered(job, group)[1] and self._exhausted(self._in_use(), self._ask(group)) is None


def node_pool(job: dict) -> str:
    return job["NodePool"] or "default"
