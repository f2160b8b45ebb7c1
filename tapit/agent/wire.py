"""Nomad wire shapes: job canonicalization and validation, struct builders, Go encodings.

Everything here mirrors Nomad's own structs (nomad/structs/structs.go, alloc.go, eval.go) so
that a Nomad client cannot tell the embedded agent from a real one.  Field names are Go's
PascalCase field names; durations are integer nanoseconds; TaskState times are RFC3339Nano.
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"
SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DEFAULT_MAX_KILL_TIMEOUT = 30 * SECOND  # client max_kill_timeout default
TIMEOUT_REASON = "allocation exceeded max_run_duration"  # structs.AllocTimeoutReasonMaxRunDuration


class ValidationError(Exception):
    """A job rejected by validation; str() is Nomad's multierror text."""


class BadRequest(Exception):
    """A request rejected before it reaches the state store (HTTP 400)."""


def now_ns() -> int:
    return time.time_ns()


def new_id() -> str:
    return str(uuid.uuid4())


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano: trailing zeros of the fraction trimmed; 0 is Go's zero time."""
    if not ns:
        return ZERO_TIME
    secs, frac = divmod(ns, SECOND)
    stamp = datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(), used in Nomad's human messages ("5s", "1m30s", "500ms")."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, HOUR)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = _trim(rest / SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def multierror(errors: list[str]) -> str:
    """hashicorp/go-multierror's ListFormatFunc."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


# --- Case-insensitive decoding (Go encoding/json) ---------------------------------------
# A schema maps canonical field names to None (kept as sent), a nested schema dict, or a
# one-element list holding the schema of list items.

_RESOURCES = dict.fromkeys(
    ["CPU", "Cores", "MemoryMB", "MemoryMaxMB", "DiskMB", "IOPS", "Networks", "Devices", "NUMA", "SecretsMB"]
)
_RESTART = dict.fromkeys(["Attempts", "Interval", "Delay", "Mode", "RenderTemplates"])
_RESCHEDULE = dict.fromkeys(["Attempts", "Interval", "Delay", "DelayFunction", "MaxDelay", "Unlimited"])
_UPDATE = dict.fromkeys(
    [
        "Stagger",
        "MaxParallel",
        "HealthCheck",
        "MinHealthyTime",
        "HealthyDeadline",
        "ProgressDeadline",
        "AutoRevert",
        "AutoPromote",
        "Canary",
    ]
)
_TASK = {
    **dict.fromkeys(
        [
            "Name",
            "Driver",
            "User",
            "Config",
            "Env",
            "Services",
            "Vault",
            "Secrets",
            "Consul",
            "Templates",
            "Constraints",
            "Affinities",
            "DispatchPayload",
            "Lifecycle",
            "Meta",
            "KillTimeout",
            "Artifacts",
            "Leader",
            "ShutdownDelay",
            "VolumeMounts",
            "ScalingPolicies",
            "KillSignal",
            "Kind",
            "CSIPluginConfig",
            "Identity",
            "Identities",
            "Actions",
            "Schedule",
        ]
    ),
    "Resources": _RESOURCES,
    "RestartPolicy": _RESTART,
    "LogConfig": dict.fromkeys(["MaxFiles", "MaxFileSizeMB", "Disabled"]),
}
_GROUP = {
    **dict.fromkeys(
        [
            "Name",
            "Count",
            "Migrate",
            "Constraints",
            "Scaling",
            "Disconnect",
            "Meta",
            "Affinities",
            "Spreads",
            "Networks",
            "Consul",
            "Services",
            "Volumes",
            "ShutdownDelay",
            "MaxRunDuration",
            "StopAfterClientDisconnect",
            "MaxClientDisconnect",
            "PreventRescheduleOnLost",
        ]
    ),
    "Update": _UPDATE,
    "RestartPolicy": _RESTART,
    "ReschedulePolicy": _RESCHEDULE,
    "EphemeralDisk": dict.fromkeys(["Sticky", "SizeMB", "Migrate"]),
    "Tasks": [_TASK],
}
_JOB = {
    **dict.fromkeys(
        [
            "Stop",
            "Region",
            "Namespace",
            "ID",
            "ParentID",
            "Name",
            "Type",
            "Priority",
            "AllAtOnce",
            "Datacenters",
            "NodePool",
            "Constraints",
            "Affinities",
            "Spreads",
            "Multiregion",
            "Periodic",
            "ParameterizedJob",
            "Dispatched",
            "DispatchIdempotencyToken",
            "Payload",
            "Meta",
            "ConsulNamespace",
            "VaultNamespace",
            "NomadTokenID",
            "Status",
            "StatusDescription",
            "Stable",
            "Version",
            "SubmitTime",
            "CreateIndex",
            "ModifyIndex",
            "JobModifyIndex",
            "UI",
            "VersionTag",
        ]
    ),
    "Update": _UPDATE,
    "Reschedule": _RESCHEDULE,
    "TaskGroups": [_GROUP],
}
REGISTER_REQUEST = {
    **dict.fromkeys(
        [
            "Submission",
            "EnforceIndex",
            "JobModifyIndex",
            "PolicyOverride",
            "PreserveCounts",
            "PreserveResources",
            "EvalPriority",
            "Region",
            "Namespace",
            "SecretID",
        ]
    ),
    "Job": _JOB,
}


def decode(value, schema):
    """Map keys case-insensitively onto canonical names, dropping unknown keys like Go does."""
    if isinstance(schema, list):
        return [decode(item, schema[0]) for item in value] if isinstance(value, list) else value
    if schema is None or not isinstance(value, dict):
        return value
    lower = {name.lower(): name for name in schema}
    out = {}
    for key, item in value.items():
        name = lower.get(key.lower())
        if name is not None:
            out[name] = decode(item, schema[name])
    return out


# --- Canonicalize (api.Job.Canonicalize + server mutating hooks) ---------------------------


def _merge(defaults: dict, given: dict | None) -> dict:
    """Field-by-field merge over defaults, as Canonicalize does for pointer fields."""
    out = dict(defaults)
    for key, value in (given or {}).items():
        if value is not None:
            out[key] = value
    return out


def _restart_default(job_type: str) -> dict:
    if job_type == "batch":
        return {"Attempts": 3, "Interval": 24 * HOUR, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False}
    return {"Attempts": 2, "Interval": 30 * 60 * SECOND, "Delay": 15 * SECOND, "Mode": "fail", "RenderTemplates": False}


def _reschedule_default(job_type: str) -> dict | None:
    if job_type == "batch":
        return {
            "Attempts": 1,
            "Interval": 24 * HOUR,
            "Delay": 5 * SECOND,
            "DelayFunction": "constant",
            "MaxDelay": 0,
            "Unlimited": False,
        }
    if job_type == "service":
        return {
            "Attempts": 0,
            "Interval": 0,
            "Delay": 30 * SECOND,
            "DelayFunction": "exponential",
            "MaxDelay": HOUR,
            "Unlimited": True,
        }
    return None


def canonicalize_job(job: dict) -> dict:
    """Fill the defaults a job gets on its way into Nomad's state store."""
    job = copy.deepcopy(job)
    job_type = job.get("Type") or "service"
    out = {
        "Stop": False,
        "Region": "global",
        "Namespace": "default",
        "ID": "",
        "ParentID": "",
        "Name": "",
        "Type": job_type,
        "Priority": 50,
        "AllAtOnce": False,
        "Datacenters": ["*"],
        "NodePool": "default",
        "Constraints": None,
        "Affinities": None,
        "Spreads": None,
        "TaskGroups": [],
        "Update": dict.fromkeys(_UPDATE, 0) | {"HealthCheck": "", "AutoRevert": False, "AutoPromote": False},
        "Multiregion": None,
        "Periodic": None,
        "ParameterizedJob": None,
        "Dispatched": False,
        "DispatchIdempotencyToken": "",
        "Payload": None,
        "Meta": None,
        "ConsulNamespace": "",
        "VaultNamespace": "",
        "NomadTokenID": "",
        "Status": "",
        "StatusDescription": "",
        "Stable": False,
        "Version": 0,
        "SubmitTime": 0,
        "CreateIndex": 0,
        "ModifyIndex": 0,
        "JobModifyIndex": 0,
        "UI": None,
        "VersionTag": None,
    }
    for key, value in job.items():
        if value is not None and key not in ("TaskGroups", "Update", "Reschedule"):
            out[key] = value
    out["Name"] = out["Name"] or out["ID"]
    out["Priority"] = out["Priority"] or 50
    out["Datacenters"] = out["Datacenters"] or ["*"]
    out["NodePool"] = out["NodePool"] or "default"
    job_reschedule = job.get("Reschedule")
    out["TaskGroups"] = [_canonical_group(g, job_type, job_reschedule) for g in job.get("TaskGroups") or []]
    return out


