"""Job validation as the server runs it on register (nomad/job_endpoint_hooks.go jobValidate,
structs.Job/TaskGroup/Task.Validate), each message Nomad's, word for word, in go-multierror's
format.
"""

from __future__ import annotations

from tapit.gostrconv import quote

from . import scaling
from .funcs import SECOND, go_duration, multierror


class ValidationError(Exception):
    """A job rejected by validation; str() is Nomad's multierror text, `errors` its errors."""

    def __init__(self, errors: list[str]):
        super().__init__(multierror(errors))
        self.errors = errors


JOB_MIN_PRIORITY, JOB_MAX_PRIORITY = 1, 100  # structs.JobMinPriority, JobDefaultMaxPriority
JOB_MAX_COUNT = 50000  # structs.JobDefaultMaxCount, the server's job_max_count default
MEMORY_NO_LIMIT = -1  # structs.MemoryNoLimit


def validate_job(job: dict, earlier: list[str] | None = None) -> None:
    """nomad/job_endpoint_hooks.go jobValidate: structs.Job.Validate, then the server's own checks.
    admissionValidators hands back one flat multierror (multierror.Append flattens a multierror
    it is given); Job.Validate's lists nest where Go appends a multierror to mErr.Errors.

    Only the checks a tapit job (and a hostile one) can reach are here; each is Nomad's, word for
    word. Names become paths on the client: Task.Validate refuses slashes in a task name.
    `earlier` are the errors of the validators that run before jobValidate (the namespace check)."""
    errors = [*(earlier or ()), *_job_errors(job)]
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
        raise ValidationError(errors)


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
        errors.append(f"Invalid job type: {quote(job['Type'])}")
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
    errors: list[str | None] = []
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
            errors.append(f"Job type {quote(job['Type'])} does not allow max_run_duration")
    errors.extend(_restart_errors(group["RestartPolicy"]))
    if job["Type"] in ("system", "sysbatch") and group["ReschedulePolicy"] is not None:
        errors.append("System or sysbatch jobs should not have a reschedule policy")
    if group["EphemeralDisk"]["SizeMB"] < 10:
        errors.append(f"minimum DiskMB value is 10; got {group['EphemeralDisk']['SizeMB']}")
    if group["Update"] is not None and job["Type"] not in ("service", "system"):
        errors.append(f"Job type {quote(job['Type'])} does not allow update block")
    if group["Migrate"] is not None and job["Type"] != "service":
        errors.append(f"Job type {quote(job['Type'])} does not allow migrate block")
    naming = _naming_errors(
        group["Tasks"], "Task {idx} missing name", "Task {idx} redefines '{name}' from task {first}"
    )
    errors.extend(error for error in naming if error)
    if sum(1 for task in group["Tasks"] if task["Leader"]) > 1:
        errors.append("Only one task may be marked as leader")
    if group["Tasks"] and not any(not (task["Lifecycle"] or {}).get("Hook") for task in group["Tasks"]):
        errors.append(f"Task group {group['Name']} must have at least one main task")
    scaling_errors = scaling.group_errors(group)  # validateScalingPolicy
    if scaling_errors:
        errors.append(f"Task group scaling policy validation failed: {multierror(scaling_errors)}")
    for task in group["Tasks"]:
        task_errors = _task_errors(task, group)
        if task_errors:
            errors.append(f"Task {task['Name']} validation failed: {multierror(task_errors)}")
    return errors


def _restart_errors(policy: dict) -> list[str]:
    """structs.RestartPolicy.Validate."""
    errors = []
    if policy["Mode"] not in ("delay", "fail"):
        errors.append(f"Unsupported restart mode: {quote(policy['Mode'])}")
    if policy["Attempts"] == 0 and policy["Mode"] != "fail":
        errors.append(f"Restart policy {quote(policy['Mode'])} with {policy['Attempts']} attempts is ambiguous")
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
