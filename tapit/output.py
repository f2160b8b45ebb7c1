"""How tasks look on a terminal and in `--json` (pure)."""

from __future__ import annotations

import json
import re
import signal
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
    "work_dir",
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
    data["exit_code"] = exit_code(record)
    return {key: data[key] for key in JSON_FIELDS}


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


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


def exit_code(record: TaskRecord) -> int | None:
    """The one exit code of a finished task, the one `--wait` exits with (None while it runs)."""
    return exit_status(record) if record.terminal else None


def exit_text(record: TaskRecord) -> str:
    code = exit_code(record)
    return "-" if code is None else str(code)


def task_table(records: list[TaskRecord], width: int | None = None, now: datetime | None = None) -> str:
    """The task list, every value whole, or fitted to `width` cells (a terminal's) by clipping the
    widest columns with "…"."""
    headers = ("ID", "STATUS", "EXIT", "AGE", "DURATION", "RESOURCES", "INITIATED BY", "COMMAND")
    rows = [
        (
            printable(r.id),
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
    widths = [max(len(h), *(cell_width(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if width is not None:
        # Only the free text (initiator, command) is clipped: an id, a status or a figure cut short is no use.
        least = [1 if h in ("INITIATED BY", "COMMAND") else w for h, w in zip(headers, widths)]
        widths = fit_widths(widths, least, width - 2 * (len(headers) - 1))
    return "\n".join("  ".join(map(fit, row, widths)).rstrip() for row in (headers, *rows))


def fit_widths(widths: list[int], least: list[int], room: int) -> list[int]:
    """Column widths that fit `room` cells: the widest columns are cut to one common width, the
    narrow ones kept whole; none below its `least`, so a terminal too narrow even for those
    still gets every column, wider than the terminal."""
    if sum(widths) <= room:
        return widths
    low, high = 0, max(widths)  # the largest common cap that fits: a binary search on it
    while low < high:
        cap = (low + high + 1) // 2
        if sum(max(lo, min(w, cap)) for w, lo in zip(widths, least)) <= room:
            low = cap
        else:
            high = cap - 1
    capped = [max(lo, min(w, low)) for w, lo in zip(widths, least)]
    # Cells the common cap leaves over go to the columns it cut, leftmost first.
    spare = room - sum(capped)
    for i, (w, c) in enumerate(zip(widths, capped)):
        if spare > 0 and w > c:
            extra = min(spare, w - c)
            capped[i] += extra
            spare -= extra
    return capped


def cell_width(text: str) -> int:
    """The cells `text` takes on a terminal (wide characters take two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def usage_json(usage) -> dict:
    if usage is None:
        return {}
    return {"usage": {"memory_bytes": usage.memory_bytes, "cpu_percent": round(usage.cpu_percent, 1)}}


# nomad/structs/structs.go TaskEvent.PopulateEventDisplayMessage: a Terminated event reads
# "Exit Code: N[, Signal: S][, Exit Message: "..."]"; the code and signal are said once, by tapit.
_NOMAD_EXIT_PARTS = re.compile(r"^(?:Exit Code: -?\d+|Signal: -?\d+)$")


def why_it_ended(record: TaskRecord) -> str:
    """The exit code, then why in words, then the process's own code or signal when they differ."""
    if record.error:
        return f"never ran: {printable(record.error)}"
    if not record.terminal:
        return printable(record.reason or "") or ("running" if record.status == "running" else "waiting to start")
    code = exit_status(record)
    if record.status == "complete":
        return f"exited {code}"
    text = f"exit code {code}"
    reason = ", ".join(p for p in (record.reason or "").split(", ") if not _NOMAD_EXIT_PARTS.match(p))
    if reason:
        text += f": {printable(reason)}"
    own = record.exit_code
    # drivers/shared/executor/executor.go: a process ended by a signal exits 128 + the signal's number.
    killed_by = _signal_name(own - 128) if own is not None and own > 128 else None
    if own is not None and own != code:
        text += f"; the process got {killed_by} (exit {own})" if killed_by else f"; the process exited {own}"
    elif killed_by:
        text += f"; signal {killed_by}"
    return text


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def detail_rows(record: TaskRecord, now: datetime | None = None, node: str | None = None) -> list[tuple[str, str]]:
    """The fields of one task, as `show task` prints them and the TUI's details pane shows them;
    values are plain text, already safe to print (every field may come from a job anyone submitted).
    `node` is the allocation's, when the record has none yet."""
    max_hours = "no limit" if record.max_hours is None else f"{record.max_hours:g}"
    if record.deadline_at:
        max_hours += f" (deadline {record.deadline_at})"
    rows = [
        ("Task", f"{record.id} ({record.kind})"),
        ("Status", record.status),
        ("Exit", why_it_ended(record)),
        ("Command", record.command),
        ("Initiated by", record.initiated_by),
        ("Image", (record.image or "- (host process)") + (f" (tag {record.docker_tag})" if record.docker_tag else "")),
        ("Resources", f"{record.cpu:g} vCPU, {record.memory_gb:g} GB memory, {record.ephemeral_storage_gb:g} GB disk"),
        *([("Disk limit", record.disk_limit)] if record.disk_limit else []),
        *([("Directory", record.work_dir)] if record.work_dir else []),
        ("Max hours", max_hours),
        ("Created", f"{record.created_at} ({age(record.created_at, now)} ago)"),
        ("Started", record.started_at or "-"),
        ("Finished", record.finished_at or "-"),
        ("Duration", duration(record, now)),
        ("Nomad job", f"{record.nomad_job_id} (namespace {record.nomad_namespace})"),
        ("Allocation", record.nomad_alloc_id or "-"),
        ("Node", record.node_name or node or "-"),
    ]
    if record.stop_requested_by:
        rows.append(("Stop asked by", record.stop_requested_by))
    if record.error:
        rows.append(("Error", record.error))
    logs = "archived in the history" if record.logs_archived else "live from Nomad"
    lost = ", ".join(f"{count:,} bytes of {log_type}" for log_type, count in record.logs_lost_bytes.items())
    rows.append(("Logs", f"{logs}; missing {lost}, rotated away before they were read" if lost else logs))
    return [(name, printable(value)) for name, value in rows]


def task_details(record: TaskRecord, usage=None, now: datetime | None = None) -> str:
    fields = detail_rows(record, now)
    if usage is not None:
        fields.append(
            ("Using now", f"{usage.memory_bytes / 1024 / 1024:.1f} MB memory, {usage.cpu_percent:.0f}% of a CPU")
        )
    label = max(len(name) for name, _ in fields)
    return "\n".join(f"{name + ':':<{label + 1}} {value}" for name, value in fields)


def fit(text: str, width: int) -> str:
    """Exactly `width` cells: padded, or cut with an ellipsis (wide characters take two cells)."""
    if width < 1:
        return ""
    if text.isascii():
        return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"
    from rich.cells import cell_len, set_cell_size  # only for text that holds wide characters

    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"
