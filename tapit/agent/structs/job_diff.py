"""structs.Job.Diff (nomad/structs/diff.go) over the agent's job documents: JobDiff, its
TaskGroupDiffs and TaskDiffs, their FieldDiffs and ObjectDiffs, sorted as diff.go sorts them.

Flattening follows helper/flatmap Flatten(obj, filter, primitiveOnly=true): the struct's
strings, numbers and booleans, and its maps of them as `Name[key]`; nested structs, slices,
interfaces and pointers are left to their own diffs.  A document is JSON, so the fields that Go
holds as pointers (which primitive flattening skips) are named here.

Diffed: the job's, groups' and tasks' own fields and Meta (and Env), Datacenters, Constraints,
Periodic, ParameterizedJob, the groups' RestartPolicy, Migrate, ReschedulePolicy, EphemeralDisk
and Update, the tasks' Config, Resources (its own fields) and LogConfig.  Not diffed (the agent's
jobs do not use them): affinities, spreads, networks, services, volumes, templates, artifacts,
identities, vault, consul, scaling and multiregion.
"""

from __future__ import annotations

import functools
import json

NONE, ADDED, DELETED, EDITED = "None", "Added", "Deleted", "Edited"
# diff.go Job.Diff: the fields that change with every version.
_JOB_FILTER = (
    "ID",
    "Status",
    "StatusDescription",
    "Version",
    "Stable",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "Update",
    "SubmitTime",
    "NomadTokenID",
    "VaultToken",
)
# structs.go: the TaskGroup fields that are *time.Duration (ShutdownDelay is diffed apart).
_POINTERS = {"ShutdownDelay", "MaxRunDuration", "StopAfterClientDisconnect", "MaxClientDisconnect"}
# structs.go: the map[string]string fields (flattened as Name[key]); every other object is a struct.
_MAPS = {"Meta", "Env"}
_GROUP_OBJECTS = ("RestartPolicy", "Migrate", "ReschedulePolicy", "EphemeralDisk")


