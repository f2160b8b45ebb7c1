"""The command palette (ctrl+p): every action of the app, found by fuzzy search."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, action run on the app, help)
ACTIONS = (
    ("New task", "new_task", "Open the form to start a task"),
    ("Stop task", "stop_task", "Stop the selected task (asks first)"),
    ("Delete task", "delete_task", "Delete the selected finished task and its logs (asks first)"),
    ("Rerun task", "rerun_task", "Start the selected task again with the same parameters"),
    ("Open console", "open_console", "Start a console task and open it in a terminal pane"),
    ("Open console in the real terminal", "console_outside", "Suspend tapit and run `tapit run` instead"),
    ("Shell in the task", "shell", "A shell in the selected running task's allocation, or back to its detached one"),
    ("Shell in the task, in the real terminal", "shell_outside", "Suspend tapit and open the shell there"),
    ("Filter tasks", "filter", "Filter by id, command, initiator or status"),
    ("Show all tasks", "status_filter('all')", "Clear the status filter"),
    ("Show running tasks", "status_filter('running')", "Only running tasks"),
    ("Show pending tasks", "status_filter('pending')", "Only tasks waiting to start"),
    ("Show failed tasks", "status_filter('failed')", "Failed, lost or timed out"),
    ("Show complete tasks", "status_filter('complete')", "Only tasks that exited by themselves"),
    ("Show stopped tasks", "status_filter('stopped')", "Only tasks stopped on request"),
    ("Sort by next column", "sort_next", "Cycle the column the list is sorted by"),
    ("Reverse sort", "sort_reverse", "Reverse the sort order"),
    ("Show details", "show_tab('details')", "The details tab"),
    ("Show logs", "show_tab('logs')", "The logs tab"),
    ("Search logs", "search_logs", "Search the logs, then n/N between matches"),
    ("Toggle log wrap", "log('toggle_wrap')", "Wrap long log lines"),
    ("Cycle log streams", "log('cycle_streams')", "Interleaved, stdout only, stderr only"),
    ("Follow logs", "log('follow')", "Jump to the end and keep following"),
    ("Save logs", "save_logs", "Write the log shown to a file"),
    ("Keymap", "keymap", "Every key, by where it applies"),
    ("Quit", "quit", "Leave tapit"),
)


class TapitCommands(Provider):
    def _allowed(self):
        """The actions the app allows now (a read-only app offers none that change anything)."""
        return [entry for entry in ACTIONS if self.app.check_action(entry[1].partition("(")[0], ()) is not False]

    async def discover(self) -> Hits:
        for title, action, help_text in self._allowed():
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._allowed():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action), help=help_text)
