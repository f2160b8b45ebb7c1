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

from . import gojson
from .gojson import BOOL, DURATION, INT, INT8, INT64, STRING, STRING_MAP, STRINGS, UINT8, UINT64

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


# --- The api structs a register request decodes into (api/jobs.go, tasks.go, resources.go) ----
# Field types as Nomad declares them, so that a value of the wrong type is refused with Go's
# words (gojson). Structs tapit never sends are checked to be objects and kept as sent.


def _opaque(name: str) -> gojson.Struct:
    return gojson.Struct(f"api.{name}", None)


def _list(name: str, elem: gojson.GoType) -> gojson.Slice:
    return gojson.Slice(f"[]*api.{name}", elem)


_RESTART = gojson.Struct(
    "api.RestartPolicy",
    {"Interval": DURATION, "Attempts": INT, "Delay": DURATION, "Mode": STRING, "RenderTemplates": BOOL},
)
_RESCHEDULE = gojson.Struct(
    "api.ReschedulePolicy",
    {
        "Attempts": INT,
        "Interval": DURATION,
        "Delay": DURATION,
        "DelayFunction": STRING,
        "MaxDelay": DURATION,
        "Unlimited": BOOL,
    },
)
_UPDATE = gojson.Struct(
    "api.UpdateStrategy",
    {
        "Stagger": DURATION,
        "MaxParallel": INT,
        "HealthCheck": STRING,
        "MinHealthyTime": DURATION,
        "HealthyDeadline": DURATION,
        "ProgressDeadline": DURATION,
        "Canary": INT,
        "AutoRevert": BOOL,
        "AutoPromote": BOOL,
    },
)
_MIGRATE = gojson.Struct(
    "api.MigrateStrategy",
    {"MaxParallel": INT, "HealthCheck": STRING, "MinHealthyTime": DURATION, "HealthyDeadline": DURATION},
)
_CONSTRAINTS = _list(
    "Constraint", gojson.Struct("api.Constraint", {"LTarget": STRING, "RTarget": STRING, "Operand": STRING})
)
_AFFINITIES = _list(
    "Affinity",
    gojson.Struct("api.Affinity", {"LTarget": STRING, "RTarget": STRING, "Operand": STRING, "Weight": INT8}),
)
_SPREADS = _list(
    "Spread",
    gojson.Struct(
        "api.Spread",
        {
            "Attribute": STRING,
            "Weight": INT8,
            "SpreadTarget": _list(
                "SpreadTarget", gojson.Struct("api.SpreadTarget", {"Value": STRING, "Percent": UINT8})
            ),
        },
    ),
)
_NETWORKS = _list("NetworkResource", _opaque("NetworkResource"))
_SERVICES = _list("Service", _opaque("Service"))
_RESOURCES = gojson.Struct(
    "api.Resources",
    {
        "CPU": INT,
        "Cores": INT,
        "MemoryMB": INT,
        "MemoryMaxMB": INT,
        "DiskMB": INT,
        "Networks": _NETWORKS,
        "Devices": _list("RequestedDevice", _opaque("RequestedDevice")),
        "NUMA": _opaque("NUMAResource"),
        "SecretsMB": INT,
        "IOPS": INT,
    },
)
_TASK = gojson.Struct(
    "api.Task",
    {
        "Name": STRING,
        "Driver": STRING,
        "User": STRING,
        "Lifecycle": gojson.Struct("api.TaskLifecycle", {"Hook": STRING, "Sidecar": BOOL}),
        "Config": gojson.Map("map[string]interface {}", gojson.ANY),
        "Constraints": _CONSTRAINTS,
        "Affinities": _AFFINITIES,
        "Env": STRING_MAP,
        "Services": _SERVICES,
        "Resources": _RESOURCES,
        "RestartPolicy": _RESTART,
        "Meta": STRING_MAP,
        "KillTimeout": DURATION,
        "LogConfig": gojson.Struct(
            "api.LogConfig", {"MaxFiles": INT, "MaxFileSizeMB": INT, "Enabled": BOOL, "Disabled": BOOL}
        ),
        "Artifacts": _list("TaskArtifact", _opaque("TaskArtifact")),
        "Vault": _opaque("Vault"),
        "Consul": _opaque("Consul"),
        "Templates": _list("Template", _opaque("Template")),
        "DispatchPayload": gojson.Struct("api.DispatchPayloadConfig", {"File": STRING}),
        "VolumeMounts": _list("VolumeMount", _opaque("VolumeMount")),
        "CSIPluginConfig": _opaque("TaskCSIPluginConfig"),
        "Leader": BOOL,
        "ShutdownDelay": DURATION,
        "KillSignal": STRING,
        "Kind": STRING,
        "ScalingPolicies": _list("ScalingPolicy", _opaque("ScalingPolicy")),
        "Secrets": _list("Secret", _opaque("Secret")),
        "Identity": _opaque("WorkloadIdentity"),
        "Identities": _list("WorkloadIdentity", _opaque("WorkloadIdentity")),
        "Actions": _list("Action", _opaque("Action")),
        "Schedule": _opaque("TaskSchedule"),
    },
)
_GROUP = gojson.Struct(
    "api.TaskGroup",
    {
        "Name": STRING,
        "Count": INT,
        "Constraints": _CONSTRAINTS,
        "Affinities": _AFFINITIES,
        "Tasks": _list("Task", _TASK),
        "Spreads": _SPREADS,
        "Volumes": gojson.Map("map[string]*api.VolumeRequest", _opaque("VolumeRequest")),
        "RestartPolicy": _RESTART,
        "Disconnect": _opaque("DisconnectStrategy"),
        "ReschedulePolicy": _RESCHEDULE,
        "EphemeralDisk": gojson.Struct("api.EphemeralDisk", {"Sticky": BOOL, "Migrate": BOOL, "SizeMB": INT}),
        "Update": _UPDATE,
        "Migrate": _MIGRATE,
        "Networks": _NETWORKS,
        "Meta": STRING_MAP,
        "Services": _SERVICES,
        "ShutdownDelay": DURATION,
        "MaxRunDuration": DURATION,
        "StopAfterClientDisconnect": DURATION,
        "MaxClientDisconnect": DURATION,
        "Scaling": _opaque("ScalingPolicy"),
        "Consul": _opaque("Consul"),
        "PreventRescheduleOnLost": BOOL,
    },
)
_JOB = gojson.Struct(
    "api.Job",
    {
        "Region": STRING,
        "Namespace": STRING,
        "ID": STRING,
        "Name": STRING,
        "Type": STRING,
        "Priority": INT,
        "AllAtOnce": BOOL,
        "Datacenters": STRINGS,
        "NodePool": STRING,
        "Constraints": _CONSTRAINTS,
        "Affinities": _AFFINITIES,
        "TaskGroups": _list("TaskGroup", _GROUP),
        "Update": _UPDATE,
        "Multiregion": _opaque("Multiregion"),
        "Spreads": _SPREADS,
        "Periodic": gojson.Struct(
            "api.PeriodicConfig",
            {
                "Enabled": BOOL,
                "Spec": STRING,
                "Specs": STRINGS,
                "SpecType": STRING,
                "ProhibitOverlap": BOOL,
                "TimeZone": STRING,
            },
        ),
        "ParameterizedJob": gojson.Struct(
            "api.ParameterizedJobConfig", {"Payload": STRING, "MetaRequired": STRINGS, "MetaOptional": STRINGS}
        ),
        "Reschedule": _RESCHEDULE,
        "Migrate": _MIGRATE,
        "Meta": STRING_MAP,
        "UI": _opaque("JobUIConfig"),
        "Stop": BOOL,
        "ParentID": STRING,
        "Dispatched": BOOL,
        "DispatchIdempotencyToken": STRING,
        "Payload": gojson.BYTES,
        "ConsulNamespace": STRING,
        "VaultNamespace": STRING,
        "NomadTokenID": STRING,
        "Status": STRING,
        "StatusDescription": STRING,
        "Stable": BOOL,
        "Version": UINT64,
        "SubmitTime": INT64,
        "CreateIndex": UINT64,
        "ModifyIndex": UINT64,
        "JobModifyIndex": UINT64,
        "VersionTag": _opaque("JobVersionTag"),
    },
)
# api.JobRegisterRequest, with api.WriteRequest embedded.
REGISTER_REQUEST = gojson.Struct(
    "api.JobRegisterRequest",
    {
        "Submission": _opaque("JobSubmission"),
        "Job": _JOB,
        "EnforceIndex": BOOL,
        "JobModifyIndex": UINT64,
        "PolicyOverride": BOOL,
        "PreserveCounts": BOOL,
        "PreserveResources": BOOL,
        "EvalPriority": INT,
        "Region": STRING,
        "Namespace": STRING,
        "SecretID": STRING,
    },
    promoted=dict.fromkeys(("Region", "Namespace", "SecretID"), "WriteRequest"),
)
# Every field a canonical job carries at each level (api.Job.Canonicalize fills them all).
_UPDATE_FIELDS = tuple(_UPDATE.fields)


