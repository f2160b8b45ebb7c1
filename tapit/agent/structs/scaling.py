"""structs.ScalingPolicy (nomad/structs/structs.go): a task group's `scaling` block as Nomad
stores it.  command/agent/job_endpoint.go ApiScalingPolicyToStructs fills its defaults and
ScalingPolicy.Canonicalize its type and target; nomad/job_endpoint.go propagateScalingPolicyIDs
gives it its ID; nomad/state/state_store.go updateJobScalingPolicies its indexes."""

from __future__ import annotations

from .funcs import new_id

HORIZONTAL = "horizontal"  # structs.ScalingPolicyTypeHorizontal


def canonical_policy(given: dict, job: dict, group: dict) -> dict:
    """ApiScalingPolicyToStructs, then ScalingPolicy.Canonicalize(job, tg, nil)."""
    enabled, high, low = given.get("Enabled"), given.get("Max"), given.get("Min")
    return {
        "ID": "",
        "Type": given.get("Type") or HORIZONTAL,
        "Target": {"Namespace": job["Namespace"], "Job": job["ID"], "Group": group["Name"]},
        "Policy": given.get("Policy"),
        "Min": group["Count"] if low is None else low,
        "Max": -1 if high is None else high,  # "catch this in Validate"
        "Enabled": True if enabled is None else enabled,
        "CreateIndex": 0,
        "ModifyIndex": 0,
    }


def group_errors(group: dict) -> list[str]:
    """TaskGroup.validateScalingPolicy, with ScalingPolicy.Validate's errors prefixed."""
    policy = group["Scaling"]
    if policy is None:
        return []
    errors = []
    if policy["Max"] < 0:
        errors.append("maximum count must be specified and non-negative")
    elif policy["Max"] < policy["Min"]:
        errors.append("maximum count must not be less than minimum count")
    if policy["Min"] < 0:
        errors.append("minimum count must be specified and non-negative")
    errors = [f"Scaling policy invalid: {e}" for e in errors]
    if policy["Max"] < group["Count"]:
        errors.append(
            "Scaling policy invalid: task group count must not be greater than maximum count in scaling policy"
        )
    if group["Count"] < policy["Min"]:
        errors.append("Scaling policy invalid: task group count must not be less than minimum count in scaling policy")
    return errors


def job_policies(job: dict) -> list[dict]:
    """Job.GetScalingPolicies: the groups' policies, in the groups' order."""
    return [g["Scaling"] for g in job["TaskGroups"] if g.get("Scaling")]


def job_key(policy: dict) -> tuple[str, str, str]:
    """ScalingPolicy.JobKey: type, group and task."""
    return (policy["Type"], policy["Target"].get("Group", ""), policy["Target"].get("Task", ""))


def propagate_ids(old: dict | None, new: dict) -> None:
    """propagateScalingPolicyIDs: a policy keeps the ID of the one of the same key in the job it
    replaces; any other gets a new one."""
    old_ids = {job_key(p): p["ID"] for p in job_policies(old)} if old else {}
    for policy in job_policies(new):
        policy["ID"] = old_ids.get(job_key(policy)) or new_id()


def differs(existing: dict, policy: dict) -> bool:
    """ScalingPolicy.Diff: anything but the ID and the indexes."""
    skip = ("ID", "CreateIndex", "ModifyIndex")
    return {k: v for k, v in existing.items() if k not in skip} != {k: v for k, v in policy.items() if k not in skip}


def upsert(table: list[dict], job: dict, index: int) -> tuple[list[dict], bool]:
    """updateJobScalingPolicies over one job's policies (the table's rows of its target): those
    the job no longer has are deleted; a new or changed one is inserted with the write's index
    (the job's own policy object, so the job shows the indexes too), an unchanged one is left as
    the table has it (and the job's copy keeps the indexes it came with).  Returns the rows, in
    the target index's order, and whether the table changed."""
    policies = job_policies(job)
    keys = {job_key(p) for p in policies}
    existing = {job_key(p): p for p in table}
    changed = any(job_key(p) not in keys for p in table)
    rows = []
    for policy in policies:
        old = existing.get(job_key(policy))
        if old is not None and not differs(old, policy):
            rows.append(old)
            continue
        if old is not None:
            policy["ID"], policy["CreateIndex"] = old["ID"], old["CreateIndex"]
        else:
            policy["CreateIndex"] = index
        policy["ModifyIndex"] = index
        rows.append(policy)
        changed = True
    rows.sort(key=lambda p: (p["Target"].get("Group", ""), p["Target"].get("Task", "")))
    return rows, changed


def stub(policy: dict) -> dict:
    """ScalingPolicy.Stub: structs.ScalingPolicyListStub."""
    return {
        "ID": policy["ID"],
        "Enabled": policy["Enabled"],
        "Type": policy["Type"],
        "Target": dict(policy["Target"]),
        "CreateIndex": policy["CreateIndex"],
        "ModifyIndex": policy["ModifyIndex"],
    }
