"""The api structs a register request decodes into (api/jobs.go, tasks.go, resources.go).

Field types as Nomad declares them, so that a value of the wrong type is refused with Go's
words (gojson). Structs tapit never sends are checked to be objects and kept as sent.
"""

from __future__ import annotations

from . import gojson
from .gojson import BOOL, DURATION, INT, INT8, INT64, STRING, STRING_MAP, STRINGS, UINT8, UINT64


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
# api.JobPlanRequest, with api.WriteRequest embedded.
PLAN_REQUEST = gojson.Struct(
    "api.JobPlanRequest",
    {
        "Job": _JOB,
        "Diff": BOOL,
        "PolicyOverride": BOOL,
        "Region": STRING,
        "Namespace": STRING,
        "SecretID": STRING,
    },
    promoted=dict.fromkeys(("Region", "Namespace", "SecretID"), "WriteRequest"),
)
# api.JobValidateRequest, with api.WriteRequest embedded.
VALIDATE_REQUEST = gojson.Struct(
    "api.JobValidateRequest",
    {"Job": _JOB, "Region": STRING, "Namespace": STRING, "SecretID": STRING},
    promoted=dict.fromkeys(("Region", "Namespace", "SecretID"), "WriteRequest"),
)
# Every field a canonical job carries at each level (api.Job.Canonicalize fills them all).
UPDATE_FIELDS = tuple(_UPDATE.fields or ())