# --- Canonicalize (api.Job.Canonicalize + server mutating hooks) ---------------------------


def _merge(defaults: dict, given: dict | None) -> dict:
    """Field-by-field merge over defaults, as Canonicalize does for pointer fields; only the
    fields the structs type has survive (api.LogConfig.Enabled has no structs.LogConfig field)."""
    out = dict(defaults)
    for key, value in (given or {}).items():
        if value is not None and key in defaults:
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
        "Update": dict.fromkeys(_UPDATE_FIELDS, 0) | {"HealthCheck": "", "AutoRevert": False, "AutoPromote": False},
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


JOB_MIN_PRIORITY, JOB_MAX_PRIORITY = 1, 100  # structs.JobMinPriority, JobDefaultMaxPriority
JOB_MAX_COUNT = 50000  # structs.JobDefaultMaxCount, the server's job_max_count default
MEMORY_NO_LIMIT = -1  # structs.MemoryNoLimit


def validate_job(job: dict) -> None:
    """nomad/job_endpoint_hooks.go jobValidate: structs.Job.Validate, then the server's own checks.
    admissionValidators hands back one flat multierror (multierror.Append flattens a multierror
    it is given); Job.Validate's lists nest where Go appends a multierror to mErr.Errors.

    Only the checks a tapit job (and a hostile one) can reach are here; each is Nomad's, word for
    word. Names become paths on the client: Task.Validate refuses slashes in a task name."""
    errors = _job_errors(job)
    if job["Type"] == "_core":
        errors.append("job type cannot be core")
    if job["Payload"]:
        errors.append("job can't be submitted with a payload, only dispatched")
    if not JOB_MIN_PRIORITY <= job["Priority"] <= JOB_MAX_PRIORITY:
        errors.append(f"job priority must be between [{JOB_MIN_PRIORITY}, {JOB_MAX_PRIORITY}]")
    total = sum(group["Count"] for group in job["TaskGroups"])
    if total > JOB_MAX_COUNT:
        errors.append(f"total count was greater than configured job_max_count: {total} > {JOB_MAX_COUNT}")
    if errors:
        raise ValidationError(multierror(errors))


