"""The embedded agent's runtime as a shell user meets it: what held a task to its disk, and
that deleting a task leaves nothing of it behind."""

import json
import os
import time
import uuid
from pathlib import Path


def files_holding(root: Path, needle: str) -> list[str]:
    found = []
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = Path(top, name)
            try:
                if needle.encode() in path.read_bytes() or needle in name:
                    found.append(str(path))
            except OSError:
                pass
    return found


def test_show_task_says_what_held_it_to_its_disk(tapit):
    record = json.loads(tapit("create", "task", "true", "--wait", "--json", "ephemeral_storage_gb=0.5").stdout)
    shown = tapit("show", "task", f"task={record['id']}")
    assert shown.returncode == 0
    line = next(line for line in shown.stdout.splitlines() if line.startswith("Disk limit:"))
    assert "a size-limited filesystem of 512 MB" in line or "a watcher" in line


def test_delete_task_leaves_nothing_of_it_in_the_home(tapit):
    marker = f"unique-{uuid.uuid4().hex}"
    record = json.loads(tapit("create", "task", f"echo {marker}; echo {marker} >&2", "--wait", "--json").stdout)
    task_id = record["id"]
    assert files_holding(tapit.home, marker), "its output is kept while the task is"
    deleted = tapit("delete", "task", f"task={task_id}")
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 15  # the agent destroys the allocation's files just after the purge
    while left := files_holding(tapit.home, marker) + files_holding(tapit.home, task_id):
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.1)
