"""A console's record against the real embedded agent: its own end survives a reader that refreshes a
stale copy just as the console purges its job (the TUI's live feed does exactly that)."""

import time
from dataclasses import replace

from tapit.params import build_spec
from tapit.service import TaskService
from tapit.service.consoles import start_console


def test_a_console_ended_here_is_not_taken_for_lost_by_a_reader_with_a_stale_record(tapit_home):
    service = TaskService.from_environment()
    console = start_console(service, build_spec("sh", {}, service.config, "tester@console"))
    stale = service.history.get(console.record.id)  # read while it runs, as the live feed holds it
    assert stale.status == "running"
    console.end_reason, console.local_exit = "ended from the task list", 255
    console.close()  # purges the job, then writes how it ended
    for _ in range(600):  # until Nomad shows the keep-alive stopped, or its job gone
        seen = service.refresh(replace(stale))
        if seen.status != "running":
            break
        time.sleep(0.05)
    assert (seen.status, seen.reason) == ("stopped", "ended from the task list")
    assert service.history.get(stale.id).status == "stopped"