def _job_errors(job: dict) -> list[str]:
    """structs.Job.Validate."""
    errors = []
    if not job["Region"] and job["Multiregion"] is None:
        errors.append("Missing job region")
    if not job["ID"]:
        errors.append("Missing job ID")
    elif " " in job["ID"]:
        errors.append("Job ID contains a space")
    elif "\0" in job["ID"]:
        errors.append("Job ID contains a null character")
    if not job["Name"]:
        errors.append("Missing job name")
    elif "\0" in job["Name"]:
        errors.append("Job Name contains a null character")
    if not job["Namespace"]:
        errors.append("Job must be in a namespace")
    if not job["Type"]:
        errors.append("Missing job type")
    elif job["Type"] not in ("_core", "service", "batch", "system", "sysbatch"):
        errors.append(f"Invalid job type: {gojson.go_quote(job['Type'])}")
    if not job["Datacenters"] and job["Multiregion"] is None:
        errors.append("Missing job datacenters")
    else:
        errors.extend("Job datacenter must be non-empty string" for dc in job["Datacenters"] or () if not dc)
    if not job["TaskGroups"]:
        errors.append("Missing job task groups")
    naming = _naming_errors(
        job["TaskGroups"],
        "Job task group {idx} missing name",
        "Job task group {idx} redefines '{name}' from group {first}",
    )
    for group, naming_error in zip(job["TaskGroups"], naming):
        if naming_error:
            errors.append(naming_error)
        if group["ShutdownDelay"] is not None and group["ShutdownDelay"] < 0:
            errors.append("ShutdownDelay must be a positive value")
        if job["Type"] == "system" and group["Count"] > 1:
            errors.append(
                f"Job task group {group['Name']} has count {group['Count']}. "
                "Count cannot exceed 1 with system scheduler"
            )
    for group in job["TaskGroups"]:
        group_errors = _group_errors(job, group)
        if group_errors:
            errors.append(f"Task group {group['Name']} validation failed: {multierror(group_errors)}")
    return errors