def _canonical_group(group: dict, job_type: str, job_reschedule: dict | None) -> dict:
    reschedule_default = _reschedule_default(job_type)
    reschedule = None
    if reschedule_default is not None:
        reschedule = _merge(_merge(reschedule_default, job_reschedule), group.get("ReschedulePolicy"))
    out = {
        "Name": group.get("Name") or "",
        "Count": 1,
        "Update": None,
        "Migrate": None,
        "Constraints": None,
        "Scaling": None,
        "RestartPolicy": _merge(_restart_default(job_type), group.get("RestartPolicy")),
        "Disconnect": None,
        "Tasks": [],
        "EphemeralDisk": _merge({"Sticky": False, "SizeMB": 300, "Migrate": False}, group.get("EphemeralDisk")),
        "Meta": None,
        "ReschedulePolicy": reschedule,
        "Affinities": None,
        "Spreads": None,
        "Networks": None,
        "Consul": None,
        "Services": None,
        "Volumes": None,
        "ShutdownDelay": None,
        "MaxRunDuration": None,
        "StopAfterClientDisconnect": None,
        "MaxClientDisconnect": None,
        "PreventRescheduleOnLost": False,
    }
    for key, value in group.items():
        if value is not None and key not in ("RestartPolicy", "ReschedulePolicy", "EphemeralDisk", "Tasks"):
            out[key] = value
    out["Tasks"] = [_canonical_task(t, out["RestartPolicy"]) for t in group.get("Tasks") or []]
    return out


