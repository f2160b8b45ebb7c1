"""A task's record as the cluster keeps it: one Nomad Variable per task, and the merge that lets
several writers (CLIs, TUIs, archivists) agree on it.

Layout, in the task's namespace:
- `tapit/task/<task-id>`: the record. Its items are flat strings (Nomad's VariableItems is a
  map[string]string), readable with `nomad var get tapit/task/<id>` and in Nomad's UI.
- `tapit/recent/<13 digits>-<task-id>`: a pointer written once, when the task is created. Nomad
  lists variables only in ascending path order (nomad/state/state_store_variables.go
  GetVariablesByNamespaceAndPrefix walks the (Namespace, Path) id index; `reverse` in
  nomad/variables_endpoint.go only flips the paginator's token comparison), and a list answers
  metadata only, never items (structs.VariablesListResponse). The digits are 10**13 minus the
  creation time in milliseconds, so ascending is newest first and the newest N tasks are one
  `GET /v1/vars?prefix=tapit/recent/&per_page=N` however long the trail grows.

Pure: no I/O here (tapit/service/trail.py reads and writes them).
"""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace

from tapit.model import TaskRecord, parse_iso

RECORD_PREFIX = "tapit/task/"
RECENT_PREFIX = "tapit/recent/"
SCHEMA = "1"
# nomad/structs/variables.go maxVariableSize: VariableItems.Size() sums len(key) + len(value), in
# bytes, over the items; a variable above it is refused ("variables are limited to 64KiB in total size").
MAX_ITEMS_BYTES = 65536
# A path component: validVariablePath (`^[a-zA-Z0-9-_~/]{1,128}$`, nomad/structs/variables.go) less
# the "/" that separates components. tapit's ids are 8 hex digits; anything else a user types
# names no record.
TASK_ID = re.compile(r"^[a-zA-Z0-9_~-]{1,64}$")
RECENT_EPOCH_MS = 10**13  # past the year 2286: 13 digits hold every creation time before it
TRUNCATED = " …[truncated]"

# TaskRecord field -> item key. Short keys an admin reading `nomad var get` understands; the local
# logs_archived flag is this machine's own, never the cluster's.
ITEM_KEYS = {
    "id": "id",
    "kind": "kind",
    "status": "status",
    "exit_code": "exit_code",
    "reason": "reason",
    "error": "error",
    "command": "command",
    "initiated_by": "initiated_by",
    "image": "image",
    "docker_tag": "docker_tag",
    "memory_gb": "memory_gb",
    "cpu": "cpu",
    "max_hours": "max_hours",
    "ephemeral_storage_gb": "ephemeral_storage_gb",
    "created_at": "created",
    "started_at": "started",
    "finished_at": "finished",
    "deadline_at": "deadline",
    "nomad_namespace": "namespace",
    "nomad_job_id": "job_id",
    "nomad_alloc_id": "alloc_id",
    "node_name": "node",
    "stop_requested_by": "stopped_by",
    "disk_limit": "disk_limit",
    "logs_lost_bytes": "logs_lost_bytes",
    "peak_memory_bytes": "peak_memory_bytes",
    "cpu_seconds": "cpu_seconds",
    "logs_url": "logs_url",
    "logs_sha256": "logs_sha256",
    "logs_bytes": "logs_bytes",
    "logs_error": "logs_error",
    "tail": "tail",
}
INTS = frozenset({"exit_code", "peak_memory_bytes", "logs_bytes"})
FLOATS = frozenset({"memory_gb", "cpu", "max_hours", "ephemeral_storage_gb", "cpu_seconds"})
# Required by TaskRecord; a record an older or foreign writer left without them still reads.
DEFAULTS = {
    "command": "",
    "status": "unknown",
    "image": None,
    "docker_tag": None,
    "memory_gb": 0.0,
    "cpu": 0.0,
    "max_hours": None,
    "ephemeral_storage_gb": 0.0,
    "initiated_by": "",
    "created_at": "",
    "nomad_job_id": "",
    "nomad_namespace": "default",
}

# How far a task has got. A write never takes a record back to a lower rank; every ended status
# (complete, failed, stopped, timed_out, and lost, which Nomad reports with evidence) ranks top.
STATUS_RANK = {"submitting": 0, "pending": 1, "running": 2, "unknown": 3}
ENDED_RANK = 4
# The fields that describe the status: they change with it, and only with it.
STATUS_FIELDS = ("status", "exit_code", "reason", "error")
# Fields that only grow: the larger value wins whoever writes it.
GROWING_FIELDS = ("peak_memory_bytes", "cpu_seconds")


def valid_task_id(task_id: str) -> bool:
    return bool(TASK_ID.match(task_id))


def record_path(task_id: str) -> str:
    if not valid_task_id(task_id):
        raise ValueError(f"{task_id!r} cannot name a variable path component")
    return RECORD_PREFIX + task_id


def recent_path(task_id: str, created_at: str) -> str:
    """The pointer's path: ascending order of these is newest first."""
    created_ms = int(parse_iso(created_at).timestamp() * 1000)
    return f"{RECENT_PREFIX}{RECENT_EPOCH_MS - created_ms:013d}-{record_path(task_id)[len(RECORD_PREFIX) :]}"


