"""Planning a job (nomad/job_endpoint.go Plan): what registering it would do on the one node,
nothing written; per group the reconciler's DesiredUpdates and the AllocMetric of what would not
fit, as the scheduler would place it (tapit/agent/placement.py)."""

from __future__ import annotations

from . import structs
from .placement import NodeFit
from .state.store import Store

# structs.DesiredUpdates
DESIRED_UPDATES = (
    "Ignore",
    "Place",
    "Migrate",
    "Stop",
    "InPlaceUpdate",
    "DestructiveUpdate",
    "Canary",
    "Preemptions",
    "Disconnect",
    "Reconnect",
    "RescheduleNow",
    "RescheduleLater",
)


def plan(store: Store, fit: NodeFit, job: dict, existing: dict | None) -> tuple[dict, dict | None, list | None]:
    """nomad/job_endpoint.go Plan: what registering the job would do, nothing written: per
    group the reconciler's DesiredUpdates (a changed job replaces every live allocation, each
    a destructive update, as Scheduler.register does; an unchanged one keeps them), the AllocMetric
    of a group that would not fit, and the blocked evaluation that would then be created."""
    changed = existing is None or structs.spec_changed(existing, job)
    # The allocations of the job's version now, which a changed job replaces.
    version = existing["JobModifyIndex"] if existing else None
    allocs = list(store.bucket_for(job["Namespace"], job["ID"]).allocs.values()) if existing else []
    # The version the job would have: Plan upserts a changed job into its snapshot, a new version.
    planned = (existing["Version"] + changed) if existing else 0
    used = fit.in_use()
    updates, failed = {}, {}
    for group in job["TaskGroups"]:
        in_group = [a for a in allocs if a["TaskGroup"] == group["Name"]]
        # filterOldTerminalAllocs (scheduler/reconciler/filters.go): a batch job's allocations that
        # ended under an older version are ignored, neither kept nor replaced.
        done_before = {
            a["ID"]
            for a in in_group
            if job["Type"] == "batch" and a["Job"]["Version"] < planned and structs.alloc_terminal(a)
        }
        current = [a for a in in_group if a["Job"]["JobModifyIndex"] == version and a["ID"] not in done_before]
        live = [a for a in current if not structs.alloc_terminal(a)]
        # What _place counts: a finished batch allocation is done with, not placed again.
        counted = [a for a in current if a["DesiredStatus"] not in ("stop", "evict")]
        update = dict.fromkeys(DESIRED_UPDATES, 0)
        kept = 0 if changed else min(len(counted), group["Count"])
        if changed:
            update["DestructiveUpdate"] = min(len(live), group["Count"])
            for alloc in live:  # stopped by the plan: their room is the new allocations'
                old = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
                used = [u - a for u, a in zip(used, fit.ask(old))]
        else:
            update["Ignore"] = kept
        update["Ignore"] += len(done_before)
        update["Stop"] = len(live) - update["DestructiveUpdate"] if changed else max(0, len(live) - kept)
        missing = 0 if job["Stop"] else group["Count"] - kept
        update["Place"] = max(0, missing - update["DestructiveUpdate"])
        metric, ruled_out = fit.feasible(job, group)
        fitted, ask = 0, fit.ask(group)
        while not ruled_out and fitted < missing:
            dimension = fit.exhausted(used, ask)
            if dimension is not None:
                metric.update(NodesExhausted=1, DimensionExhausted={dimension: 1})
                break
            used = [u + a for u, a in zip(used, ask)]
            fitted += 1
        if fitted < missing:
            metric["CoalescedFailures"] = missing - fitted - 1
            failed[group["Name"]] = metric
        updates[group["Name"]] = update
    created = None
    if failed:
        blocked = structs.evaluation(
            job, "queued-allocs", "blocked", 0, StatusDescription="created to place remaining allocations"
        )
        created = [structs.omit_empty(blocked)]
    return updates, failed or None, created