def _canonical_task(task: dict, group_restart: dict) -> dict:
    resources = _merge(
        {
            "CPU": None,
            "Cores": 0,
            "MemoryMB": 300,
            "MemoryMaxMB": 0,
            "DiskMB": 0,
            "IOPS": 0,
            "Networks": None,
            "Devices": None,
            "NUMA": None,
            "SecretsMB": 0,
        },
        task.get("Resources"),
    )
    # api.Resources.Canonicalize: CPU defaults to 100 unless Cores is requested.
    if resources["CPU"] is None:
        resources["CPU"] = 0 if resources["Cores"] else 100
    out = {
        "Name": task.get("Name") or "",
        "Driver": "",
        "User": "",
        "Config": None,
        "Env": None,
        "Services": None,
        "Vault": None,
        "Secrets": None,
        "Consul": None,
        "Templates": None,
        "Constraints": None,
        "Affinities": None,
        "Resources": resources,
        "RestartPolicy": _merge(group_restart, task.get("RestartPolicy")),
        "DispatchPayload": None,
        "Lifecycle": None,
        "Meta": None,
        "KillTimeout": 5 * SECOND,
        "LogConfig": _merge({"MaxFiles": 10, "MaxFileSizeMB": 10, "Disabled": False}, task.get("LogConfig")),
        "Artifacts": None,
        "Leader": False,
        "ShutdownDelay": 0,
        "VolumeMounts": None,
        "ScalingPolicies": None,
        "KillSignal": "",
        "Kind": "",
        "CSIPluginConfig": None,
        "Identity": None,
        "Identities": None,
        "Actions": None,
        "Schedule": None,
    }
    for key, value in task.items():
        if value is not None and key not in ("Resources", "RestartPolicy", "LogConfig"):
            out[key] = value
    return out


