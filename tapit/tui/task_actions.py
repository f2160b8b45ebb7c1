"""What the TUI does to tasks: create, rerun, stop, delete, and consoles in or out of the app.

Each change asks first where it cannot be undone (ConfirmScreen), then calls the service in a
thread worker, as every Nomad call blocks; its result comes back to the event loop to update
the list and poke the live feed, so the change shows before the next poll.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from textual import on, work
from textual.app import App
from textual.widgets import Input

from tapit.errors import TapitError
from tapit.model import TaskRecord
from tapit.params import TaskSpec
from tapit.service import TaskService, default_initiator
from tapit.tui.confirm import ConfirmScreen
from tapit.tui.console_pane import ConsoleEnded, ConsoleScreen
from tapit.tui.live import LiveFeed
from tapit.tui.new_task import NewTaskScreen
from tapit.tui.sessions import Sessions
from tapit.tui.task_table import TaskTable

# What an auditor's read-only TUI never does: these actions are hidden from the footer, the
# keymap and the palette, and their keys do nothing.
WRITE_ACTIONS = frozenset({"new_task", "stop_task", "delete_task", "rerun_task", "open_console", "console_outside"})


def spec_of(record: TaskRecord) -> TaskSpec:
    """The parameters a task ran with, for rerunning it."""
    return TaskSpec(
        command=record.command,
        memory_gb=record.memory_gb,
        cpu=record.cpu,
        max_hours=record.max_hours,
        ephemeral_storage_gb=record.ephemeral_storage_gb,
        docker_tag=record.docker_tag,
        image=record.image if not record.docker_tag else None,
        initiated_by=default_initiator(),
    )


def console_words(spec: TaskSpec) -> list[str]:
    """The form's values as `tapit run` parameters."""
    words = [f"memory={spec.memory_gb:g}", f"cpu={spec.cpu:g}", f"ephemeral_storage_gb={spec.ephemeral_storage_gb:g}"]
    if spec.max_hours is not None:
        words.append(f"max_hours={spec.max_hours:g}")
    if spec.image:
        words.append(f"image={spec.image}")
    if spec.docker_tag:
        words.append(f"docker_tag={spec.docker_tag}")
    return words