def _naming_errors(items: list[dict], missing: str, redefined: str) -> list[str | None]:
    """Per item (1-based in the words), whether it lacks a name or repeats an earlier one."""
    first: dict[str, int] = {}
    errors = []
    for idx, item in enumerate(items, 1):
        name = item["Name"]
        if not name:
            errors.append(missing.format(idx=idx))
        elif name in first:
            errors.append(redefined.format(idx=idx, name=name, first=first[name]))
        else:
            first[name] = idx
            errors.append(None)
    return errors


def _group_errors(job: dict, group: dict) -> list[str]:
    """structs.TaskGroup.Validate (multierror.Append: a nested multierror is flattened)."""
    errors = []
    if not group["Name"]:
        errors.append("Missing task group name")
    elif "\0" in group["Name"]:
        errors.append("Task group name contains null character")
    if group["Count"] < 0:
        errors.append("Task group count can't be negative")
    if not group["Tasks"]:
        errors.append("Missing tasks for task group")
    if group["MaxRunDuration"] is not None:
        if group["MaxRunDuration"] <= 0:
            errors.append("MaxRunDuration must be greater than zero")
        if job["Type"] not in ("batch", "sysbatch"):
            errors.append(f"Job type {gojson.go_quote(job['Type'])} does not allow max_run_duration")
    errors.extend(_restart_errors(group["RestartPolicy"]))
    if job["Type"] in ("system", "sysbatch") and group["ReschedulePolicy"] is not None:
        errors.append("System or sysbatch jobs should not have a reschedule policy")
    if group["EphemeralDisk"]["SizeMB"] < 10:
        errors.append(f"minimum DiskMB value is 10; got {group['EphemeralDisk']['SizeMB']}")
    if group["Update"] is not None and job["Type"] not in ("service", "system"):
        errors.append(f"Job type {gojson.go_quote(job['Type'])} does not allow update block")
    if group["Migrate"] is not None and job["Type"] != "service":
        errors.append(f"Job type {gojson.go_quote(job['Type'])} does not allow migrate block")
    naming = _naming_errors(
        group["Tasks"], "Task {idx} missing name", "Task {idx} redefines '{name}' from task {first}"
    )
    errors.extend(error for error in naming if error)
    if sum(1 for task in group["Tasks"] if task["Leader"]) > 1:
        errors.append("Only one task may be marked as leader")
    if group["Tasks"] and not any(not (task["Lifecycle"] or {}).get("Hook") for task in group["Tasks"]):
        errors.append(f"Task group {group['Name']} must have at least one main task")
    for task in group["Tasks"]:
        task_errors = _task_errors(task, group)
        if task_errors:
            errors.append(f"Task {task['Name']} validation failed: {multierror(task_errors)}")
    return errors


