"""What Nomad says about a task's job, read as tapit's status, record and results (pure).

Status values, event types and descriptions are Nomad's (nomad/structs/alloc.go
AllocClientStatus*, AllocTimeoutReasonMaxRunDuration; nomad/structs/structs.go TaskEvent
types, JobStatus*); the exit code comes from the task's `Terminated` event, never from its
output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from tapit.model import Placement, TaskEvent, TaskRecord, Usage
from tapit.translate import jobspec
from tapit.translate.jobspec import TASK_NAME

MAX_RUN_DURATION_EXCEEDED = "allocation exceeded max_run_duration"  # nomad/structs/alloc.go
# A task Nomad could not place yet and keeps a blocked evaluation for: its reason starts so.
QUEUED_PREFIX = "queued: "
# The embedded agent's Task Setup message naming what enforces the disk (tapit/agent/disk.py
# DESCRIPTION_PREFIX; Nomad's own clients only reserve the disk at placement, and say nothing).
DISK_LIMIT_PREFIX = "ephemeral disk enforced by "


@dataclass(frozen=True)
class Observation:
    status: str
    exit_code: int | None = None
    signal: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    alloc_id: str | None = None
    node_name: str | None = None
    reason: str | None = None
    disk_limit: str | None = None


def latest_allocation(allocs: list[dict]) -> dict | None:
    return max(allocs, key=lambda a: a.get("CreateIndex", 0), default=None)


def observe(allocs: list[dict], evals: list[dict], memory_limit_mb: int | None = None) -> Observation:
    """The task's status from its job's allocations (and evaluations, for placement failures).

    `memory_limit_mb` names the limit in an OOM kill's reason: allocation list
    stubs do not carry the allocated resources.
    """
    alloc = latest_allocation(allocs)
    if alloc is None:
        reason = placement_failure(evals)
        if reason and any(e.get("Status") == "blocked" for e in evals):
            reason = QUEUED_PREFIX + reason
        return Observation("pending", reason=reason)
    state = (alloc.get("TaskStates") or {}).get(TASK_NAME) or {}
    events = state.get("Events") or []
    terminated = _last(events, "Terminated")
    exit_code = signal = None
    if terminated is not None:
        exit_code = _int(terminated, "ExitCode", "exit_code")
        signal = _int(terminated, "Signal", "signal") or None
    # What every outcome carries; each branch below names the status and, where it has one, why.
    seen = Observation(
        "pending",
        exit_code=exit_code,
        signal=signal,
        started_at=_time(state.get("StartedAt")),
        finished_at=_time(state.get("FinishedAt")),
        alloc_id=alloc.get("ID"),
        node_name=alloc.get("NodeName"),
        disk_limit=next(
            (
                e["Message"].removeprefix(DISK_LIMIT_PREFIX)
                for e in events
                if e.get("Type") == "Task Setup" and (e.get("Message") or "").startswith(DISK_LIMIT_PREFIX)
            ),
            None,
        ),
    )
    client_status = alloc.get("ClientStatus")
    if client_status == "pending":
        return seen
    if client_status == "running":
        return replace(seen, status="running")
    if client_status == "lost" or client_status == "unknown":
        return replace(seen, status="lost", reason=alloc.get("ClientDescription") or "the node lost the task")
    if client_status == "complete":
        if alloc.get("ClientDescription") == MAX_RUN_DURATION_EXCEEDED:
            return replace(seen, status="timed_out", reason="killed: exceeded max_hours")
        if _last(events, "Killing") is not None:
            return replace(seen, status="stopped", reason="stopped on request")
        return replace(seen, status="complete")
    if client_status == "failed":
        return replace(seen, status="failed", reason=failure_reason(events, memory_limit_mb))
    return seen


def failure_reason(events: list[dict], memory_limit_mb: int | None) -> str | None:
    terminated = _last(events, "Terminated")
    if terminated is not None and (terminated.get("Details") or {}).get("oom_killed") == "true":
        return f"killed: out of memory (limit {memory_limit_mb} MB)" if memory_limit_mb else "killed: out of memory"
    for kind in ("Disk Resources Exceeded", "Driver Failure", "Setup Failure", "Failed Validation"):
        event = _last(events, kind)
        if event is not None:
            return event.get("DisplayMessage") or kind
    killing = _last(events, "Killing")
    if killing is not None and killing.get("KillReason"):
        return f"killed: {killing['KillReason']}"
    if terminated is not None:
        return terminated.get("DisplayMessage") or None
    return None


def placement_failure(evals: list[dict]) -> str | None:
    """Why Nomad could not place the task, in one line, from the evaluation's FailedTGAllocs
    (nomad/structs/structs.go AllocMetric)."""
    for evaluation in sorted(evals, key=lambda e: e.get("CreateIndex", 0), reverse=True):
        for metric in (evaluation.get("FailedTGAllocs") or {}).values():
            return describe_metric(metric)
    return None


def fits_empty_node(job: dict, node: dict) -> bool:
    """Whether each of the job's groups would fit the node with nothing else on it: its
    resources less those reserved (nomad/structs/funcs.go AllocsFit, NodeResources.Comparable)."""
    have = node.get("NodeResources") or {}
    reserved = node.get("ReservedResources") or {}

    def available(kind: str, field: str) -> int:
        return ((have.get(kind) or {}).get(field) or 0) - ((reserved.get(kind) or {}).get(field) or 0)

    for group in job.get("TaskGroups") or ():
        tasks = [task.get("Resources") or {} for task in group.get("Tasks") or ()]
        if sum(r.get("CPU") or 0 for r in tasks) > available("Cpu", "CpuShares"):
            return False
        if sum(r.get("MemoryMB") or 0 for r in tasks) > available("Memory", "MemoryMB"):
            return False
        if ((group.get("EphemeralDisk") or {}).get("SizeMB") or 0) > available("Disk", "DiskMB"):
            return False
    return True


def never_placed(evals: list[dict]) -> str | None:
    """Why no node there is can run the task, when that is so: the newest placement failure
    filtered out every node it evaluated (a driver none offers, a constraint none meets) and
    found none merely full (nomad/structs/structs.go AllocMetric NodesFiltered, NodesExhausted).
    A full node frees room; a filtered one does not change by waiting."""
    for evaluation in sorted(evals, key=lambda e: e.get("CreateIndex", 0), reverse=True):
        for metric in (evaluation.get("FailedTGAllocs") or {}).values():
            if metric.get("NodesFiltered") and not metric.get("NodesExhausted"):
                return describe_metric(metric)
            return None
    return None


def describe_metric(metric: dict) -> str:
    constraints = metric.get("ConstraintFiltered") or {}
    if "missing drivers" in constraints:
        return "no node offers the task's driver (missing drivers)"
    if constraints:
        return "no node satisfies: " + ", ".join(sorted(constraints))
    exhausted = metric.get("DimensionExhausted") or {}
    if exhausted:
        return "not enough " + ", ".join(sorted(exhausted)) + " on any node"
    if not metric.get("NodesEvaluated") and not metric.get("NodesInPool"):
        return "no node is available in the job's datacenters and node pool"
    return "no node could place the task"


def _last(events: list[dict], kind: str) -> dict | None:
    for event in reversed(events):
        if event.get("Type") == kind:
            return event
    return None


def _int(event: dict, field: str, detail: str) -> int:
    details = event.get("Details") or {}
    if detail in details:
        try:
            return int(details[detail])
        except ValueError:
            pass
    return int(event.get(field) or 0)


def _time(value: str | None) -> str | None:
    """Nomad's RFC3339Nano with zero meaning unset, as a millisecond ISO string or None."""
    if not value or value.startswith("0001-01-01"):
        return None
    head, _, rest = value.partition(".")
    if rest:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_from_stub(stub: dict) -> TaskRecord | None:
    """A task record from a tapit job's list stub (nomad/structs/structs.go JobListStub) and
    Meta, for tasks started elsewhere; None for a job that is not a tapit task."""
    meta = stub.get("Meta") or {}
    task_id = meta.get(jobspec.META_TASK_ID)
    if not task_id:
        return None
    counts = ((stub.get("JobSummary") or {}).get("Summary") or {}).get(jobspec.GROUP_NAME) or {}
    if stub.get("Status") != "dead":
        status = "running" if counts.get("Running") else "pending"
    elif counts.get("Failed"):
        status = "failed"
    elif counts.get("Lost"):
        status = "lost"
    else:
        status = "complete"
    return TaskRecord(
        id=task_id,
        command=meta.get(jobspec.META_COMMAND, ""),
        status=status,
        image=None,
        docker_tag=None,
        memory_gb=0.0,
        cpu=0.0,
        max_hours=None,
        ephemeral_storage_gb=0.0,
        initiated_by=meta.get(jobspec.META_INITIATED_BY, ""),
        created_at=meta.get(jobspec.META_CREATED_AT, ""),
        nomad_job_id=stub["ID"],
        nomad_namespace=stub.get("Namespace", "default"),
        kind=meta.get(jobspec.META_KIND, "task"),
    )