def validate_job(job: dict) -> None:
    """The subset of structs.Job.Validate that a one-off batch job can trip over."""
    errors = []
    if not job["ID"]:
        errors.append("Missing job ID")
    elif " " in job["ID"]:
        errors.append("Job ID contains a space")
    elif "\0" in job["ID"]:
        errors.append("Job ID contains a null character")
    if job["Type"] not in ("service", "batch", "system", "sysbatch"):
        errors.append(f'Invalid job type: "{job["Type"]}"')
    if not 1 <= job["Priority"] <= 100:
        errors.append("Job priority must be between [1, 100]")
    if not job["TaskGroups"]:
        errors.append("Missing job task groups")
    seen: dict[str, int] = {}
    for idx, group in enumerate(job["TaskGroups"], 1):
        if not group["Name"]:
            errors.append(f"Job task group {idx} missing name")
        elif group["Name"] in seen:
            errors.append(f"Job task group {idx} redefines '{group['Name']}' from group {seen[group['Name']]}")
        else:
            seen[group["Name"]] = idx
        group_errors = _validate_group(job, group)
        if group_errors:
            errors.append(f"Task group {group['Name']} validation failed: {multierror(group_errors)}")
    if errors:
        raise ValidationError(multierror(errors))


def _validate_group(job: dict, group: dict) -> list[str]:
    errors = []
    if group["Count"] < 0:
        errors.append("Task group count can't be negative")
    if not group["Tasks"]:
        errors.append("Missing tasks for task group")
    if group["MaxRunDuration"] is not None:
        if group["MaxRunDuration"] <= 0:
            errors.append("MaxRunDuration must be greater than zero")
        if job["Type"] not in ("batch", "sysbatch"):
            errors.append(f'Job type "{job["Type"]}" does not allow max_run_duration')
    restart_errors = _validate_restart(group["RestartPolicy"])
    if restart_errors:
        errors.append(multierror(restart_errors).strip())
    for task in group["Tasks"]:
        task_errors = _validate_task(task)
        if task_errors:
            errors.append(f"Task {task['Name']} validation failed: {multierror(task_errors)}")
    return errors


def _validate_restart(policy: dict) -> list[str]:
    errors = []
    if policy["Mode"] not in ("delay", "fail"):
        errors.append(f'Unsupported restart mode: "{policy["Mode"]}"')
    if policy["Attempts"] == 0 and policy["Mode"] != "fail":
        errors.append(f'Restart policy "{policy["Mode"]}" with {policy["Attempts"]} attempts is ambiguous')
    if policy["Interval"] < 5 * SECOND:
        errors.append(f"Interval can not be less than 5s (got {go_duration(policy['Interval'])})")
    if policy["Attempts"] * policy["Delay"] > policy["Interval"]:
        errors.append(
            f"Nomad can't restart the TaskGroup {policy['Attempts']} times in an interval of "
            f"{go_duration(policy['Interval'])} with a delay of {go_duration(policy['Delay'])}"
        )
    return errors


def _validate_task(task: dict) -> list[str]:
    errors = []
    if not task["Name"]:
        errors.append("Missing task name")
    if not task["Driver"]:
        errors.append("Missing task driver")
    if task["KillTimeout"] < 0:
        errors.append("KillTimeout must be a positive value")
    resources = task["Resources"]
    if resources["Cores"] and resources["CPU"]:
        errors.append("Task can only ask for 'cpu' or 'cores' resource, not both.")
    if resources["MemoryMB"] < 10:
        errors.append(f"Minimum MemoryMB value is 10; got {resources['MemoryMB']}")
    if resources["MemoryMaxMB"] and resources["MemoryMaxMB"] < resources["MemoryMB"]:
        errors.append(
            f"MemoryMaxMB value ({resources['MemoryMaxMB']}) should be larger than MemoryMB value "
            f"({resources['MemoryMB']})"
        )
    return errors


# --- Struct builders ---------------------------------------------------------------------