def _restart_errors(policy: dict) -> list[str]:
    """structs.RestartPolicy.Validate."""
    errors = []
    if policy["Mode"] not in ("delay", "fail"):
        errors.append(f"Unsupported restart mode: {gojson.go_quote(policy['Mode'])}")
    if policy["Attempts"] == 0 and policy["Mode"] != "fail":
        errors.append(
            f"Restart policy {gojson.go_quote(policy['Mode'])} with {policy['Attempts']} attempts is ambiguous"
        )
    if policy["Interval"] < 5 * SECOND:
        errors.append(f"Interval can not be less than 5s (got {go_duration(policy['Interval'])})")
    if policy["Attempts"] * policy["Delay"] > policy["Interval"]:
        errors.append(
            f"Nomad can't restart the TaskGroup {policy['Attempts']} times in an interval of "
            f"{go_duration(policy['Interval'])} with a delay of {go_duration(policy['Delay'])}"
        )
    return errors


def _task_errors(task: dict, group: dict) -> list[str]:
    """structs.Task.Validate (mErr.Errors = append(...): a nested multierror keeps its own list)."""
    errors = []
    name = task["Name"]
    if not name:
        errors.append("Missing task name")
    # The task's directory on the client is named after it: no "alloc", no path separators.
    if name == "alloc":
        errors.append('Task cannot be named "alloc"')
    if "/" in name or "\\" in name:
        errors.append("Task name cannot include slashes")
    elif "\0" in name:
        errors.append("Task name cannot include null characters")
    if not task["Driver"]:
        errors.append("Missing task driver")
    if task["KillTimeout"] < 0:
        errors.append("KillTimeout must be a positive value")
    if task["ShutdownDelay"] < 0:
        errors.append("ShutdownDelay must be a positive value")
    resource_errors = _resource_errors(task["Resources"])
    if resource_errors:
        errors.append(multierror(resource_errors))
    log_errors = _log_config_errors(task["LogConfig"], group["EphemeralDisk"])
    if log_errors:
        errors.append(multierror(log_errors))
    return errors


def _resource_errors(res: dict) -> list[str]:
    """structs.Resources.Validate, with MeetsMinResources (MinResources: 1 MHz, 10 MB)."""
    errors = []
    if res["Cores"] > 0 and res["CPU"] > 0:
        errors.append("Task can only ask for 'cpu' or 'cores' resource, not both.")
    if res["Cores"] < 0:
        errors.append(f"cores value ({res['Cores']}) cannot be negative")
    minimum = []
    if res["CPU"] < 1 and res["Cores"] == 0:
        minimum.append(f"minimum CPU value is 1; got {res['CPU']}")
    if res["MemoryMB"] < 10:
        minimum.append(f"minimum MemoryMB value is 10; got {res['MemoryMB']}")
    if minimum:
        errors.append(multierror(minimum))
    if res["DiskMB"] > 0:
        errors.append("Task can't ask for disk resources, they have to be specified at the task group level.")
    if res["MemoryMaxMB"] not in (0, MEMORY_NO_LIMIT) and res["MemoryMaxMB"] < res["MemoryMB"]:
        errors.append(
            f"MemoryMaxMB value ({res['MemoryMaxMB']}) should be larger than MemoryMB value ({res['MemoryMB']})"
        )
    if res["SecretsMB"] > res["MemoryMB"]:
        errors.append(f"SecretsMB value ({res['SecretsMB']}) cannot be larger than MemoryMB value ({res['MemoryMB']})")
    if res["SecretsMB"] < 0:
        errors.append(f"SecretsMB value ({res['SecretsMB']}) cannot be negative")
    return errors


def _log_config_errors(config: dict, disk: dict) -> list[str]:
    """structs.LogConfig.Validate."""
    errors = []
    if config["MaxFiles"] < 1:
        errors.append(f"minimum number of files is 1; got {config['MaxFiles']}")
    if config["MaxFileSizeMB"] < 1:
        errors.append(f"minimum file size is 1MB; got {config['MaxFileSizeMB']}")
    usage = config["MaxFiles"] * config["MaxFileSizeMB"]
    if disk["SizeMB"] <= usage:
        errors.append(f"log storage ({usage} MB) must be less than requested disk capacity ({disk['SizeMB']} MB)")
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
