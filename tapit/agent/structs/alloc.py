"""structs.Allocation as the scheduler creates it, and what is read from it: its terminal status,
its AllocMetric and structs.AllocListStub (nomad/structs/alloc.go), its AllocatedResources
(nomad/structs/structs.go).
"""

from __future__ import annotations

from .funcs import new_id, now_ns
from .task_state import task_state

TIMEOUT_REASON = "allocation exceeded max_run_duration"  # structs.AllocTimeoutReasonMaxRunDuration
TERMINAL_CLIENT = ("complete", "failed", "lost")


def alloc_terminal(alloc: dict) -> bool:
    """structs.Allocation.TerminalStatus: desired stop/evict, or a terminal client status."""
    return alloc["DesiredStatus"] in ("stop", "evict") or alloc["ClientStatus"] in TERMINAL_CLIENT


def alloc_metric(nodes_available: dict | None = None) -> dict:
    """structs.AllocMetric with nothing recorded yet."""
    return {
        "NodesEvaluated": 0,
        "NodesFiltered": 0,
        "NodesInPool": 0,
        "NodePool": "",
        "NodesAvailable": nodes_available,
        "ClassFiltered": None,
        "ConstraintFiltered": None,
        "NodesExhausted": 0,
        "ClassExhausted": None,
        "DimensionExhausted": None,
        "QuotaExhausted": None,
        "ResourcesExhausted": None,
        "Scores": None,
        "ScoreMetaData": None,
        "AllocationTime": 0,
        "CoalescedFailures": 0,
    }


def allocated_resources(group: dict) -> dict:
    """structs.AllocatedResources for a group placed on the single node."""
    tasks = {}
    for task in group["Tasks"]:
        res = task["Resources"]
        tasks[task["Name"]] = {
            "Cpu": {"CpuShares": res["CPU"], "ReservedCores": None},
            "Memory": {"MemoryMB": res["MemoryMB"], "MemoryMaxMB": res["MemoryMaxMB"]},
            "Networks": None,
            "Devices": None,
        }
    return {
        "Tasks": tasks,
        "TaskLifecycles": {t["Name"]: t["Lifecycle"] for t in group["Tasks"]},
        "Shared": {"Networks": None, "DiskMB": group["EphemeralDisk"]["SizeMB"], "Ports": None},
    }


def allocation(job: dict, group: dict, eval_id: str, node: dict, index: int) -> dict:
    """structs.Allocation as the scheduler creates it, carrying the job as it was placed (the
    caller's snapshot, shared by the allocations of one evaluation as Nomad's share one *Job)."""
    ts = now_ns()
    metric = alloc_metric({node["Datacenter"]: 1})
    metric.update(NodesEvaluated=1, NodesInPool=1, NodePool=node["NodePool"])
    return {
        "ID": new_id(),
        "Namespace": job["Namespace"],
        "EvalID": eval_id,
        "Name": f"{job['ID']}.{group['Name']}[0]",
        "NodeID": node["ID"],
        "NodeName": node["Name"],
        "JobID": job["ID"],
        "Job": job,
        "TaskGroup": group["Name"],
        "Resources": None,
        "SharedResources": None,
        "TaskResources": None,
        "AllocatedResources": allocated_resources(group),
        "Metrics": metric,
        "DesiredStatus": "run",
        "DesiredDescription": "",
        "DesiredTransition": {
            "Migrate": None,
            "Reschedule": None,
            "ForceReschedule": None,
            "NoShutdownDelay": None,
            "MigrateDisablePlacement": None,
        },
        "ClientStatus": "pending",
        "ClientDescription": "",
        "TaskStates": {t["Name"]: task_state() for t in group["Tasks"]},
        "AllocStates": None,
        "PreviousAllocation": "",
        "NextAllocation": "",
        "DeploymentID": "",
        "DeploymentStatus": None,
        "RescheduleTracker": None,
        "NetworkStatus": None,
        "FollowupEvalID": "",
        "PreemptedAllocations": None,
        "PreemptedByAllocation": "",
        "SigningKeyID": "",
        "CreateIndex": index,
        "ModifyIndex": index,
        "AllocModifyIndex": index,
        "CreateTime": ts,
        "ModifyTime": ts,
    }


ALLOC_STUB_FIELDS = (
    "ID",
    "EvalID",
    "Name",
    "Namespace",
    "NodeID",
    "NodeName",
    "JobID",
    "TaskGroup",
    "DesiredStatus",
    "DesiredDescription",
    "ClientStatus",
    "ClientDescription",
    "DesiredTransition",
    "TaskStates",
    "DeploymentStatus",
    "FollowupEvalID",
    "NextAllocation",
    "RescheduleTracker",
    "PreemptedAllocations",
    "PreemptedByAllocation",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
)


def alloc_stub(alloc: dict, with_resources: bool = False, with_task_states: bool = True) -> dict:
    """structs.AllocListStub."""
    stub = {k: alloc[k] for k in ALLOC_STUB_FIELDS}
    stub["JobType"] = alloc["Job"]["Type"]
    stub["JobVersion"] = alloc["Job"]["Version"]
    if with_resources:
        stub["AllocatedResources"] = alloc["AllocatedResources"]
    if not with_task_states:
        stub["TaskStates"] = None
    return stub