def job_stub(job: dict, summary: dict, with_meta: bool) -> dict:
    """structs.JobListStub."""
    stub = {
        "ID": job["ID"],
        "ParentID": job["ParentID"],
        "Name": job["Name"],
        "Namespace": job["Namespace"],
        "Datacenters": job["Datacenters"],
        "NodePool": job["NodePool"],
        "Multiregion": job["Multiregion"],
        "Type": job["Type"],
        "Priority": job["Priority"],
        "Periodic": job["Periodic"] is not None,
        "ParameterizedJob": job["ParameterizedJob"] is not None,
        "Stop": job["Stop"],
        "Status": job["Status"],
        "StatusDescription": job["StatusDescription"],
        "JobSummary": summary,
        "CreateIndex": job["CreateIndex"],
        "ModifyIndex": job["ModifyIndex"],
        "JobModifyIndex": job["JobModifyIndex"],
        "SubmitTime": job["SubmitTime"],
    }
    if with_meta and job["Meta"]:
        stub["Meta"] = job["Meta"]
    return stub


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


def evaluation(job: dict, triggered_by: str, status: str, index: int, **fields) -> dict:
    """structs.Evaluation (LeaderACL is never exposed)."""
    ts = now_ns()
    ev = {
        "ID": new_id(),
        "Namespace": job["Namespace"],
        "Priority": job["Priority"],
        "Type": job["Type"],
        "TriggeredBy": triggered_by,
        "JobID": job["ID"],
        "JobModifyIndex": job["JobModifyIndex"],
        "NodeID": "",
        "NodeModifyIndex": 0,
        "DeploymentID": "",
        "Status": status,
        "StatusDescription": "",
        "Wait": 0,
        "WaitUntil": ZERO_TIME,
        "NextEval": "",
        "PreviousEval": "",
        "BlockedEval": "",
        "RelatedEvals": None,
        "FailedTGAllocs": None,
        "PlanAnnotations": None,
        "ClassEligibility": None,
        "QuotaLimitReached": "",
        "MissingNonNodeResources": None,
        "EscapedComputedClass": False,
        "AnnotatePlan": False,
        "QueuedAllocations": None,
        "SnapshotIndex": index,
        "CreateIndex": index,
        "ModifyIndex": index,
        "CreateTime": ts,
        "ModifyTime": ts,
    }
    ev.update(fields)
    return ev


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
    """structs.Allocation as the scheduler creates it, carrying its copy of the job."""
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
        "Job": copy.deepcopy(job),
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


def omit_empty(obj: dict) -> dict:
    """What go-msgpack writes for a struct whose `_struct bool` field is tagged `codec:",omitempty"`
    (Allocation, Evaluation): every top-level field whose value is empty is left out.

    codec/helper.go isEmptyValue (Nomad's JsonHandle does not set RecursiveEmptyCheck): "", 0, false,
    nil, and any string, slice or map of length 0 are empty; a struct is empty when it is a zero
    time.Time or, if comparable, equal to its zero value (DesiredTransition with only nil pointers);
    a pointer is empty only when nil, whatever it points to.  Nested structs keep all their fields.
    """
    return {key: value for key, value in obj.items() if not _empty_field(key, value)}


# Top-level fields of Allocation/Evaluation that are comparable structs rather than pointers.
_ZERO_STRUCTS = {
    "WaitUntil": ZERO_TIME,
    "DesiredTransition": dict.fromkeys(
        ("Migrate", "Reschedule", "ForceReschedule", "NoShutdownDelay", "MigrateDisablePlacement")
    ),
}


def _empty_field(key: str, value) -> bool:
    if key in _ZERO_STRUCTS:
        return value == _ZERO_STRUCTS[key]
    if value is None or value is False:
        return True
    if isinstance(value, (str, list, dict)):
        return not value
    return isinstance(value, (int, float)) and value == 0


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


def task_state() -> dict:
    return {
        "State": "pending",
        "Failed": False,
        "Restarts": 0,
        "LastRestart": ZERO_TIME,
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "Events": [],
        "Paused": "",
    }