def _primitive(value) -> str | None:
    """flatmap's rendering of a primitive (fmt %v), None for what primitive flattening skips."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, str):
        return value
    return None


def flatten(obj: dict | None, filter_: tuple[str, ...] = ()) -> dict[str, str] | None:
    """flatmap.Flatten(obj, filter, true): nil for a nil object."""
    if obj is None:
        return None
    flat: dict[str, str] = {}
    for name, value in obj.items():
        if name in _POINTERS or name in filter_:
            continue
        if isinstance(value, dict):
            for key, item in value.items() if name in _MAPS else ():
                if (text := _primitive(item)) is not None:
                    flat[f"{name}[{key}]"] = text
        elif (text := _primitive(value)) is not None:
            flat[name] = text
    return flat


def _field_less(a: dict, b: dict) -> int:
    """FieldDiff.Less: by Name, then Old, then New."""
    ka, kb = (a["Name"], a["Old"], a["New"]), (b["Name"], b["Old"], b["New"])
    return (ka > kb) - (ka < kb)


_TYPE_ORDER = {EDITED: 0, ADDED: 1, DELETED: 2, NONE: 3}  # DiffType.Less: a reverse sort


def _object_less(a: dict, b: dict) -> int:
    """ObjectDiff.Less: by Name, then Type, then the number of fields and of objects, then each."""
    if a == b:
        return 0
    for ka, kb in (
        (a["Name"], b["Name"]),
        (_TYPE_ORDER[a["Type"]], _TYPE_ORDER[b["Type"]]),
        (len(a["Fields"] or ()), len(b["Fields"] or ())),
        (len(a["Objects"] or ()), len(b["Objects"] or ())),
    ):
        if ka != kb:
            return -1 if ka < kb else 1
    for fa, fb in zip(a["Fields"] or (), b["Fields"] or ()):
        if order := _field_less(fa, fb):
            return order
    for oa, ob in zip(a["Objects"] or (), b["Objects"] or ()):
        if order := _object_less(oa, ob):
            return order
    return 0


def _sorted_fields(diffs: list[dict]) -> list[dict] | None:
    return sorted(diffs, key=functools.cmp_to_key(_field_less)) or None


def _sorted_objects(diffs: list[dict]) -> list[dict] | None:
    return sorted(diffs, key=functools.cmp_to_key(_object_less)) or None


def field_diff(old: str, new: str, name: str, contextual: bool) -> dict | None:
    """diff.go fieldDiff."""
    if old == new:
        return {"Type": NONE, "Name": name, "Old": old, "New": new, "Annotations": None} if contextual else None
    kind = ADDED if old == "" else DELETED if new == "" else EDITED
    return {"Type": kind, "Name": name, "Old": old, "New": new, "Annotations": None}


def field_diffs(old: dict | None, new: dict | None, contextual: bool) -> list[dict] | None:
    """diff.go fieldDiffs: every key of either side, sorted."""
    old, new = old or {}, new or {}
    names = list(old) + [k for k in new if k not in old]
    diffs = [d for k in names if (d := field_diff(old.get(k, ""), new.get(k, ""), k, contextual))]
    return _sorted_fields(diffs)


def _object(kind: str, name: str, fields=None, objects=None) -> dict:
    return {"Type": kind, "Name": name, "Fields": fields, "Objects": objects}


def string_set_diff(old, new, name: str, contextual: bool) -> dict | None:
    """diff.go stringSetDiff."""
    old_set, new_set = set(old or ()), set(new or ())
    if old_set == new_set and not contextual:
        return None
    fields = [field_diff(k, "", name, contextual) for k in old_set - new_set]
    if contextual:
        fields += [field_diff(k, k, name, contextual) for k in old_set & new_set]
    fields += [field_diff("", k, name, contextual) for k in new_set - old_set]
    # field_diff is None only for an empty string on both sides outside contextual mode, a field
    # Go appends as nil and then cannot sort; it is left out here.
    added, removed = bool(new_set - old_set), bool(old_set - new_set)
    if not added and not removed and not fields:
        return None
    kind = EDITED if added and removed else ADDED if added else DELETED if removed else NONE
    return _object(kind, name, _sorted_fields([f for f in fields if f is not None]))


def primitive_object_diff(old, new, filter_, name: str, contextual: bool) -> dict | None:
    """diff.go primitiveObjectDiff: None when no field changed."""
    fields = field_diffs(flatten(old, filter_), flatten(new, filter_), contextual) or []
    kinds = {f["Type"] for f in fields}
    if EDITED in kinds or {ADDED, DELETED} <= kinds:
        return _object(EDITED, name, fields)
    if kinds & {ADDED, DELETED}:
        return _object(ADDED if ADDED in kinds else DELETED, name, fields)
    return None


def primitive_object_set_diff(old, new, name: str, contextual: bool) -> list[dict]:
    """diff.go primitiveObjectSetDiff: objects matched by their whole value (hashstructure)."""

    def key(obj: dict) -> str:
        return json.dumps(obj, sort_keys=True)

    old_set = {key(o): o for o in old or ()}
    new_set = {key(o): o for o in new or ()}
    diffs = [d for k, o in old_set.items() if (d := primitive_object_diff(o, new_set.get(k), (), name, contextual))]
    diffs += [
        d
        for k, o in new_set.items()
        if k not in old_set and (d := primitive_object_diff(None, o, (), name, contextual))
    ]
    return _sorted_objects(diffs) or []


def _whole_object_diff(old, new, name: str, contextual: bool, filter_=()) -> dict | None:
    """The shape of periodicDiff, parameterizedJobDiff, configDiff and Resources.Diff: nil when
    equal, else Added, Deleted or Edited with every primitive field (contextual)."""
    if old == new:
        return None
    kind = ADDED if not old else DELETED if not new else EDITED
    return _object(kind, name, field_diffs(flatten(old, filter_), flatten(new, filter_), contextual))


def _config_flat(config: dict | list | None, prefix: str = "") -> dict[str, str]:
    """flatmap.Flatten(config, nil, false): nested maps as `a.b`, lists as `a[0]`."""
    flat: dict[str, str] = {}
    items = config.items() if isinstance(config, dict) else enumerate(config or ())
    for key, value in items:
        name = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict | list):
            flat.update(_config_flat(value, name) if value or isinstance(value, dict) else {name: ""})
        else:
            flat[name] = "nil" if value is None else _primitive(value) or ""
    return flat


def task_diff(old: dict | None, new: dict | None, contextual: bool) -> dict:
    """diff.go Task.Diff."""
    kind = ADDED if old is None else DELETED if new is None else EDITED if old != new else NONE
    assert old is not None or new is not None, "_by_name passes a task present on one side at least"
    name = (new or old or {})["Name"]
    old_t, new_t = old or {}, new or {}
    objects = primitive_object_set_diff(old_t.get("Constraints"), new_t.get("Constraints"), "Constraint", contextual)
    config = None
    if old_t.get("Config") != new_t.get("Config"):
        old_c, new_c = old_t.get("Config") or {}, new_t.get("Config") or {}
        config_kind = ADDED if not old_c else DELETED if not new_c else EDITED
        config = _object(config_kind, "Config", field_diffs(_config_flat(old_c), _config_flat(new_c), contextual))
    objects += [
        d
        for d in (
            config,
            _whole_object_diff(old_t.get("Resources"), new_t.get("Resources"), "Resources", contextual),
            primitive_object_diff(old_t.get("LogConfig"), new_t.get("LogConfig"), (), "LogConfig", contextual),
        )
        if d
    ]
    fields = field_diffs(flatten(old, ("Name", "Config")), flatten(new, ("Name", "Config")), False)
    return {"Type": kind, "Name": name, "Fields": fields, "Objects": objects or None, "Annotations": None}


def _by_name(old: list | None, new: list | None, diff, contextual: bool) -> list[dict] | None:
    """taskGroupDiffs / taskDiffs: matched by name, sorted by name."""
    old_map = {o["Name"]: o for o in old or ()}
    new_map = {n["Name"]: n for n in new or ()}
    names = sorted(set(old_map) | set(new_map))
    return [diff(old_map.get(n), new_map.get(n), contextual) for n in names] or None


def group_diff(old: dict | None, new: dict | None, contextual: bool) -> dict:
    """diff.go TaskGroup.Diff (Updates are the plan's annotations)."""
    kind = ADDED if old is None else DELETED if new is None else EDITED if old != new else NONE
    assert old is not None or new is not None, "_by_name passes a group present on one side at least"
    old_g, new_g = old or {}, new or {}
    old_flat, new_flat = flatten(old, ("Name",)), flatten(new, ("Name",))
    if old_flat is not None and new_flat is not None:
        for flat, group in ((old_flat, old_g), (new_flat, new_g)):
            delay = group.get("ShutdownDelay")
            flat["ShutdownDelay"] = "" if delay is None else str(delay)
    objects = primitive_object_set_diff(old_g.get("Constraints"), new_g.get("Constraints"), "Constraint", contextual)
    for name in _GROUP_OBJECTS:
        if d := primitive_object_diff(old_g.get(name), new_g.get(name), (), name, contextual):
            objects.append(d)
    if d := primitive_object_diff(old_g.get("Update"), new_g.get("Update"), ("Stagger",), "Update", contextual):
        objects.append(d)
    return {
        "Type": kind,
        "Name": (new or old or {})["Name"],
        "Fields": field_diffs(old_flat, new_flat, False),
        "Objects": objects or None,
        "Tasks": _by_name(old_g.get("Tasks"), new_g.get("Tasks"), task_diff, contextual),
        "Updates": None,
    }


def job_diff(old: dict | None, new: dict | None, contextual: bool = True) -> dict:
    """diff.go Job.Diff.  ValueError for jobs of different IDs, as Nomad refuses them."""
    if old is None and new is None:
        return {"Type": NONE, "ID": "", "Fields": None, "Objects": None, "TaskGroups": None}
    if old is not None and new is not None and old["ID"] != new["ID"]:
        raise ValueError(f'can not diff jobs with different IDs: "{old["ID"]}" and "{new["ID"]}"')
    kind = ADDED if old is None else DELETED if new is None else NONE
    old_j, new_j = old or {}, new or {}
    objects = []
    if (d := string_set_diff(old_j.get("Datacenters"), new_j.get("Datacenters"), "Datacenters", contextual)) and d[
        "Type"
    ] != NONE:
        objects.append(d)
    objects += primitive_object_set_diff(old_j.get("Constraints"), new_j.get("Constraints"), "Constraint", contextual)
    for name in ("Periodic", "ParameterizedJob"):
        if d := _whole_object_diff(old_j.get(name), new_j.get(name), name, contextual):
            objects.append(d)
    diff = {
        "Type": kind,
        "ID": (new or old or {})["ID"],  # not both None: returned above
        "Fields": field_diffs(flatten(old, _JOB_FILTER), flatten(new, _JOB_FILTER), False),
        "Objects": objects or None,
        "TaskGroups": _by_name(old_j.get("TaskGroups"), new_j.get("TaskGroups"), group_diff, contextual),
    }
    parts = (diff["Fields"] or []) + (diff["Objects"] or []) + (diff["TaskGroups"] or [])
    if kind == NONE and any(part["Type"] != NONE for part in parts):
        diff["Type"] = EDITED
    return diff


# scheduler/annotate.go: the plan's DesiredTGUpdates as each group's Updates.
_UPDATE_TYPES = (
    ("Ignore", "ignore"),
    ("Place", "create"),
    ("Migrate", "migrate"),
    ("Stop", "destroy"),
    ("Canary", "canary"),
    ("InPlaceUpdate", "in-place update"),
    ("DestructiveUpdate", "create/destroy update"),
)


def annotate(diff: dict, desired_updates: dict[str, dict]) -> dict:
    """scheduler/annotate.go Annotate: each group's Updates, Count's forces create/destroy, and
    each changed task's forces create/destroy, in-place or create/destroy update."""
    for group in diff["TaskGroups"] or ():
        if (counts := desired_updates.get(group["Name"])) is not None:
            updates = {name: counts[key] for key, name in _UPDATE_TYPES if counts.get(key)}
            group["Updates"] = dict(sorted(updates.items()))  # encoding/json sorts a map's keys
        for field in group["Fields"] or ():
            if field["Name"] == "Count":
                old, new = int(field["Old"] or 0), int(field["New"] or 0)
                if old != new:
                    field["Annotations"] = ["forces create" if old < new else "forces destroy"]
        for task in group["Tasks"] or ():
            if task["Type"] != NONE:
                task["Annotations"] = [_task_annotation(task, group)]
    return diff


def _task_annotation(task: dict, group: dict) -> str:
    """annotate.go annotateTask."""
    if group["Type"] in (ADDED, DELETED) and task["Type"] in (ADDED, DELETED):
        return "forces create" if task["Type"] == ADDED else "forces destroy"
    destructive = any(field["Name"] != "KillTimeout" for field in task["Fields"] or ())
    for obj in task["Objects"] or ():
        if destructive:
            break
        if obj["Name"] == "LogConfig":
            destructive = any(field["Name"] == "Disabled" for field in obj["Fields"] or ())
        elif obj["Name"] not in ("Service", "Constraint", "Affinity", "Spread"):
            destructive = True
    return "forces create/destroy update" if destructive else "forces in-place update"
