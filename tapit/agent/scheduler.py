"""Job registration, deregistration and placement on the single node (Nomad's batch scheduler,
reduced to one node): evaluations, allocations, blocked evals and their metrics.
"""

from __future__ import annotations

import asyncio
import fnmatch

from . import wire
from .node import Node
from .runner import Runner
from .state import Store, alloc_terminal

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
            job["SubmitTime"] = wire.now_ns()
            job["Stop"] = False
            tx.put_job(job)
            ev = wire.evaluation(job, "job-register", "pending", tx.index)
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
            ev = wire.evaluation(job, "job-deregister", "pending", tx.index, Type="service")
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
        victims = [a for a in bucket.allocs.values() if not alloc_terminal(a)]
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

    def _failure(self, job: dict, group: dict) -> dict | None:
        """The AllocMetric of a failed placement, or None when the group fits on the node."""
        node = self.node
        metric = wire.alloc_metric({"dc1": 1})
        metric.update(NodesEvaluated=1, NodesInPool=1, NodePool=node_pool(job))
        if not any(fnmatch.fnmatchcase("dc1", dc) for dc in job["Datacenters"]) or node_pool(job) != "default":
            metric.update(NodesEvaluated=0, NodesInPool=0, NodesAvailable={"dc1": 0})
            return metric
        if any(not node.drivers.get(t["Driver"]) for t in group["Tasks"]):
            metric.update(NodesFiltered=1, ConstraintFiltered={"missing drivers": 1})
            return metric
        used_cpu = used_mem = 0
        for alloc in self.store.allocs():
            if not alloc_terminal(alloc):
                for res in alloc["AllocatedResources"]["Tasks"].values():
                    used_cpu += res["Cpu"]["CpuShares"]
                    used_mem += res["Memory"]["MemoryMB"]
        want_cpu = sum(t["Resources"]["CPU"] or t["Resources"]["Cores"] * node.mhz_per_core for t in group["Tasks"])
        want_mem = sum(t["Resources"]["MemoryMB"] for t in group["Tasks"])
        for dimension, exhausted in (
            ("cpu", used_cpu + want_cpu > node.total_cpu),
            ("memory", used_mem + want_mem > node.memory_mb),
            ("disk", group["EphemeralDisk"]["SizeMB"] > node.free_disk_mb()),
        ):
            if exhausted:
                metric.update(NodesExhausted=1, DimensionExhausted={dimension: 1})
                return metric
        return None

    def _place(self, job: dict, ev: dict) -> None:
        placed, failed, queued = [], {}, {}
        with self.store.txn("PlanResult") as tx:
            for group in job["TaskGroups"]:
                metric = self._failure(job, group)
                if metric is not None:
                    failed[group["Name"]] = metric
                    queued[group["Name"]] = group["Count"]
                    continue
                for index in range(group["Count"]):
                    alloc = wire.allocation(job, group, ev["ID"], self.node.as_dict(tx.index), tx.index)
                    alloc["Name"] = f"{job['ID']}.{group['Name']}[{index}]"
                    tx.put_alloc(alloc)
                    placed.append(alloc)
        with self.store.txn("EvaluationUpdated") as tx:
            ev["Status"] = "complete"
            ev["QueuedAllocations"] = {g["Name"]: queued.get(g["Name"], 0) for g in job["TaskGroups"]}
            if failed:
                blocked = wire.evaluation(
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
            tx.set_queued(self.store.bucket(job["Namespace"], job["ID"]), queued)
        for alloc in placed:
            task = asyncio.get_running_loop().create_task(self.runner.start(alloc))
            self._starts.add(task)
            task.add_done_callback(self._starts.discard)

    def unblock(self) -> None:
        """Capacity was freed: retry blocked evaluations (the blocked-evals tracker)."""
        for ev in [e for e in self.store.evals() if e["Status"] == "blocked"]:
            job = self.store.job(ev["Namespace"], ev["JobID"])
            if job is None or job["Stop"]:
                continue
            if all(self._failure(job, g) is None for g in job["TaskGroups"]):
                with self.store.txn("EvaluationUpdated") as tx:
                    ev["Status"] = "complete"
                    tx.put_eval(ev)
                self._place(job, ev)


def node_pool(job: dict) -> str:
    return job["NodePool"] or "default"
