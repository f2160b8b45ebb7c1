"""The task record (one entry of the audit trail, and what `--json` prints), and the other typed
results the service hands the CLI and the TUI."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

TERMINAL = frozenset({"complete", "failed", "stopped", "timed_out", "lost"})


@dataclass
class TaskRecord:
    id: str
    command: str
    status: str
    image: str | None
    docker_tag: str | None
    memory_gb: float
    cpu: float
    max_hours: float | None
    ephemeral_storage_gb: float
    initiated_by: str
    created_at: str
    nomad_job_id: str
    nomad_namespace: str
    kind: str = "task"  # "task" or "console"
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    nomad_alloc_id: str | None = None
    node_name: str | None = None
    # Why it ended, or why it has not started, in words (OOM kill, placement failure, deadline…).
    reason: str | None = None
    # Set when submission itself failed: the task stays in the trail with the error.
    error: str | None = None
    # tapit's own deadline, enforced even where Nomad has no max_run_duration.
    deadline_at: str | None = None
    stop_requested_by: str | None = None
    logs_archived: bool = False
    # How the embedded agent held the task to its ephemeral disk (its Task Setup event says).
    disk_limit: str | None = None
    # Where a host task on the embedded agent started: the directory it was created from.
    work_dir: str | None = None
    # Bytes of each log that Nomad's rotation removed before tapit could read them ({"stdout": n}):
    # the archive lacks them, and every replay says so.
    logs_lost_bytes: dict[str, int] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TaskRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Usage:
    """What a running task uses now."""

    memory_bytes: int
    cpu_percent: float  # of one core, as Nomad reports it
    cpu_mhz: float  # in the unit the task reserved its CPU in


@dataclass(frozen=True)
class TaskEvent:
    """One step of the task's life as Nomad recorded it (started, killed, terminated...)."""

    at: datetime
    type: str
    message: str


@dataclass(frozen=True)
class Placement:
    """Where the task was placed and with what, and the events of its life there."""

    node_name: str | None
    cpu_mhz: int | None  # the CPU it was placed with
    events: tuple[TaskEvent, ...]


@dataclass(frozen=True)
class JobChanges:
    """One message of the live feed: the tapit jobs it changed, and where the feed has got to."""

    index: int
    job_ids: tuple[str, ...]


def new_task_id() -> str:
    """Eight hex digits: short enough to type, and 4 billion values make collisions negligible."""
    return secrets.token_hex(4)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def exit_status(record: TaskRecord) -> int:
    """The exit code tapit gives for a finished task: its own code, or the shell convention for a kill."""
    if record.status == "complete":
        return record.exit_code or 0
    if record.status == "timed_out":
        return 124  # as coreutils `timeout` does
    if record.exit_code and record.exit_code > 0:
        return record.exit_code
    if record.status == "stopped":
        return 143  # 128 + SIGTERM, as a shell reports a terminated job
    return 1