_EVENT_FIELDS = {
    "Message": "",
    "DisplayMessage": "",
    "FailsTask": False,
    "RestartReason": "",
    "SetupError": "",
    "DriverError": "",
    "ExitCode": 0,
    "Signal": 0,
    "KillTimeout": 0,
    "KillError": "",
    "KillReason": "",
    "StartDelay": 0,
    "DownloadError": "",
    "ValidationError": "",
    "DiskLimit": 0,
    "FailedSibling": "",
    "VaultError": "",
    "TaskSignalReason": "",
    "TaskSignal": "",
    "DriverMessage": "",
    "GenericSource": "",
}

# structs.TaskEvent setters store each deprecated top-level field under a Details key too.
_DETAIL_KEYS = {
    "Message": "message",
    "SetupError": "setup_error",
    "DriverError": "driver_error",
    "ExitCode": "exit_code",
    "Signal": "signal",
    "KillError": "kill_error",
    "KillReason": "kill_reason",
    "RestartReason": "restart_reason",
    "DiskLimit": "disk_limit",
    "StartDelay": "start_delay",
    "DriverMessage": "driver_message",
    "ValidationError": "validation_error",
}


def task_event(kind: str, when: int | None = None, display: str | None = None, **fields) -> dict:
    """structs.NewTaskEvent + setters + PopulateEventDisplayMessage."""
    event = {"Type": kind, "Time": when or now_ns(), **_EVENT_FIELDS, "Details": {}}
    details = event["Details"]
    for key, value in fields.items():
        if key == "OOMKilled":
            details["oom_killed"] = "true" if value else "false"
        elif key == "FailsTask":
            event["FailsTask"] = value
            details["fails_task"] = "true"
        elif key == "KillTimeout":
            event["KillTimeout"] = value
            details["kill_timeout"] = go_duration(value)
        elif key == "ExitMessage":
            event["Message"] = value
            details["exit_message"] = value
        else:
            event[key] = value
            details[_DETAIL_KEYS[key]] = str(value)
    event["DisplayMessage"] = display if display is not None else _display_message(event)
    return event


def driver_event(message: str, annotations: dict[str, str]) -> dict:
    """A driver's own event as the alloc runner records it (GetTaskEventHandler): its message as
    DriverMessage, its annotations as the Details, no setter involved."""
    event = task_event("Driver", DriverMessage=message)
    event["Details"] = dict(annotations)
    return event


def _display_message(e: dict) -> str:
    kind = e["Type"]
    if kind == "Task Setup":
        return e["Message"]
    if kind == "Started":
        return "Task started by client"
    if kind == "Received":
        return "Task received by client"
    if kind == "Setup Failure":
        return e["SetupError"] or "Task setup failed"
    if kind == "Failed Validation":
        return e["ValidationError"] or "Validation of task failed"
    if kind == "Driver Failure":
        return e["DriverError"] or "Failed to start task"
    if kind == "Killing":
        if e["KillReason"]:
            return e["KillReason"]
        if e["KillTimeout"]:
            return f"Sent interrupt. Waiting {go_duration(e['KillTimeout'])} before force killing"
        return "Sent interrupt"
    if kind == "Killed":
        return e["KillError"] or "Task successfully killed"
    if kind == "Terminated":
        parts = [f"Exit Code: {e['ExitCode']}"]
        if e["Signal"]:
            parts.append(f"Signal: {e['Signal']}")
        if e["Message"]:
            parts.append(f'Exit Message: "{e["Message"]}"')
        return ", ".join(parts)
    if kind == "Not Restarting":
        return e["RestartReason"] or "Task exceeded restart policy"
    if kind == "Driver":
        return e["DriverMessage"]
    return e["Message"]


def job_summary(job_id: str, namespace: str, groups: dict, index: int) -> dict:
    return {
        "JobID": job_id,
        "Namespace": namespace,
        "Summary": groups,
        "Children": {"Pending": 0, "Running": 0, "Dead": 0},
        "CreateIndex": index,
        "ModifyIndex": index,
    }


def group_summary() -> dict:
    return {"Queued": 0, "Complete": 0, "Failed": 0, "Running": 0, "Starting": 0, "Lost": 0, "Unknown": 0}
