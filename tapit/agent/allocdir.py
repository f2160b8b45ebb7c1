"""An allocation's directory (client/allocdir): its layout, its modes, and its removal.

Nomad's layout: `<alloc>/alloc/{logs,tmp,data}` shared by the group's tasks, and per task
`<alloc>/<task>/{local,secrets,tmp,private}`.  Nomad opens every one of them to all users
(allocMkdirAll -> dropDirPermissions chmods `desired|0777`; the task's tmp is sticky), because
a task may run as another user than the client: a container's USER writes `/alloc`, `/local`
and `/secrets` through bind mounts.  On the embedded agent the directories hold the user's
own output and data, so the allocation's directory itself is 0700 (Nomad's is 0755): nobody
else can reach anything inside it, and a container, which sees only its binds, is not hindered.
Below it, directories a container binds keep Nomad's modes; a group of host tasks only (raw_exec,
exec: they run as the agent's user) gets 0700 throughout.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tapit.paths import PRIVATE_DIR, private_dir

SHARED_DIR = "alloc"
SHARED_SUBDIRS = ("logs", "tmp", "data")  # alloc_dir.go SharedAllocDirs
TASK_SUBDIRS = ("local", "secrets", "tmp", "private")  # task_dir.go Build, TaskDirs, MakeSecretsDirs
OPEN_DIR = 0o777  # dropDirPermissions
STICKY_OPEN_DIR = 0o1777  # TaskDirs: tmp is os.ModeSticky | 0777


def _mkdir(path: Path, mode: int) -> None:
    path.mkdir(exist_ok=True)
    path.chmod(mode)  # as dropDirPermissions does: the umask has no say


def build_shared(alloc_dir: Path, for_containers: bool) -> None:
    """AllocDir.Build: the allocation's directory (which may be a filesystem mounted there
    already) and the directory its tasks share."""
    private_dir(alloc_dir)
    mode = OPEN_DIR if for_containers else PRIVATE_DIR
    _mkdir(alloc_dir / SHARED_DIR, mode)
    for sub in SHARED_SUBDIRS:
        _mkdir(alloc_dir / SHARED_DIR / sub, mode)


def build_task(alloc_dir: Path, task_name: str, for_container: bool) -> None:
    """TaskDir.Build for one task.  Task.Validate lets "." and ".." through (they hold no slash);
    neither may name a directory outside this allocation's."""
    if (alloc_dir / task_name).resolve().parent != alloc_dir.resolve():
        raise ValueError(f"task name {task_name!r} is not a directory inside the allocation")
    mode = OPEN_DIR if for_container else PRIVATE_DIR
    _mkdir(alloc_dir / task_name, mode)
    for sub in TASK_SUBDIRS:
        _mkdir(alloc_dir / task_name / sub, STICKY_OPEN_DIR if for_container and sub == "tmp" else mode)


def remove_tree(path: Path) -> None:
    """Everything under `path`, whatever modes a task left on what it made."""

    def writable_then_retry(function, failed: str, _exc_info) -> None:
        os.chmod(os.path.dirname(failed), PRIVATE_DIR)  # a directory the task made read-only
        function(failed)

    if path.exists():
        shutil.rmtree(path, onerror=writable_then_retry)
