"""The finished task the benchmarks fill histories and trails with."""

from __future__ import annotations

from tapit.model import TaskRecord


def finished_task(n: int, created_at: str = "2026-11-01T00:00:00.000Z") -> TaskRecord:
    return TaskRecord(
        id=f"{n:08x}",
        command=f"bin/job --n {n}",
        status="complete",
        image=None,
        docker_tag=None,
        memory_gb=0.5,
        cpu=0.25,
        max_hours=None,
        ephemeral_storage_gb=1,
        initiated_by="bench@host",
        created_at=created_at,
        started_at="2026-11-01T00:00:01.000Z",
        finished_at="2026-11-01T00:00:02.000Z",
        nomad_job_id=f"tapit-bench-{n:08x}",
        nomad_namespace="default",
        exit_code=0,
    )
