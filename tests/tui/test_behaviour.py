"""What an operator met that was wrong: each test fails without its fix.

The app runs with `live=False` over a history written directly (see conftest), so the
tasks and their archived logs are exactly these; nothing here needs Nomad.
"""

from __future__ import annotations

import re

import pytest
from textual.command import CommandPalette

from tapit.tui.app import TapitApp
from tapit.tui.log_pane import LogPane
from tapit.tui.log_view import LogView
from tapit.tui.new_task import NewTaskScreen

from .conftest import burst, fixed_clock, history_service, record, screen_lines, wait_for

SIZE = (120, 35)
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def finished(task_id: str, minute: int, **fields):
    return record(
        task_id,
        "complete",
        f"echo {task_id}",
        f"2026-01-01T11:{minute:02d}:00.000Z",
        exit_code=0,
        logs_archived=True,
        **fields,
    )


def app_over(tmp_path, records, logs: dict[str, bytes] | None = None) -> TapitApp:
    service = history_service(tmp_path, records)
    for task_id, stdout in (logs or {}).items():
        service.history.archive_logs(task_id, {"stdout": stdout, "stderr": b""})
    return TapitApp(service, clock=fixed_clock, live=False)


async def open_logs(pilot, app, task_id: str) -> LogView:
    """Select the task in the list and open its logs, as enter does."""
    app.table.focus()
    app.table.select_task(task_id)
    await pilot.press("enter")
    pane = app.query_one(LogPane)
    await wait_for(pilot, lambda: pane.record is not None and pane.record.id == task_id and pane.ended)
    return app.query_one(LogView)


LONG = b"".join(b"line %d " % i + b"word " * 60 + b"\n" for i in range(40))


async def test_search_with_wrap_on_after_looking_at_another_task(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1), finished("bbbb0002", 2)], {"aaaa0001": LONG, "bbbb0002": LONG})
    async with app.run_test(size=SIZE) as pilot:
        view = await open_logs(pilot, app, "aaaa0001")
        await pilot.press("w")
        assert view.wrap
        await open_logs(pilot, app, "bbbb0002")
        view = await open_logs(pilot, app, "aaaa0001")
        # Every wrapped line has its rows: 40 lines of ~310 characters, several rows each.
        assert view.virtual_size.height > 2 * len(view.buffer.lines)
        await pilot.press("slash", *"line 39", "enter")
        assert view.matches == [39] and view.match_index == 0
        assert any("line 39 word" in line for line in screen_lines(app))


async def test_the_last_task_is_not_hidden_under_a_scrollbar(tmp_path):
    records = [finished(f"{n:08x}", n % 60) for n in range(60)]
    app = app_over(tmp_path, records)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("G")
        last = app.table.order[-1]
        assert app.table.selected.id == last
        table = app.table.region
        rows = screen_lines(app)[table.y : table.bottom]
        assert any(row.startswith(f"{last}  ●") for row in rows)
        assert not app.table.show_horizontal_scrollbar


async def test_keys_typed_quickly_after_slash_are_the_search_term(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)], {"aaaa0001": b"one\ntwo\n"})
    async with app.run_test(size=SIZE) as pilot:
        view = await open_logs(pilot, app, "aaaa0001")
        burst(app, "w/tw/[/]", "enter")
        await pilot.pause()
        # The `w` before the `/` wraps; the keys after it are the term (not bindings), enter searches.
        assert view.term == "tw/[/]" and not app.query_one("#log-search").display
        assert view.wrap and view.mode == "both"


async def test_keys_typed_quickly_after_slash_are_the_filter(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)])
    async with app.run_test(size=SIZE) as pilot:
        burst(app, "/nomatch/")
        await pilot.pause()
        assert app.query_one("#filter").value == "nomatch/"
        assert app.table.order == [] and not isinstance(app.screen, NewTaskScreen)


async def test_keys_typed_quickly_in_the_form_reach_their_fields(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)], {"aaaa0001": b"one\ntwo\n"})
    async with app.run_test(size=SIZE) as pilot:
        burst(app, "necho fast", "tab", "2")  # `n` opens the form; then its command, and the next field
        await wait_for(pilot, lambda: isinstance(app.screen, NewTaskScreen))
        await pilot.pause()
        assert app.screen.query_one("#field-command").value == "echo fast"
        assert app.screen.query_one("#field-memory").value == "2"


