"""Job registration, deregistration and placement on the single node (Nomad's batch scheduler,
reduced to one node): evaluations, allocations, blocked evals and their metrics.
"""

from __future__ import annotations

import asyncio
import copy
import itertools

from . import structs
from .node import Node
from .placement import NodeFit, name_index
from .runner import Runner
from .state.store import TERMINAL_EVAL, Store
from .structs import scaling
from .structs.alloc import TERMINAL_CLIENT

STOP_DESCRIPTION = "alloc not needed due to job update"  # scheduler/structs StatusAllocNotNeeded
MIGRATE_DESCRIPTION = "alloc is being migrated"  # scheduler/structs StatusAllocMigrating


class Scheduler:
    def __init__(self, store: Store, node: Node, runner: Runner):
        self.store = store
        self.node = node
        self.runner = runner
        runner.on_alloc_terminal = self._alloc_terminal
        self.on_alloc_terminal: list = []  # what else wants to know (the drainer)
        self._starts: set[asyncio.Task] = set()
        self.fit = NodeFit(store, node)

    def register(self, job: dict, eval_priority: int = 0) -> tuple[dict, int]:
        """nomad/job_endpoint.go Register: upsert the job and evaluate it; returns
        (JobRegisterResponse fields, index).  A job whose spec has not changed (Job.SpecChanged)
        is left as it is, allocations and all: only an evaluation is created, which places what
        the job misses.  A periodic or parameterized job gets no evaluation."""
        store = self.store
        existing = store.job(job["Namespace"], job["ID"])
        evaluated = not structs.launches_children(job)
        priority = eval_priority or job["Priority"]
        reply = {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0, "Warnings": ""}
        ev: dict | None
        # propagateScalingPolicyIDs comes first: the IDs are part of what SpecChanged compares.
        scaling.propagate_ids(existing, job)
        if existing is not None and not structs.spec_changed(existing, job):
            reply["JobModifyIndex"] = existing["ModifyIndex"]
            if not evaluated:
                return reply, existing["ModifyIndex"]
            # The eval goes in on its own (EvalUpdateRequestType): no JobModifyIndex is set on it.
            with store.txn("EvaluationUpdated") as tx:
                ev = structs.evaluation(
                    existing, "job-register", "pending", tx.index, JobModifyIndex=0, Priority=priority
                )
                tx.put_eval(ev)
            reply.update(EvalID=ev["ID"], EvalCreateIndex=store.index)
            index = store.index
            self._place(existing, ev)
            return reply, index
        ev = None
        with store.txn("JobRegistered") as tx:
            job["CreateIndex"] = existing["CreateIndex"] if existing else tx.index
            job["Version"] = existing["Version"] + 1 if existing else 0
            job["JobModifyIndex"] = tx.index
            job["SubmitTime"] = structs.now_ns()
            job["Stop"] = False
            tx.put_job(job)
            if evaluated:
                ev = structs.evaluation(job, "job-register", "pending", tx.index, Priority=priority)
                tx.put_eval(ev)
        index = store.index
        reply["JobModifyIndex"] = index
        if existing:
            self._stop_allocs(existing)
        if ev is not None:
            reply.update(EvalID=ev["ID"], EvalCreateIndex=index)
            self._place(job, ev)
        return reply, index

    def evaluate(self, job: dict) -> tuple[dict, int]:
        """nomad/job_endpoint.go Evaluate: a new evaluation of the job as it is. The eval and the
        reply name the ModifyIndex of the job as it was read, as there: placing the eval may
        change the job's status, and with it its ModifyIndex, before the reply is written."""
        modify_index = job["ModifyIndex"]
        with self.store.txn("AllocationUpdateDesiredStatus") as tx:
            ev = structs.evaluation(job, "job-register", "pending", tx.index, JobModifyIndex=modify_index)
            tx.put_eval(ev)
        index = self.store.index
        self._place(job, ev)
        return {
            "EvalID": ev["ID"],
            "EvalCreateIndex": index,
            "JobModifyIndex": modify_index,
            "Warnings": "",
        }, index

    def scale(self, job: dict, group_name: str, count: int | None, event: dict) -> tuple[dict, int]:
        """nomad/job_endpoint.go Scale: the group's new count is a new version of the job, which
        the reconciler applies in place (a count is no destructive update): the allocations keep
        running under it, what the count adds is placed and what it takes away is stopped,
        highest index first.  The scaling event is recorded either way."""
        store = self.store
        reply = {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": job["ModifyIndex"], "Warnings": ""}
        ev = None
        if count is not None:
            scaled = copy.deepcopy(job)
            next(g for g in scaled["TaskGroups"] if g["Name"] == group_name)["Count"] = count
            scaled["SubmitTime"] = event["Time"]
            with store.txn("JobRegistered") as tx:
                scaled.update(Version=job["Version"] + 1, JobModifyIndex=tx.index)
                tx.put_job(scaled)
            reply["JobModifyIndex"] = store.index
            bucket = store.bucket_for(job["Namespace"], job["ID"])
            snapshot = copy.deepcopy(scaled)
            with store.txn("PlanResult") as tx:
                for alloc in bucket.allocs.values():
                    if alloc["Job"]["JobModifyIndex"] == job["JobModifyIndex"] and not structs.alloc_terminal(alloc):
                        alloc["Job"] = snapshot
                        tx.put_alloc(alloc)
            self._stop_excess(scaled)
            if not structs.launches_children(scaled):
                with store.txn("EvaluationUpdated") as tx:
                    ev = structs.evaluation(scaled, "job-scaling", "pending", tx.index)
                    tx.put_eval(ev)
                reply.update(EvalID=ev["ID"], EvalCreateIndex=store.index)
                event["EvalID"] = ev["ID"]
        with store.txn("ScalingEventRegister") as tx:
            tx.add_scaling_event(job, group_name, event)
        index = store.index
        if ev is not None:
            self._place(scaled, ev)  # the job as stored now
        return reply, index

    def collect_garbage(self) -> None:
        """nomad/core_sched.go jobGC, forced (no threshold), as `nomad system gc` runs it: a job
        that can be collected (jobIsGCable: stopped, or a dead batch job; a periodic or
        parameterized one only once stopped), whose evaluations have all ended and whose
        allocations are all terminal and not running (gcEval, allocGCEligible), goes with them;
        its allocations' directories too (runner.collect, as a purge does)."""
        for bucket in list(self.store.buckets.values()):
            job = bucket.job
            if job is None or job["VersionTag"] is not None:
                continue
            if structs.launches_children(job):
                collectable = job["Stop"]
            else:
                collectable = job["Status"] == "dead" and (job["Stop"] or job["Type"] in ("batch", "sysbatch"))
            if not collectable or any(e["Status"] not in TERMINAL_EVAL for e in bucket.evals.values()):
                continue
            if any(not structs.alloc_terminal(a) or a["ClientStatus"] == "running" for a in bucket.allocs.values()):
                continue
            with self.store.txn("JobBatchDeregistered") as tx:
                tx.delete_job(bucket)
            self.runner.collect(bucket)

    def _stop_excess(self, job: dict) -> None:
        """The allocations past each group's count, highest name index first."""
        bucket = self.store.bucket_for(job["Namespace"], job["ID"])
        victims = []
        for group in job["TaskGroups"]:
            live = [
                a
                for a in bucket.allocs.values()
                if a["TaskGroup"] == group["Name"]
                and a["Job"]["JobModifyIndex"] == job["JobModifyIndex"]
                and not structs.alloc_terminal(a)
            ]
            live.sort(key=lambda a: name_index(a["Name"]))
            victims += live[group["Count"] :]
        self._stop(victims, STOP_DESCRIPTION)

    def deregister(self, namespace: str, job_id: str, purge: bool, eval_priority: int = 0) -> tuple[dict, int]:
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
                # handleJobDeregister upserts a stopped copy: a new version of the job.
                job = {**job, "Stop": True, "Version": job["Version"] + 1, "JobModifyIndex": tx.index}
                tx.put_job(job)
            # nomad/job_endpoint.go Deregister hard-codes the type of this eval.
            ev = structs.evaluation(
                job, "job-deregister", "pending", tx.index, Type="service", Priority=eval_priority or job["Priority"]
            )
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
        bucket = self.store.bucket_for(job["Namespace"], job["ID"])
        self._stop([a for a in bucket.allocs.values() if not structs.alloc_terminal(a)], STOP_DESCRIPTION)

    def _stop(self, victims: list[dict], description: str) -> None:
        if not victims:
            return
        with self.store.txn("PlanResult") as tx:
            for alloc in victims:
                alloc["DesiredStatus"] = "stop"
                alloc["DesiredDescription"] = description
                tx.put_alloc(alloc)
        for alloc in victims:
            self.runner.kill(alloc["ID"])

    def _place(self, job: dict, ev: dict, reblock: bool = False) -> None:
        """scheduler/generic_sched.go computePlacements on the one node: every allocation the group
        still misses is placed while the node has room (the bin-packing iterator's AllocsFit); the
        first that does not fit records the group's AllocMetric and each later one is counted in
        its CoalescedFailures.  What is not placed stays queued (the eval's QueuedAllocations, the
        summary's Queued) behind a blocked evaluation (nomad/blocked_evals.go), which capacity freed
        later places; a blocked eval that still cannot place everything is reblocked.  The node's
        room bounds what one evaluation creates, and Job.Validate bounds the count (job_max_count)."""
        bucket = self.store.bucket_for(job["Namespace"], job["ID"])
        # The allocations of this version that count towards the group's count (the reconciler's
        # untainted set: what the server stopped, a migrated allocation among them, does not),
        # by group, and the migrated ones that want a replacement.
        have: dict[str, set[int]] = {}
        migrated: dict[str, list[dict]] = {}
        for alloc in bucket.allocs.values():
            if alloc["Job"]["JobModifyIndex"] != job["JobModifyIndex"]:
                continue
            if alloc["DesiredStatus"] in ("stop", "evict"):
                if alloc["DesiredTransition"]["Migrate"] and not alloc["NextAllocation"]:
                    migrated.setdefault(alloc["TaskGroup"], []).append(alloc)
                continue
            have.setdefault(alloc["TaskGroup"], set()).add(name_index(alloc["Name"]))
        used = self.fit.in_use()
        snapshot = copy.deepcopy(job)  # the job as placed, shared by every allocation of this evaluation
        placed, failed, queued = [], {}, {}
        with self.store.txn("PlanResult") as tx:
            node = self.node.as_dict(tx.index)
            for group in job["TaskGroups"]:
                taken = have.get(group["Name"], set())
                missing = 0 if job["Stop"] else group["Count"] - len(taken)
                if missing <= 0:
                    continue
                # scheduler/reconciler allocNameIndex: the lowest indexes no allocation holds.
                free = (i for i in itertools.count() if i not in taken)
                replacing = sorted(migrated.get(group["Name"], []), key=lambda a: a["CreateIndex"])
                metric, ruled_out = self.fit.feasible(job, group)
                ask, count = self.fit.ask(group), 0
                while not ruled_out and count < missing:
                    dimension = self.fit.exhausted(used, ask)
                    if dimension is not None:
                        metric.update(NodesExhausted=1, DimensionExhausted={dimension: 1})
                        break
                    alloc = structs.allocation(snapshot, group, ev["ID"], node, tx.index)
                    alloc["Name"] = f"{job['ID']}.{group['Name']}[{next(free)}]"
                    if replacing:  # state store UpsertAllocs links the two
                        previous = replacing.pop(0)
                        alloc["PreviousAllocation"] = previous["ID"]
                        previous["NextAllocation"] = alloc["ID"]
                        tx.put_alloc(previous)
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

    def _alloc_terminal(self, alloc: dict) -> None:
        self.unblock()
        for callback in self.on_alloc_terminal:
            callback(alloc)

    def migrate(self, allocs: list[dict], triggered_by: str, transition: dict) -> tuple[list[dict], int]:
        """AllocUpdateDesiredTransition: the allocations marked to migrate (with `transition`'s
        other fields), one evaluation per job, in one write; then each evaluation, as the
        reconciler runs it, stops what migrates ("alloc is being migrated") and places its
        replacement (PreviousAllocation), or blocks it while the node cannot take it."""
        evals: dict[tuple[str, str], dict] = {}
        with self.store.txn("AllocationUpdateDesiredStatus") as tx:
            for alloc in allocs:
                alloc["DesiredTransition"] = {**alloc["DesiredTransition"], "Migrate": True, **transition}
                tx.put_alloc(alloc)
                key = (alloc["Namespace"], alloc["JobID"])
                if key not in evals:
                    job = alloc["Job"]
                    evals[key] = structs.evaluation(
                        job, triggered_by, "pending", tx.index, JobModifyIndex=job["ModifyIndex"]
                    )
                    tx.put_eval(evals[key])
        index = self.store.index
        for (namespace, job_id), ev in evals.items():
            moving = [a for a in allocs if a["JobID"] == job_id and a["Namespace"] == namespace]
            # One already finished has nothing to move: it stays as it ended.
            self._stop([a for a in moving if not structs.alloc_terminal(a)], MIGRATE_DESCRIPTION)
            job = self.store.job(namespace, job_id)
            if job is not None:
                self._place(job, ev)
            else:
                with self.store.txn("EvaluationUpdated") as tx:
                    ev["Status"] = "complete"
                    tx.put_eval(ev)
        return list(evals.values()), index

    def node_evaluations(self, node_index: int) -> tuple[list[str] | None, int]:
        """nomad/node_endpoint.go createNodeEvals: one evaluation per job with an allocation the
        node still has to care about (service: not stopped and finished; batch: not finished),
        and per system job; each is then run."""
        jobs: dict[tuple[str, str], dict] = {}
        for alloc in self.store.allocs():
            kind = alloc["Job"]["Type"]
            finished = alloc["ClientStatus"] in TERMINAL_CLIENT
            if kind == "service" and structs.alloc_terminal(alloc) and finished:
                continue
            if kind == "batch" and finished or kind not in ("service", "batch"):
                continue
            jobs.setdefault((alloc["Namespace"], alloc["JobID"]), alloc["Job"])
        for job in self.store.jobs():
            if job["Type"] == "system" and not job["Stop"]:
                jobs.setdefault((job["Namespace"], job["ID"]), job)
        if not jobs:
            self.unblock()  # the node's class changed: BlockedEvals.Unblock
            return None, 0
        evals = []
        with self.store.txn("EvaluationUpdated") as tx:
            for job in jobs.values():
                ev = structs.evaluation(
                    job,
                    "node-update",
                    "pending",
                    tx.index,
                    NodeID=self.node.id,
                    NodeModifyIndex=node_index,
                    JobModifyIndex=0,
                )
                tx.put_eval(ev)
                evals.append(ev)
        index = self.store.index
        for ev in evals:
            job = self.store.job(ev["Namespace"], ev["JobID"])
            if job is not None:
                self._place(job, ev)
        self.unblock()  # the node's class changed: BlockedEvals.Unblock
        return [ev["ID"] for ev in evals], index

    def unblock(self) -> None:
        """Capacity was freed: evaluate the blocked evaluations again (BlockedEvals.Unblock), each
        placing what now fits."""
        for ev in [e for e in self.store.evals() if e["Status"] == "blocked"]:
            job = self.store.job(ev["Namespace"], ev["JobID"])
            if job is None or job["Stop"]:
                continue
            if any(self.fit.could_place_one(job, g) for g in job["TaskGroups"]):
                self._place(job, ev, reblock=True)
