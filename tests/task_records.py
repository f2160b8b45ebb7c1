"""A task record to start from in tests, with only the fields a test cares about changed."""

from dataclasses import replace

from tapit.model import TaskRecord


def task_record(task_id: str = "3f2a9c01", created_at: str = "2026-12-02T03:00:00.000Z", **changes) -> TaskRecord:
    base = TaskRecord(
        id=task_id,
        command="python manage.py migrate",
        status="pending",
        image="registry/app:1",
        docker_tag=None,
        memory_gb=0.5,
        cpu=0.25,
        max_hours=2.0,
        ephemeral_storage_gb=1.0,
        initiated_by="ana@laptop",
        created_at=created_at,
        nomad_job_id=f"tapit-{task_id}",
        nomad_namespace="default",
    )
    return replace(base, **changes)
