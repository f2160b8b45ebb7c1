"""A task as a Nomad batch job: the JSON tapit registers (pure).

`jobs/tapit-task.nomad.hcl` is the same job in HCL for admins; a test keeps the
two in agreement. Field names and units follow Nomad's api structs (api/jobs.go Job,
api/tasks.go TaskGroup, Task, RestartPolicy, ReschedulePolicy, LogConfig): durations are
integer nanoseconds.
"""

from __future__ import annotations

import math

from tapit import __version__
from tapit.config import FALLBACK_MHZ_PER_VCPU, AppConfig
from tapit.params import TaskSpec

GROUP_NAME = "task"
TASK_NAME = "task"
NANOS_PER_SECOND = 1_000_000_000
# Meta keys an admin sees in `nomad job status`; prefixed so they never collide with the app's own.
META_TASK_ID = "tapit_task_id"
META_INITIATED_BY = "tapit_initiated_by"
META_COMMAND = "tapit_command"
META_KIND = "tapit_kind"
META_VERSION = "tapit_version"
META_CREATED_AT = "tapit_created_at"
# max_hours again, where every Nomad keeps it: a server before 2.0.3 drops MaxRunDuration, and the
# archivist enforces the deadline from this (tapit/service/archivist.py).
META_MAX_HOURS = "tapit_max_hours"

# nomad/structs/structs.go DefaultLogConfig: 10 files of 10 MB (× 1024 × 1024 as logmon counts it).
LOG_MAX_FILES = 10
LOG_MAX_FILE_MB = 10
DEFAULT_LOG_FILE_SIZE = LOG_MAX_FILE_MB * 1024 * 1024

# The embedded agent runs tasks as host processes; a cluster runs the app image.
HOST_DRIVER = "raw_exec"
IMAGE_DRIVER = "docker"


def job_id_for(task_id: str, config: AppConfig) -> str:
    return f"{config.job_prefix}{task_id}"


# Long enough for a command line an admin recognises, short enough for a row of Nomad's UI.
JOB_NAME_CHARS = 120


def job_name(job_id: str, spec: TaskSpec) -> str:
    """The job's Name, which Nomad's UI lists and `nomad job status <id>` prints (Meta it does not,
    command/job_status.go): who ran what, on one line. Nomad refuses only an empty Name or one
    with a NUL (nomad/structs/structs.go Job.Validate); allocations are named after the ID."""
    name = " ".join(f"{job_id} by {spec.initiated_by}: {spec.command}".split())
    return name if len(name) <= JOB_NAME_CHARS else name[: JOB_NAME_CHARS - 1] + "…"


def choose_driver(spec: TaskSpec, config: AppConfig, embedded: bool) -> str:
    if config.driver:
        return config.driver
    if spec.image or spec.docker_tag or not embedded:
        return IMAGE_DRIVER
    return HOST_DRIVER


def image_for(spec: TaskSpec, config: AppConfig) -> str | None:
    """The image reference a docker task runs: `image=` as given, else the app image at a tag."""
    if spec.image:
        return spec.image
    if config.image_repository:
        return f"{config.image_repository}:{spec.docker_tag or config.docker_tag}"
    return None


def memory_mb(gb: float) -> int:
    return max(1, math.ceil(gb * 1024))


