"""A job on its way into the state store, and the job structs read back: api.Job.Canonicalize
with the server's mutating hooks (nomad/job_endpoint_hooks.go), structs.JobListStub and
structs.JobSummary.  Field names are Go's; durations are integer nanoseconds.
"""

from __future__ import annotations
from typing import Any

import copy

from .api import UPDATE_FIELDS
from .funcs import HOUR, SECOND
from .scaling import canonical_policy

ENFORCE_INDEX_PREFIX = "Enforcing job modify index"  # structs.RegisterEnforceIndexErrPrefix


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
        "Update": dict.fromkeys(UPDATE_FIELDS, 0) | {"HealthCheck": "", "AutoRevert": False, "AutoPromote": False},
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
    _weigh(out)
    out["Name"] = out["Name"] or out["ID"]
    out["Priority"] = out["Priority"] or 50
    out["Datacenters"] = out["Datacenters"] or ["*"]
    out["NodePool"] = out["NodePool"] or "default"
    job_reschedule = job.get("Reschedule")
    groups = [_canonical_group(g, job_type, job_reschedule) for g in job.get("TaskGroups") or []]
    for group in groups:
        if group["Scaling"] is not None:
            group["Scaling"] = canonical_policy(group["Scaling"], out, group)
    out["TaskGroups"] = groups
    return out


def _canonical_group(group: dict, job_type: str, job_reschedule: dict | None) -> dict:
    reschedule_default = _reschedule_default(job_type)
    reschedule = None
    if reschedule_default is not None:
        reschedule = _merge(_merge(reschedule_default, job_reschedule), group.get("ReschedulePolicy"))
    out: dict[str, Any] = {
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
    _weigh(out)
    out["Tasks"] = [_canonical_task(t, out["RestartPolicy"]) for t in group.get("Tasks") or []]
    return out


def _weigh(holder: dict) -> None:
    """api/tasks.go Affinity.Canonicalize and Spread.Canonicalize: a weight not given is 50."""
    for key in ("Affinities", "Spreads"):
        for item in holder.get(key) or []:
            if item.get("Weight") is None:
                item["Weight"] = 50


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
    _weigh(out)
    return out


def is_parameterized(job: dict) -> bool:
    """structs.Job.IsParameterized: a job dispatched from one keeps its config, and is not."""
    return job["ParameterizedJob"] is not None and not job["Dispatched"]


def launches_children(job: dict) -> bool:
    """IsPeriodic() || IsParameterized(): a job that is not evaluated but launches others."""
    return job["Periodic"] is not None or is_parameterized(job)


# What Job.SpecChanged sets from the old job on the new one before comparing them.
NOT_SPEC = (
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "SubmitTime",
)


def spec_changed(old: dict, new: dict) -> bool:
    """structs.Job.SpecChanged: the jobs differ in anything but their status, version and indexes."""
    return {k: v for k, v in old.items() if k not in NOT_SPEC} != {k: v for k, v in new.items() if k not in NOT_SPEC}


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
        "ParameterizedJob": is_parameterized(job),
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