class TaskActions(App[int]):
    """The task actions of TapitApp, which owns the state and the views they use (declared here)."""

    service: TaskService
    table: TaskTable
    sessions: Sessions
    feed: LiveFeed | None
    _follow_selection: Callable[..., None]  # show the selected task's details (and logs once settled)
    action_show_tab: Callable[[str], None]

    def action_new_task(self, prefill: TaskSpec | None = None, title: str = "New task") -> None:
        screen = NewTaskScreen(self.service.config, default_initiator(), prefill, title=title)
        self.push_screen(screen, self._create)

    def action_rerun_task(self) -> None:
        record = self.table.selected
        if record is not None:
            self.action_new_task(spec_of(record), title=f"Rerun task {record.id}")

    def _create(self, spec: TaskSpec | None) -> None:
        if spec is not None:
            self.notify(f"starting: {spec.command}", timeout=3)
            self._create_worker(spec)

    @work(thread=True, group="create")
    def _create_worker(self, spec: TaskSpec) -> None:
        try:
            record = self.service.create(spec)
        except TapitError as exc:
            self.call_from_thread(self.notify, f"could not start the task: {exc}", severity="error", timeout=10)
            return
        self.call_from_thread(self._created, record)

    def _created(self, record: TaskRecord) -> None:
        self.table.upsert(record)
        self.table.select_task(record.id)
        box = self.query_one("#filter", Input)
        if box.value != self.table.needle:  # selecting the new task dropped the filter
            box.value, box.display = self.table.needle, bool(self.table.needle)
        self.table.focus()
        self._follow_selection(settled=True)
        self.action_show_tab("logs")
        if self.feed is not None:
            self.feed.poke()

    def action_stop_task(self) -> None:
        record = self.table.selected
        if record is None:
            return
        if record.terminal:
            self.notify(f"task {record.id} has already ended ({record.status})", severity="warning")
            return
        session = self.sessions.find(record.id)
        if isinstance(session, ConsoleScreen):  # ended from this side, so its record says so
            self._confirm(
                ConfirmScreen(f"End console {record.id}?", [record.command]),
                lambda: self.run_worker(session.end("ended from the task list")),
            )
            return
        self._confirm(ConfirmScreen(f"Stop task {record.id}?", [record.command]), lambda: self._stop_worker(record.id))

    def _confirm(self, question: ConfirmScreen, then: Callable[[], object]) -> None:
        """Ask, and do `then` only on yes (a dismissed question is a no)."""

        def answered(yes: bool | None) -> None:
            if yes:
                then()

        self.push_screen(question, answered)

    @work(thread=True, group="stop")
    def _stop_worker(self, task_id: str) -> None:
        self.call_from_thread(self.notify, f"stopping {task_id}…", timeout=3)
        try:
            record = self.service.stop(task_id)
        except TapitError as exc:
            self.call_from_thread(self.notify, f"could not stop {task_id}: {exc}", severity="error", timeout=10)
            return
        self.call_from_thread(self._changed, record, f"{task_id} {record.status}")

    def _changed(self, record: TaskRecord, message: str) -> None:
        self.table.upsert(record)
        self._follow_selection(settled=True)
        self.notify(message)
        if self.feed is not None:
            self.feed.poke()

    def action_delete_task(self) -> None:
        record = self.table.selected
        if record is None:
            return
        if not record.terminal:
            self.notify(f"task {record.id} is {record.status}; stop it first (x)", severity="warning")
            return
        self._confirm(
            ConfirmScreen(f"Delete task {record.id}?", ["Its record and archived logs are removed.", record.command]),
            lambda: self._delete_worker(record.id),
        )

    @work(thread=True, group="delete")
    def _delete_worker(self, task_id: str) -> None:
        try:
            self.service.delete(task_id)
        except TapitError as exc:
            self.call_from_thread(self.notify, f"could not delete {task_id}: {exc}", severity="error", timeout=10)
            return
        self.call_from_thread(self._deleted, task_id)

    def _deleted(self, task_id: str) -> None:
        self.table.discard(task_id)
        self._follow_selection(settled=True)
        self.notify(f"deleted {task_id}")

    def action_open_console(self) -> None:
        screen = NewTaskScreen(self.service.config, default_initiator(), console=True)

        def open_console(spec: TaskSpec | None) -> None:
            if spec is not None:
                self.sessions.open(ConsoleScreen(self.service, spec))

        self.push_screen(screen, open_console)

    @on(ConsoleEnded)
    def _console_ended(self, event: ConsoleEnded) -> None:
        if event.record is not None:
            self.table.upsert(event.record)
        if self.feed is not None:
            self.feed.poke()

    def action_console_outside(self) -> None:
        """Hand the real terminal to `tapit run` for programs a pane cannot do justice to."""
        screen = NewTaskScreen(self.service.config, default_initiator(), console=True)

        def run_outside(spec: TaskSpec | None) -> None:
            if spec is not None:
                self._run_outside(spec)

        self.push_screen(screen, run_outside)

    def _run_outside(self, spec: TaskSpec) -> None:
        self._hand_over(["-m", "tapit", "run", spec.command, *console_words(spec)], "tapit run")

    def _hand_over(self, argv: list[str], name: str) -> None:
        with self.suspend():
            code = subprocess.call([sys.executable, *argv])
            input(f"\n({name} exited with {code}; press enter to return to tapit)")
        if self.feed is not None:
            self.feed.poke()

    def action_shell(self) -> None:
        if self.table.selected is not None:
            self.sessions.shell(self.table.selected)

    def action_shell_outside(self) -> None:
        record = self.table.selected
        if record is not None and self.sessions.can_open_shell(record):
            self._hand_over(["-m", "tapit.commands.shell", record.id], f"the shell in {record.id}")
