"""How tasks look on a terminal and in `--json` (pure)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from tapit.model import TaskRecord, exit_status, parse_iso

# What `--json` promises scripts; extra record fields stay internal.
JSON_FIELDS = (
    "id",
    "status",
    "exit_code",
    "command",
    "image",
    "docker_tag",
    "memory_gb",
    "cpu",
    "max_hours",
    "ephemeral_storage_gb",
    "initiated_by",
    "created_at",
    "started_at",
    "finished_at",
    "nomad_job_id",
    "nomad_namespace",
    "nomad_alloc_id",
    "node_name",
    "kind",
    "reason",
    "error",
    "logs_lost_bytes",
)


def printable(text: str) -> str:
    """Text safe to print on a terminal: control characters shown as escapes, never obeyed.

    Commands and initiators come from anyone who can submit a Nomad job; printed raw, an
    escape sequence in one could retitle the window or clear the screen.
    """
    if text.isprintable():  # nearly always: a listing of thousands should not pay per character
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def one_line(text: str) -> str:
    return printable(" ".join(text.split()))


def _escape(ch: str) -> str:
    return {"\n": "\\n", "\t": "\\t", "\x1b": "\\e"}.get(ch) or ascii(ch)[1:-1]


def task_json(record: TaskRecord) -> dict:
    data = record.to_dict()
    return {key: data[key] for key in JSON_FIELDS}


def dumps(value) -> str:
    return json.dumps(value, indent=2)


def age(iso: str | None, now: datetime | None = None) -> str:
    if not iso:
        return "-"
    return human_duration(((now or datetime.now(timezone.utc)) - parse_iso(iso)).total_seconds())


def duration(record: TaskRecord, now: datetime | None = None) -> str:
    if not record.started_at:
        return "-"
    end = parse_iso(record.finished_at) if record.finished_at else (now or datetime.now(timezone.utc))
    return human_duration((end - parse_iso(record.started_at)).total_seconds())


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def resources(record: TaskRecord) -> str:
    return f"{record.cpu:g} vCPU / {record.memory_gb:g} GB"


def exit_text(record: TaskRecord) -> str:
    return "-" if record.exit_code is None else str(record.exit_code)


def task_table(records: list[TaskRecord], width: int = 120, now: datetime | None = None) -> str:
    headers = ("ID", "STATUS", "EXIT", "AGE", "DURATION", "RESOURCES", "INITIATED BY", "COMMAND")
    rows = [
        (
            r.id,
            r.status,
            exit_text(r),
            age(r.created_at, now),
            duration(r, now),
            resources(r),
            printable(r.initiated_by),
            one_line(r.command),
        )
        for r in records
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fixed = sum(widths[:-1]) + 2 * (len(headers) - 1)
    widths[-1] = max(len(headers[-1]), min(widths[-1], width - fixed))
    return "\n".join("  ".join(map(fit, row, widths)).rstrip() for row in (headers, *rows))


def usage_json(usage) -> dict:
    if usage is None:
        return {}
    return {"usage": {"memory_bytes": usage.memory_bytes, "cpu_percent": round(usage.cpu_percent, 1)}}


def why_it_ended(record: TaskRecord) -> str:
    """The exit code and the reason, in words."""
    if record.error:
        return f"never ran: {printable(record.error)}"
    if not record.terminal:
        return printable(record.reason or "") or ("running" if record.status == "running" else "waiting to start")
    code = exit_text(record)
    if record.status == "complete":
        return f"exited {code}"
    reason = printable(record.reason or "") or record.status
    return f"{reason}; exit code {code} (tapit reports {exit_status(record)})"


def detail_rows(record: TaskRecord, now: datetime | None = None, node: str | None = None) -> list[tuple[str, str]]:
    """The fields of one task, as `show task` prints them and the TUI's details pane shows them;
    values are plain text, already safe to print.  `node` is the allocation's, when the record
    has none yet."""
    max_hours = "no limit" if record.max_hours is None else f"{record.max_hours:g}"
    if record.deadline_at:
        max_hours += f" (deadline {record.deadline_at})"
    rows = [
        ("Task", f"{record.id} ({record.kind})"),
        ("Status", record.status),
        ("Exit", why_it_ended(record)),
        ("Command", printable(record.command)),
        ("Initiated by", printable(record.initiated_by)),
        (
            "Image",
            printable(record.image or "- (host process)")
            + (f" (tag {printable(record.docker_tag)})" if record.docker_tag else ""),
        ),
        ("Resources", f"{record.cpu:g} vCPU, {record.memory_gb:g} GB memory, {record.ephemeral_storage_gb:g} GB disk"),
        *([("Disk limit", printable(record.disk_limit))] if record.disk_limit else []),
        ("Max hours", max_hours),
        ("Created", f"{record.created_at} ({age(record.created_at, now)} ago)"),
        ("Started", record.started_at or "-"),
        ("Finished", record.finished_at or "-"),
        ("Duration", duration(record, now)),
        ("Nomad job", f"{record.nomad_job_id} (namespace {record.nomad_namespace})"),
        ("Allocation", record.nomad_alloc_id or "-"),
        ("Node", printable(record.node_name or node or "-")),
    ]
    if record.stop_requested_by:
        rows.append(("Stop asked by", printable(record.stop_requested_by)))
    if record.error:
        rows.append(("Error", printable(record.error)))
    logs = "archived in the history" if record.logs_archived else "live from Nomad"
    lost = ", ".join(f"{count:,} bytes of {log_type}" for log_type, count in record.logs_lost_bytes.items())
    rows.append(("Logs", f"{logs}; missing {lost}, rotated away before they were read" if lost else logs))
    return rows


def task_details(record: TaskRecord, usage=None, now: datetime | None = None) -> str:
    fields = detail_rows(record, now)
    if usage is not None:
        fields.append(
            ("Using now", f"{usage.memory_bytes / 1024 / 1024:.1f} MB memory, {usage.cpu_percent:.0f}% of a CPU")
        )
    label = max(len(name) for name, _ in fields)
    return "\n".join(f"{name + ':':<{label + 1}} {value}" for name, value in fields)


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` columns: padded, or clipped with an ellipsis."""
    return text.ljust(width) if len(text) <= width else text[: max(0, width - 1)] + "…"
