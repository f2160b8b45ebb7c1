"""What a person does with the TUI, driven by Pilot against the real embedded agent.

Each test has its own TAPIT_HOME with NOMAD_ADDR unset (the `tapit_home`
fixture), so the app starts its own agent; the fixture stops it, killing the
tasks, afterwards.
"""

from __future__ import annotations

import pytest

from tapit.params import build_spec
from tapit.service import TaskService
from tapit.tui.app import TapitApp
from tapit.tui.console_pane import ConsoleScreen, TerminalView
from tapit.tui.log_pane import LogPane
from tapit.tui.log_view import LogView

from .conftest import wait_for

SIZE = (140, 40)
# anyio's pytest plugin (anyio comes with httpx) runs the async tests.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def start(service: TaskService, command: str):
    return service.create(build_spec(command, {}, service.config, "tester@tui"))


def lines(app) -> list[str]:
    return app.query_one(LogView).buffer.lines


async def until_live(pilot, app):
    await wait_for(pilot, lambda: app.state in ("live", "polling"), timeout=60)


async def test_create_a_task_from_the_form_and_see_it_complete(tapit_home):
    app = TapitApp(TaskService.from_environment())
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await pilot.press("n", *"echo made-in-the-form; exit 3", "tab", *"0.25")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.table.selected is not None)
        task_id = app.table.selected.id
        await wait_for(pilot, lambda: app.table.records[task_id].status == "failed")
        record = app.table.records[task_id]
        assert record.exit_code == 3 and record.memory_gb == 0.25 and record.command.startswith("echo made")
        await wait_for(pilot, lambda: "made-in-the-form" in lines(app))
        assert app.query_one("#panes").active == "logs"


async def test_the_form_refuses_bad_values_without_starting_anything(tapit_home):
    app = TapitApp(TaskService.from_environment())
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await pilot.press("n", *"echo never", "tab", *"lots", "enter")
        hint = app.screen.query_one("#hint-memory")
        assert "memory='lots' is not a decimal number" in str(hint.render())
        await pilot.press("escape")
        assert app.service.history.all() == []


async def test_filter_and_quick_status_filter(tapit_home):
    service = TaskService.from_environment()
    ok, bad = start(service, "echo apples"), start(service, "echo pears; exit 1")
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await wait_for(pilot, lambda: {app.table.records[t.id].status for t in (ok, bad)} == {"complete", "failed"})
        await pilot.press("slash", *"pears")
        assert app.table.order == [bad.id]
        await pilot.press("escape")
        assert set(app.table.order) == {ok.id, bad.id}
        await pilot.press("4")
        assert app.table.order == [bad.id]
        await pilot.press("1")
        assert len(app.table.order) == 2


async def test_logs_follow_and_pause_when_scrolled_up(tapit_home):
    service = TaskService.from_environment()
    task = start(service, "for i in $(seq 1 400); do echo line $i; sleep 0.01; done; sleep 2")
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await wait_for(pilot, lambda: app.table.selected is not None and app.table.selected.id == task.id)
        await pilot.press("enter")
        view = app.query_one(LogView)
        await wait_for(pilot, lambda: view.view_length > 60)
        assert view.following
        await pilot.press("g")  # to the top: following pauses
        assert not view.following
        top = view.scroll_y
        await wait_for(pilot, lambda: view.view_length >= 400, timeout=60)
        assert view.scroll_y == top  # new lines did not move a paused view
        await pilot.press("G")
        assert view.following and view.scroll_y == view.max_scroll_y
        await wait_for(pilot, lambda: app.query_one(LogPane).ended, timeout=60)
        assert lines(app)[-1] == "line 400" and len(lines(app)) == 400


async def test_stop_a_running_task(tapit_home):
    service = TaskService.from_environment()
    task = start(service, "sleep 300")
    app = TapitApp(service)
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await wait_for(pilot, lambda: app.table.records.get(task.id) and app.table.records[task.id].status == "running")
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.table.records[task.id].status == "stopped", timeout=60)


async def test_console_typing_and_output(tapit_home):
    app = TapitApp(TaskService.from_environment())
    async with app.run_test(size=SIZE) as pilot:
        await until_live(pilot, app)
        await pilot.press("c", "enter")  # the console form, with `sh` filled in
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.screen.session is not None)
        terminal = app.screen.query_one(TerminalView)

        def shown() -> str:
            return "\n".join(terminal.screen_.display)

        await pilot.press(*"echo $((6*7))", "enter")
        await wait_for(pilot, lambda: "\n42" in shown())
        await pilot.press(*"exit 5", "enter")
        await wait_for(pilot, lambda: app.screen.finished, timeout=60)
        assert "exited with code 5" in shown()
        console_id = app.screen.console.record.id
        await pilot.press("q")  # any key closes the finished console
        await wait_for(pilot, lambda: not isinstance(app.screen, ConsoleScreen))
        assert app.table.records[console_id].exit_code == 5