def placement(alloc: dict) -> Placement:
    """Where the task runs and what it was given, with the task events Nomad kept (the last 10)."""
    state = (alloc.get("TaskStates") or {}).get(TASK_NAME) or {}
    events = []
    for event in state.get("Events") or ():
        message = event.get("DisplayMessage") or event.get("Message") or ""
        if (event.get("Details") or {}).get("oom_killed") == "true":
            message += " (out of memory)"
        at = datetime.fromtimestamp(event.get("Time", 0) / 1e9, timezone.utc)  # Unix nanoseconds
        events.append(TaskEvent(at, event.get("Type", "?"), message))
    tasks = (alloc.get("AllocatedResources") or {}).get("Tasks") or {}
    return Placement(
        node_name=alloc.get("NodeName"),
        # The CPU the task was placed with, which is what its usage is drawn against: tapit's
        # vCPUs become MHz per the task's nodes (tapit/service/vcpu.py), not a fixed figure.
        cpu_mhz=((tasks.get(TASK_NAME) or {}).get("Cpu") or {}).get("CpuShares"),
        events=tuple(events),
    )


def usage(stats: dict) -> Usage:
    """What the task uses now, from an AllocResourceUsage (api/tasks.go)."""
    resources = stats.get("ResourceUsage") or {}
    memory = resources.get("MemoryStats") or {}
    cpu = resources.get("CpuStats") or {}
    return Usage(
        memory_bytes=memory.get("RSS") or memory.get("Usage") or 0,
        cpu_percent=float(cpu.get("Percent") or 0.0),
        cpu_mhz=float(cpu.get("TotalTicks") or 0.0),
    )


