"""A history tapit cannot write: reads still answer, writes fail with one line naming the file."""

import json
import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest


@contextmanager
def unwritable(directory):
    """Make the history directory and its files refuse changes: immutable where we are root (root
    ignores permission bits), read-only otherwise."""
    paths = [directory, *(p for p in directory.iterdir() if p.is_file())]
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(paths[0])]).returncode:
            pytest.skip("needs chattr +i (an ext2/3/4-like filesystem) when run as root")
        subprocess.run(["chattr", "+i", *map(str, paths[1:])], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(modes[p] & ~0o222)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def at_most_the_history_line(stderr: str, home) -> bool:
    return stderr == "" or (stderr.count("\n") == 1 and f"cannot write the history at {home}" in stderr)


def test_reads_work_and_writes_fail_naming_the_history(tapit, nomad_api):
    done = json.loads(tapit("create", "task", "echo kept", "--wait", "--json").stdout)
    running = json.loads(tapit("create", "task", "sleep 300", "--json").stdout)
    history = tapit.home / "history.json"
    jobs_before = len(nomad_api.jobs.get_jobs(prefix="tapit-"))
    with unwritable(tapit.home):
        listing = tapit("list", "tasks")
        assert listing.returncode == 0 and done["id"] in listing.stdout and running["id"] in listing.stdout
        # The running task's record would be refreshed: that is all that cannot happen.
        assert listing.stderr.count("\n") == 1 and f"cannot write the history at {tapit.home}" in listing.stderr
        shown = tapit("show", "task", f"task={done['id']}", "--json")
        assert (shown.returncode, json.loads(shown.stdout)["status"]) == (0, "complete")
        # What the embedded agent's archivist has added to the trail meanwhile (peak memory, the last
        # lines) cannot be cached here: said in the one line naming the history, or nothing to say.
        assert at_most_the_history_line(shown.stderr, tapit.home), shown.stderr
        logs = tapit("show", "logs", f"task={done['id']}")
        assert (logs.returncode, logs.stdout) == (0, "kept\n")
        assert at_most_the_history_line(logs.stderr, tapit.home), logs.stderr
        for command in (("create", "task", "echo never"), ("delete", "task", f"task={done['id']}")):
            refused = tapit(*command)
            assert refused.returncode == 1, refused
            assert refused.stderr.startswith(f"tapit: cannot write the history at {history}: "), refused.stderr
            assert refused.stderr.count("\n") == 1 and "internal error" not in refused.stderr
    assert len(nomad_api.jobs.get_jobs(prefix="tapit-")) == jobs_before  # the refused create submitted nothing
    assert tapit("show", "logs", f"task={done['id']}").stdout == "kept\n"  # and delete removed nothing
    assert tapit("delete", "task", f"task={done['id']}").returncode == 0
    assert tapit("stop", "task", f"task={running['id']}").returncode == 0