def log_config(disk_mb: int) -> dict:
    """The task's log storage, fitted to its disk.

    Nomad rotates a log away once MaxFiles × MaxFileSizeMB are kept: a follower that falls that far
    behind a fast writer (a busy laptop, a slow link) loses the bytes in between, and says how many.
    So the logs keep a quarter of the disk where that is more than Nomad's default of 10 files of
    10 MB: 250 MB on tapit's default 1 GB disk, more than a `--wait` of 200 MB needs to stay
    byte-exact however far behind it falls. Nomad refuses a job whose ephemeral disk is not larger
    than the logs (nomad/structs/structs.go LogConfig.Validate), so on a disk under twice the default
    (200 MB) the logs get half the disk instead: up to 10 files of at least 1 MB (a disk of 11 MB, the
    smallest tapit accepts, keeps 5 files of 1 MB)."""
    if disk_mb // 4 > LOG_MAX_FILES * LOG_MAX_FILE_MB:
        return {"MaxFiles": LOG_MAX_FILES, "MaxFileSizeMB": disk_mb // 4 // LOG_MAX_FILES}
    budget = disk_mb // 2
    if budget >= LOG_MAX_FILES * LOG_MAX_FILE_MB:
        return {"MaxFiles": LOG_MAX_FILES, "MaxFileSizeMB": LOG_MAX_FILE_MB}
    files = max(1, min(LOG_MAX_FILES, budget))
    return {"MaxFiles": files, "MaxFileSizeMB": max(1, budget // files)}


def docker_config(argv: list[str], image: str | None, config: AppConfig) -> dict:
    """The docker driver's task config (drivers/docker/config.go TaskConfig).

    `init`: tini as PID 1 (HostConfig.Init), so the stop's SIGTERM reaches the app; the `sh -c`
    that would be PID 1 otherwise ignores it, as PID 1 ignores any signal it has no handler for,
    and the app would only get the SIGKILL after KillTimeout. The entrypoint follows
    `docker_entrypoint` (tapit/config.py): the driver sends Cmd = command + args and, when
    `entrypoint` is set, replaces the image's with it (drivers/docker/driver.go createContainerConfig)."""
    task_config: dict = {"image": image, "init": True}
    if config.docker_entrypoint == "replace":
        task_config.update(entrypoint=argv[:1], args=argv[1:])
    else:
        task_config.update(command=argv[0], args=argv[1:])
    return task_config


def cpu_mhz(vcpus: float, config: AppConfig) -> int:
    """`config.mhz_per_vcpu` as the service resolved it (tapit/service/vcpu.py) for the task's nodes."""
    return max(1, round(vcpus * (config.mhz_per_vcpu or FALLBACK_MHZ_PER_VCPU)))


def build_job(
    *,
    task_id: str,
    spec: TaskSpec,
    config: AppConfig,
    driver: str,
    namespace: str,
    created_at: str,
    kind: str = "task",
    argv: list[str] | None = None,
    work_dir: str | None = None,
) -> dict:
    """The `Job` object for one task: one group, one task, run exactly once.

    `argv` overrides what the task executes (a console's keep-alive); by default
    it is the user's command under `/bin/sh -c`. `work_dir`, an absolute path, is where a host
    process starts (and exec sessions into it), in place of its allocation's task directory.
    """
    argv = argv or ["/bin/sh", "-c", spec.command]
    job_id = job_id_for(task_id, config)
    if driver == IMAGE_DRIVER:
        task_config = docker_config(argv, image_for(spec, config), config)
    else:
        task_config = {"command": argv[0], "args": argv[1:]}
    if work_dir:
        task_config["work_dir"] = work_dir  # drivers/rawexec/driver.go, drivers/exec/driver.go TaskConfig.WorkDir
    disk_mb = memory_mb(spec.ephemeral_storage_gb)
    group: dict = {
        "Name": GROUP_NAME,
        "Count": 1,
        # Attempts 0 in "fail" mode: a failed task is not restarted on its node...
        "RestartPolicy": {
            "Attempts": 0,
            "Mode": "fail",
            "Interval": 24 * 3600 * NANOS_PER_SECOND,
            "Delay": 15 * NANOS_PER_SECOND,
        },
        # ...and Attempts 0 without Unlimited disables rescheduling elsewhere
        # (nomad/structs/structs.go ReschedulePolicy.Enabled).
        "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
        "EphemeralDisk": {"SizeMB": disk_mb},
        "Tasks": [
            {
                "Name": TASK_NAME,
                "Driver": driver,
                "Config": task_config,
                "Resources": {"CPU": cpu_mhz(spec.cpu, config), "MemoryMB": memory_mb(spec.memory_gb)},
                # SIGTERM on every driver (raw_exec would default to SIGINT, which a waiting
                # `sh -c` ignores): what apps expect on a stop, then SIGKILL after KillTimeout.
                "KillSignal": "SIGTERM",
                "KillTimeout": round(config.kill_timeout_s * NANOS_PER_SECOND),
                "LogConfig": log_config(disk_mb),
            }
        ],
    }
    if spec.max_hours is not None:
        # Honoured by Nomad >= 2.0.3; tapit enforces the same deadline itself for older clusters.
        group["MaxRunDuration"] = round(spec.max_hours * 3600 * NANOS_PER_SECOND)
    job: dict = {
        "ID": job_id,
        "Name": job_name(job_id, spec),
        "Type": "batch",
        "Namespace": namespace,
        "Datacenters": list(config.datacenters),
        "Priority": 50,
        "Meta": {
            META_TASK_ID: task_id,
            META_INITIATED_BY: spec.initiated_by,
            META_COMMAND: spec.command,
            META_KIND: kind,
            META_VERSION: __version__,
            META_CREATED_AT: created_at,
        },
        "TaskGroups": [group],
    }
    if spec.max_hours is not None:
        job["Meta"][META_MAX_HOURS] = repr(spec.max_hours)
    if config.node_pool:
        job["NodePool"] = config.node_pool
    return job


def images_of(job: dict) -> list[str]:
    """The images the job's docker tasks run, in the job's order."""
    return [
        image
        for group in job.get("TaskGroups") or ()
        for task in group.get("Tasks") or ()
        if task.get("Driver") == IMAGE_DRIVER and (image := (task.get("Config") or {}).get("image"))
    ]


def log_file_size(alloc: dict, task: str = TASK_NAME) -> int:
    """The size a rotated log file grows to: the task's LogConfig.MaxFileSizeMB in the allocation's job."""
    for group in (alloc.get("Job") or {}).get("TaskGroups") or ():
        for spec in group.get("Tasks") or ():
            if spec.get("Name") == task:
                megabytes = (spec.get("LogConfig") or {}).get("MaxFileSizeMB")
                if isinstance(megabytes, int) and megabytes > 0:
                    return megabytes * 1024 * 1024
    return DEFAULT_LOG_FILE_SIZE