def event_job_id(event: dict) -> str:
    """The job an event stream event concerns (nomad/state/events.go: an Allocation event's
    Payload holds the allocation, a Job event's Key is the job ID)."""
    payload = event.get("Payload") or {}
    if "Allocation" in payload:
        return (payload["Allocation"] or {}).get("JobID") or ""
    return event.get("Key") or ""


def event_modified_at(event: dict) -> datetime | None:
    """When the event's allocation or evaluation was updated to what it carries: their ModifyTime,
    UnixNano (nomad/structs/alloc.go, eval.go). A job has none (SubmitTime is its version's)."""
    topic = event.get("Topic") or ""
    nanos = ((event.get("Payload") or {}).get(topic) or {}).get("ModifyTime") if topic != "Job" else None
    return datetime.fromtimestamp(nanos / 1e9, timezone.utc) if isinstance(nanos, int) and nanos > 0 else None


def event_summary(event: dict) -> tuple[str, str, str]:
    """(job id, namespace, one line) for an event stream event. nomad/state/events.go: the Payload
    holds the object under its topic's name (Job, Allocation, Evaluation, Deployment)."""
    topic = event.get("Topic") or ""
    item = (event.get("Payload") or {}).get(topic) or {}
    job_id = item.get("JobID") or (event.get("Key") if topic == "Job" else "") or ""
    namespace = item.get("Namespace") or event.get("Namespace") or ""
    if topic == "Allocation":
        states = item.get("TaskStates") or {}
        latest = max(
            (e for state in states.values() for e in (state or {}).get("Events") or ()),
            key=lambda e: e.get("Time") or 0,
            default=None,
        )
        said = f": {latest.get('Type')} {latest.get('DisplayMessage') or ''}".rstrip() if latest else ""
        summary = f"{item.get('ClientStatus') or '?'}{said}"
    elif topic == "Evaluation":
        summary = f"{item.get('Status') or '?'} (triggered by {item.get('TriggeredBy') or '?'})"
    else:
        summary = item.get("Status") or ""
    return job_id, namespace, summary
