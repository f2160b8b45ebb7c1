"""structs.Evaluation as the scheduler creates it, and its stub (nomad/structs/eval.go)."""

from __future__ import annotations

from .funcs import ZERO_TIME, new_id, now_ns


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


# structs.EvaluationStub, what Evaluation.Stub keeps.
EVAL_STUB_FIELDS = (
    "ID",
    "Namespace",
    "Priority",
    "Type",
    "TriggeredBy",
    "JobID",
    "NodeID",
    "DeploymentID",
    "Status",
    "StatusDescription",
    "WaitUntil",
    "NextEval",
    "PreviousEval",
    "BlockedEval",
    "CreateIndex",
    "ModifyIndex",
    "CreateTime",
    "ModifyTime",
)


def eval_stub(ev: dict) -> dict:
    """structs.Evaluation.Stub."""
    return {key: ev[key] for key in EVAL_STUB_FIELDS}
