"""`list tasks` shows the newest tasks and every unfinished one, and says when it left older ones
out; `--all` lists every one. Against the real embedded agent."""

import json
from dataclasses import replace

from tapit.service.history import History
from tests.unit.test_history import record


def test_list_shows_the_newest_and_all_lists_every_one(tapit, tapit_home):
    finished = [
        replace(
            record(f"{n:08x}"),
            status="complete",
            logs_archived=True,
            created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z",
        )
        for n in range(250)
    ]
    History(tapit_home).add(*finished)

    shown = tapit("list", "tasks", "--json")
    assert shown.returncode == 0, shown.stderr
    ids = [task["id"] for task in json.loads(shown.stdout)]
    assert ids == [f"{n:08x}" for n in range(249, 49, -1)]  # the newest 200, newest first
    assert "the newest 200 tasks; `tapit list tasks --all` lists every one" in shown.stderr

    every = tapit("list", "tasks", "--all", "--json")
    assert every.returncode == 0, every.stderr
    assert len(json.loads(every.stdout)) == 250 and "--all" not in every.stderr
