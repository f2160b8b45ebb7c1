"""A finished task's two streams replay in the order they arrived while it was followed."""

import json
import subprocess

from tests.e2e.test_archivist import NO_AGENT_ARCHIVIST, wait_for

# Each line waits long enough that the follower sees it before the next one is written.
ALTERNATING = "sleep 2; for n in 1 2 3; do echo out$n; sleep 0.4; echo err$n >&2; sleep 0.4; done"
ARRIVED = [f"{stream}{n}" for n in (1, 2, 3) for stream in ("out", "err")]


def both_streams(tapit, *args: str) -> list[str]:
    """What `tapit show logs` prints, stdout and stderr on one pipe (it flushes every write)."""
    process = tapit.popen("show", "logs", *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return out.decode().split()


def test_show_logs_of_a_followed_task_interleaves_stdout_and_stderr_as_they_arrived(tapit):
    """Where no archivist ships (a cluster without one), from the history's archive."""
    tapit("agent", "env", env=NO_AGENT_ARCHIVIST)
    record = json.loads(tapit("create", "task", ALTERNATING, "--json").stdout)
    assert both_streams(tapit, f"task={record['id']}", "--follow") == ARRIVED
    (kept,) = [r for r in json.loads((tapit.home / "history.json").read_text())["tasks"].values()]
    assert kept["logs_archived"] is True
    assert both_streams(tapit, f"task={record['id']}") == ARRIVED


def test_shipped_logs_of_a_task_nobody_followed_replay_in_the_order_they_arrived(tapit):
    """On the embedded agent, whose archivist ships them (in arrival order: its chunks), a task
    nobody followed is not downloaded into the history; once shipped, `show logs` reads the store."""
    record = json.loads(tapit("create", "task", ALTERNATING, "--json").stdout)

    def shipped():
        shown = json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)
        return shown.get("logs_url")

    assert wait_for(shipped, "the archivist to ship the logs").startswith("file://")
    assert both_streams(tapit, f"task={record['id']}") == ARRIVED
    assert not (tapit.home / "logs" / record["id"]).exists()
