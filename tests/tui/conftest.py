"""TUI fixtures: a history written directly for snapshots, and Pilot helpers for the real agent."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tapit.config import AppConfig
from tapit.errors import RuntimeUnavailable
from tapit.service.history import History
from tapit.model import TaskRecord
from tapit.service import TaskService

FIXED_NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def fixed_clock() -> datetime:
    return FIXED_NOW


def record(task_id: str, status: str, command: str, created: str, **fields) -> TaskRecord:
    base = dict(
        image=None,
        docker_tag=None,
        memory_gb=0.5,
        cpu=0.25,
        max_hours=None,
        ephemeral_storage_gb=1.0,
        initiated_by="alice@laptop",
        nomad_job_id=f"tapit-{task_id}",
        nomad_namespace="default",
    )
    base.update(fields)
    return TaskRecord(id=task_id, command=command, status=status, created_at=created, **base)


SAMPLE = [
    record(
        "0a1b2c3d",
        "running",
        "rake db:migrate",
        "2026-01-01T11:58:00.000Z",
        started_at="2026-01-01T11:58:02.000Z",
        node_name="node-1",
        initiated_by="bob@ci",
    ),
    record(
        "1b2c3d4e",
        "complete",
        "python manage.py send_digest --dry-run",
        "2026-01-01T11:40:00.000Z",
        started_at="2026-01-01T11:40:01.000Z",
        finished_at="2026-01-01T11:41:31.000Z",
        exit_code=0,
        node_name="node-1",
        logs_archived=True,
        memory_gb=2.0,
        cpu=1.0,
    ),
    record(
        "2c3d4e5f",
        "failed",
        "./bin/reindex --all",
        "2026-01-01T10:00:00.000Z",
        started_at="2026-01-01T10:00:03.000Z",
        finished_at="2026-01-01T10:05:00.000Z",
        exit_code=137,
        reason="killed: out of memory (limit 512 MB)",
        node_name="node-2",
        logs_archived=True,
    ),
    record(
        "3d4e5f60",
        "stopped",
        "sleep 3600",
        "2026-01-01T09:00:00.000Z",
        started_at="2026-01-01T09:00:01.000Z",
        finished_at="2026-01-01T09:10:00.000Z",
        exit_code=143,
        reason="stopped by carol@desk",
        stop_requested_by="carol@desk",
        logs_archived=True,
    ),
    record("4e5f6071", "pending", "echo waiting for a node", "2026-01-01T11:59:50.000Z"),
]


def no_nomad():
    raise RuntimeUnavailable("snapshot tests never talk to Nomad")


def history_service(directory: Path, records: list[TaskRecord] = SAMPLE) -> TaskService:
    """A service over a history written directly: snapshots need no Nomad, and its connection refuses."""
    history = History(directory)
    for item in records:
        history.add(item)
    history.archive_logs(
        "1b2c3d4e",
        {
            "stdout": b"".join(b"digest %d: \x1b[32msent\x1b[0m to user%d@example.com\n" % (i, i) for i in range(30)),
            "stderr": b"\x1b[33mwarning\x1b[0m: 2 users have no address\n",
        },
    )
    return TaskService(history, AppConfig(), no_nomad)


async def wait_for(pilot, predicate, timeout: float = 30.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the UI")
        await pilot.pause(step)


@pytest.fixture
def steady_initiator(monkeypatch):
    monkeypatch.setattr("tapit.tui.task_actions.default_initiator", lambda: "alice@laptop")


@pytest.fixture
def no_blink(monkeypatch):
    """A blinking cursor makes snapshots depend on timing."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def screen_lines(app) -> list[str]:
    """The text of every row the terminal would show now, from the compositor's strips
    (Textual has no public call for the plain text of a screen)."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def burst(app, *keys: str) -> None:
    """Keys as a terminal delivers a quick typist's: all queued before the app handles the first.
    Each is a character or, as for Pilot.press, a key name (only those below)."""
    from textual import events
    from textual.keys import _character_to_key

    named = {"enter": "\r", "escape": "\x1b", "tab": "\t"}
    for key in keys:
        for character in [named[key]] if key in named else key:
            name = key if key in named else character if character.isalnum() else _character_to_key(character)
            event = events.Key(name, character)
            event.set_sender(app)  # as the driver does
            app.post_message(event)
