"""Consoles and shells in the TUI, driven by Pilot against the real embedded agent: detaching and
returning, ending a detached console, a shell in another task's allocation, the alternate screen."""

from __future__ import annotations

import pytest

from tapit.params import build_spec
from tapit.service import TaskService
from tapit.tui.app import TapitApp
from tapit.tui.console_pane import ConsoleScreen, SessionScreen, TerminalView
from tapit.tui.shell_pane import ShellScreen

from .conftest import wait_for

SIZE = (140, 40)
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def shown(screen: SessionScreen) -> str:
    return "\n".join(screen.query_one(TerminalView).screen_.display)


async def until_live(pilot, app):
    await wait_for(pilot, lambda: app.state in ("live", "polling"), timeout=60)


async def open_console(pilot, app) -> ConsoleScreen:
    await pilot.press("c", "enter")  # the console form, with `sh` filled in
    await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.screen.session is not None, 60)
    return app.screen


async def select(pilot, app, task_id: str) -> None:
    await wait_for(pilot, lambda: task_id in app.table.records, timeout=60)
    app.table.select_task(task_id)
    await pilot.pause()


async def test_a_detached_console_runs_on_and_e_returns_to_it_then_x_ends_it(tapit_home):
    app = TapitApp(TaskService.from_environment())
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        console = await open_console(pilot, app)
        await pilot.press(*"sleep 1; echo after-$((20+22))", "enter")
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(pilot, lambda: not isinstance(app.screen, SessionScreen))
        task_id = console.task_id
        assert app.sessions.find(task_id) is console and console.session is not None
        await wait_for(pilot, lambda: "after-42" in shown(console))  # it ran on while detached

        await select(pilot, app, task_id)
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen is console)
        await pilot.press(*"echo back-$((1+1))", "enter")
        await wait_for(pilot, lambda: "back-2" in shown(console))
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(pilot, lambda: app.screen is not console)

        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: console.finished, timeout=60)
        await wait_for(pilot, lambda: app.sessions.find(task_id) is None and not console.is_attached)
        record = app.service.history.get(task_id)
        assert (record.status, record.reason, record.exit_code) == ("stopped", "ended from the task list", None)


async def test_quitting_ends_a_detached_console(tapit_home):
    service = TaskService.from_environment()
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        console = await open_console(pilot, app)
        await pilot.press("ctrl+right_square_bracket")
        await wait_for(pilot, lambda: not isinstance(app.screen, SessionScreen))
        task_id = console.task_id
        await pilot.press("q")
        await wait_for(pilot, lambda: console.finished, timeout=60)
    record = service.history.get(task_id)
    assert (record.status, record.reason) == ("stopped", "the TUI quit")


async def test_e_opens_a_shell_in_the_tasks_allocation_and_the_alternate_screen_gives_the_shell_back(tapit_home):
    service = TaskService.from_environment()
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        task = service.create(build_spec("sleep 300", {}, service.config, "tester@tui"))
        await select(pilot, app, task.id)
        await wait_for(pilot, lambda: app.table.records[task.id].status == "running", timeout=60)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ShellScreen) and app.screen.session is not None, 60)
        shell = app.screen
        alloc_id = app.table.records[task.id].nomad_alloc_id
        await pilot.press(*'echo "alloc=$NOMAD_ALLOC_ID"', "enter")
        await wait_for(pilot, lambda: f"alloc={alloc_id}" in shown(shell))

        # A full-screen program's frame goes when it leaves, and the shell's screen comes back.
        await pilot.press(*"printf '\\033[?1049h\\033[2JFULL-%s\\033[?1049l' SCREEN; echo done-$((3*3))", "enter")
        await wait_for(pilot, lambda: "done-9" in shown(shell))
        assert "FULL-SCREEN" not in shown(shell) and f"alloc={alloc_id}" in shown(shell)

        await pilot.press(*"exit 3", "enter")
        await wait_for(pilot, lambda: shell.finished, timeout=60)
        assert "exited with code 3" in shown(shell)
        await pilot.press("q")  # any key closes the finished shell
        await wait_for(pilot, lambda: not isinstance(app.screen, SessionScreen))
        assert service.refresh(app.table.records[task.id]).status == "running"  # the task itself runs on


async def test_e_on_a_task_that_is_not_running_says_why(tapit_home):
    service = TaskService.from_environment()
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        task = service.create(build_spec("true", {}, service.config, "tester@tui"))
        await select(pilot, app, task.id)
        await wait_for(pilot, lambda: app.table.records[task.id].terminal, timeout=60)
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, SessionScreen)
        assert any("a shell needs it running" in str(n.message) for n in app._notifications)