@pytest.mark.parametrize(
    ("title", "changed"),
    [
        ("Toggle log wrap", lambda view: view.wrap),
        ("Cycle log streams", lambda view: view.mode == "stdout"),
        ("Follow logs", lambda view: view.following),
    ],
)
async def test_the_palette_log_commands_act(tmp_path, title, changed):
    app = app_over(tmp_path, [finished("aaaa0001", 1)], {"aaaa0001": b"".join(b"%d\n" % i for i in range(200))})
    async with app.run_test(size=SIZE) as pilot:
        view = await open_logs(pilot, app, "aaaa0001")
        await pilot.press("g")  # at the top, so following has something to do
        assert not view.following
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*title)
        await wait_for(pilot, lambda: any(title in line for line in screen_lines(app)))
        await pilot.pause(0.3)  # the palette settles its list of hits
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))
        await wait_for(pilot, lambda: changed(view), timeout=5)


async def test_one_line_is_one_line(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)], {"aaaa0001": b"only\n"})
    async with app.run_test(size=SIZE) as pilot:
        await open_logs(pilot, app, "aaaa0001")
        status = str(app.query_one("#log-status").render())
        assert "· 1 line ·" in status


async def test_q_in_the_log_pane_goes_back_to_the_list(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)], {"aaaa0001": b"x\n"})
    async with app.run_test(size=SIZE) as pilot:
        await open_logs(pilot, app, "aaaa0001")
        await pilot.press("q")
        assert app.is_running and app.focused is app.table
        await pilot.press("q")  # from the list, q still quits
        assert not app.is_running


async def test_the_rerun_form_says_which_task_it_reruns(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        assert isinstance(app.screen, NewTaskScreen)
        title = str(app.screen.query_one("#form-title").render())
        assert title.startswith("Rerun task aaaa0001")
        assert app.screen.query_one("#field-command").value == "echo aaaa0001"


async def test_form_errors_wrap_inside_the_form(tmp_path):
    app = app_over(tmp_path, [finished("aaaa0001", 1)])
    async with app.run_test(size=(80, 35)) as pilot:
        await pilot.press("n", *"echo hi", "tab", *"lots")
        hint = app.screen.query_one("#hint-memory")
        error = str(hint.render())
        assert error.startswith("memory='lots' is not a decimal number")
        form = app.screen.query_one("#form").content_region
        assert hint.region.right <= form.right
        region = hint.region
        shown = " ".join(line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom])
        assert " ".join(shown.split()) == " ".join(error.split())


@pytest.mark.parametrize("keys", [["n"], ["x"], ["question_mark"]])
async def test_the_footer_behind_a_modal_shows_its_keys_not_the_lists(tmp_path, keys):
    running = record(
        "cccc0003", "running", "sleep 60", "2026-01-01T11:59:00.000Z", started_at="2026-01-01T11:59:01.000Z"
    )
    app = app_over(tmp_path, [running])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys)
        # The modal's footer is composed after it is pushed: on a busy machine, a frame or more later.
        await wait_for(pilot, lambda: screen_lines(app)[-1].strip())
        footer = screen_lines(app)[-1]
        assert not re.search(r"\bSort\b|\bNew\b|\bFilter\b", footer), footer
        assert re.search(r"\bCancel\b|\bNo\b|\bClose\b", footer), footer


async def test_a_long_history_paints_its_newest_tasks_first_and_then_all(tmp_path, monkeypatch):
    from tapit.config import AppConfig
    from tapit.service import TaskService
    from tapit.service.history import RECENT_KEPT, History
    from tapit.tui.task_table import TaskTable

    from .conftest import no_nomad

    total = RECENT_KEPT + 500
    history = History(tmp_path)
    history.add(*(finished(f"{i:08x}", i % 60) for i in range(total)))
    app = TapitApp(TaskService(history, AppConfig(), no_nomad), clock=fixed_clock)
    loads: list[int] = []
    set_records = TaskTable.set_records
    monkeypatch.setattr(
        TaskTable, "set_records", lambda table, records: (loads.append(len(records)), set_records(table, records))
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.table.order) == total)
    # The recent file's records first (drawn before the rest is read), then the whole history.
    assert loads[:2] == [RECENT_KEPT, total], loads