def task_id_of_recent(path: str) -> str | None:
    """The task a pointer's path names; None for a path that is not one of tapit's pointers."""
    if not path.startswith(RECENT_PREFIX):
        return None
    _, _, task_id = path[len(RECENT_PREFIX) :].partition("-")
    return task_id if valid_task_id(task_id) else None


def recent_items(task_id: str) -> dict[str, str]:
    # Nomad refuses a variable without items ("variable missing required Items object").
    return {"task": task_id, "record": record_path(task_id)}


def items_size(items: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in items.items())


def to_items(record: TaskRecord) -> dict[str, str]:
    """The record as a variable's items, within Nomad's 64 KiB: the tail of the output gives way
    first (its oldest lines), then the command's end."""
    items = {"schema": SCHEMA}
    for name, key in ITEM_KEYS.items():
        value = getattr(record, name)
        if value is None or (name == "logs_lost_bytes" and not value):
            continue
        if name == "logs_lost_bytes":
            items[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
        elif isinstance(value, float):
            items[key] = repr(value)
        else:
            items[key] = str(value)
    over = items_size(items) - MAX_ITEMS_BYTES
    if over > 0 and "tail" in items:
        items["tail"] = _last_lines(items["tail"], len(items["tail"].encode()) - over)
        if not items["tail"]:
            del items["tail"]
        over = items_size(items) - MAX_ITEMS_BYTES
    if over > 0:
        keep = len(items["command"].encode()) - over - len(TRUNCATED.encode())
        items["command"] = _first_bytes(items["command"], keep) + TRUNCATED
    return items


def from_items(items: dict[str, str]) -> TaskRecord:
    values: dict = dict(DEFAULTS)
    names = {f.name for f in fields(TaskRecord)}
    for name, key in ITEM_KEYS.items():
        text = items.get(key)
        if text is None or name not in names:
            continue
        try:
            if name in INTS:
                values[name] = int(text)
            elif name in FLOATS:
                values[name] = float(text)
            elif name == "logs_lost_bytes":
                values[name] = {str(k): int(v) for k, v in json.loads(text).items()}
            else:
                values[name] = text
        except (ValueError, TypeError, AttributeError):
            continue  # a field a hand edit broke: the rest of the record still reads
    if "id" not in values:
        raise ValueError("the variable has no task id")
    return TaskRecord(**values)


def rank(status: str) -> int:
    return STATUS_RANK.get(status, ENDED_RANK)


def merge(current: TaskRecord, incoming: TaskRecord) -> TaskRecord:
    """What the record becomes when `incoming` is written over `current`.

    A status of a higher rank takes the status fields whole (a finished task's reason replaces the
    waiting one's); one of a lower rank changes none of them. Other fields take the incoming value
    unless it is empty, except once the task has ended, when fields are only filled, never
    changed: the first writer to see the end is as right as any later one. The usage figures keep
    the largest value, the lost-bytes counts their largest per log, and the log store's error is
    its latest word (_logs_error)."""
    ended = rank(current.status) == ENDED_RANK
    climbs = rank(incoming.status) > rank(current.status)
    keeps_up = climbs or (rank(incoming.status) == rank(current.status) and not ended)
    changes: dict = {}
    for f in fields(TaskRecord):
        name = f.name
        old, new = getattr(current, name), getattr(incoming, name)
        if name in STATUS_FIELDS:
            if climbs or new is not None and (keeps_up or (old is None and incoming.status == current.status)):
                changes[name] = new
        elif name in GROWING_FIELDS:
            if new is not None and (old is None or new > old):
                changes[name] = new
        elif name == "logs_lost_bytes":
            changes[name] = {k: max(old.get(k, 0), new.get(k, 0)) for k in {*old, *new}}
        elif name == "logs_archived":
            changes[name] = old or new
        elif name == "logs_error":
            changes[name] = _logs_error(current, incoming)
        elif not _empty(new) and (_empty(old) or keeps_up):
            changes[name] = new
    return replace(current, **changes)


def _logs_error(current: TaskRecord, incoming: TaskRecord) -> str | None:
    """The store's latest word on the logs. A shipment (it says where the logs are) is the newest
    word, so a later complete one clears an earlier error; a failed attempt replaces an older
    error; nothing undoes a complete shipment."""
    if current.logs_url and current.logs_error is None:
        return None
    if incoming.logs_url:
        return incoming.logs_error
    return incoming.logs_error or current.logs_error


def _empty(value) -> bool:
    return value is None or value == "" or value == {}


def _last_lines(text: str, budget: int) -> str:
    """The end of `text` that fits in `budget` bytes, from a line's start where one fits."""
    if budget <= 0:
        return ""
    data = text.encode()
    if len(data) <= budget:
        return text
    end = data[-budget:]
    newline = end.find(b"\n")
    if 0 <= newline < len(end) - 1:
        end = end[newline + 1 :]
    return end.decode(errors="ignore")


def _first_bytes(text: str, budget: int) -> str:
    return text.encode()[: max(0, budget)].decode(errors="ignore")
