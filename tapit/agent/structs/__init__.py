"""Nomad's structs as the embedded agent builds and reads them, one module per concept as
nomad/structs is one Go package in many files: `structs.task_event(...)` here is Nomad's
`structs.NewTaskEvent(...)` there.  Field names are Go's; durations are integer nanoseconds;
times are RFC3339Nano strings where Nomad's are time.Time and integer nanoseconds where they
are int64.

funcs        IDs, go-multierror's format, Go's time and durations
api          the api structs a register request decodes into (gojson: Go's encoding/json)
job          api.Job.Canonicalize, JobListStub, JobSummary
job_validate Job/TaskGroup/Task.Validate and the server's own checks
jobspec_hcl  an HCL2 jobspec read into an api.Job (jobspec2.ParseWithConfig)
alloc        Allocation, AllocMetric, AllocListStub
eval         Evaluation and its stub
task_state   TaskState and TaskEvent
encoding     the omitempty of Allocation and Evaluation
variables    VariableDecrypted, VariableMetadata, VariableLock and their validation
errors       the RPC errors' texts (NewErrRPCCoded)
"""

from .alloc import TIMEOUT_REASON, alloc_metric, alloc_stub, alloc_terminal, allocation
from .api import PLAN_REQUEST, REGISTER_REQUEST, VALIDATE_REQUEST
from .encoding import omit_empty
from .eval import eval_stub, evaluation
from .funcs import SECOND, ZERO_TIME, new_id, now_ns, parse_duration, rfc3339nano
from .job import (
    canonicalize_job,
    group_summary,
    is_parameterized,
    job_stub,
    job_summary,
    launches_children,
    spec_changed,
)
from .job_validate import ValidationError, validate_job
from .task_state import DEFAULT_MAX_KILL_TIMEOUT, driver_event, task_event

__all__ = [
    "DEFAULT_MAX_KILL_TIMEOUT",
    "PLAN_REQUEST",
    "REGISTER_REQUEST",
    "VALIDATE_REQUEST",
    "SECOND",
    "TIMEOUT_REASON",
    "ZERO_TIME",
    "ValidationError",
    "alloc_metric",
    "alloc_stub",
    "alloc_terminal",
    "allocation",
    "canonicalize_job",
    "driver_event",
    "eval_stub",
    "evaluation",
    "group_summary",
    "is_parameterized",
    "launches_children",
    "job_stub",
    "job_summary",
    "new_id",
    "now_ns",
    "omit_empty",
    "parse_duration",
    "rfc3339nano",
    "spec_changed",
    "task_event",
    "validate_job",
]
