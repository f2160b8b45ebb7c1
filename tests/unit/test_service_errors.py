"""The service raises only tapit's own errors: whatever the Nomad client meets reaches the CLI and
the TUI as a TapitError with one line naming the address (RuntimeUnavailable, exit code 3), or as
a ConsoleError for a console's session. Nomad here is a port nothing listens on (a real refusal)."""

import asyncio

import pytest

from tapit.config import AppConfig
from tapit.errors import RuntimeUnavailable
from tapit.model import TaskRecord
from tapit.nomad.settings import NomadSettings
from tapit.service import Connection, TaskService
from tapit.service.consoles import Console, ConsoleError
from tapit.service.history import History

NOWHERE = "http://127.0.0.1:9"  # the discard port: refused on loopback


def service_at(address: str, home) -> TaskService:
    return TaskService(History(home), AppConfig(), lambda: Connection(NomadSettings(address=address)))


def running(task_id: str = "0a1b2c3d") -> TaskRecord:
    return TaskRecord(
        id=task_id,
        command="sleep 60",
        status="running",
        image=None,
        docker_tag=None,
        memory_gb=0.5,
        cpu=0.25,
        max_hours=None,
        ephemeral_storage_gb=1.0,
        initiated_by="alice",
        created_at="2026-01-01T12:00:00.000Z",
        nomad_job_id=f"tapit-{task_id}",
        nomad_namespace="default",
        nomad_alloc_id="5e4b1a0c-0000-0000-0000-000000000000",
    )


@pytest.mark.parametrize(
    "address, reason", [(NOWHERE, "connection refused"), ("garbage", "the address must look like")]
)
def test_reads_for_the_tui_raise_runtime_unavailable(tmp_path, address, reason):
    service = service_at(address, tmp_path)
    record = running()
    service.history.add(record)
    calls = {
        "usage": lambda: service.usage(record),
        "placement": lambda: service.placement(record),
        "changes": lambda: next(service.changes()),
        "list": lambda: service.list(),
        "show": lambda: service.show(record.id),
    }
    for name, call in calls.items():
        with pytest.raises(RuntimeUnavailable) as caught:
            call()
        assert f"cannot reach Nomad at {address}: {reason}" in str(caught.value), name


def test_a_console_session_nomad_refuses_is_a_console_error(tmp_path):
    service = service_at(NOWHERE, tmp_path)
    console = Console(service, running())
    console.alloc_id = console.record.nomad_alloc_id

    async def attach():
        async with console.session(tty=False):
            pass

    with pytest.raises(ConsoleError, match=f"cannot reach Nomad at {NOWHERE}: connection refused"):
        asyncio.run(attach())
