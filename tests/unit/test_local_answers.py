"""`show logs` of an ended task whose logs are archived answers from the history alone: no agent
started, no Nomad client (requests, python-nomad) or TinyDB imported. `show task` does so once the
history holds what the archivist wrote when it shipped the logs (it writes nothing after); before
that it merges the trail, where the archivist records the task's usage after it ended."""

import subprocess
import sys
from dataclasses import replace

from tapit.service.history import History
from tests.unit.test_history import record

NOT_NEEDED = ("requests", "urllib3", "nomad", "tinydb", "filelock", "http")


def run_cli(argv: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import sys; from tapit.cli import main; code = main(%r); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)), file=sys.stderr); sys.exit(code)"
    ) % (argv, NOT_NEEDED)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_an_archived_tasks_logs_are_shown_from_the_history_alone(tapit_home):
    from tapit.agent import daemon

    ended = replace(record("0000abcd"), status="complete", exit_code=0, logs_archived=True)
    history = History(tapit_home)
    history.add(ended)
    history.archive_logs(ended.id, {"stdout": b"the output\n", "stderr": b"a warning\n"})

    logs = run_cli(["show", "logs", "task=0000abcd"])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "the output\n"
    assert logs.stderr.splitlines() == ["a warning", "[]"]
    assert daemon.status() is None  # nothing asked the agent


def test_a_settled_task_is_shown_from_the_history_alone(tapit_home):
    from tapit.agent import daemon

    shipped = replace(
        record("0000abce"),
        status="complete",
        exit_code=0,
        logs_archived=True,
        logs_url="file:///store/default/0000abce/",
        peak_memory_bytes=12_000_000,
    )
    History(tapit_home).add(shipped)
    shown = run_cli(["show", "task", "task=0000abce"])
    assert shown.returncode == 0, shown.stderr
    assert "0000abce" in shown.stdout and "complete" in shown.stdout
    assert shown.stderr.splitlines()[-1] == "[]"
    assert daemon.status() is None  # nothing asked the agent


def test_a_settled_tasks_logs_are_shown_from_the_log_store_alone(tapit_home, tmp_path):
    """The embedded agent's archivist keeps the one copy (the history keeps none beside it):
    `show logs` reads both streams from the store, in the order they arrived, and asks nobody."""
    from tapit.agent import daemon
    from tapit.trail import logformat
    from tapit.trail.logstore import LogStore

    store_url = (tmp_path / "logstore").as_uri()
    arrived = [("stdout", b"one\n"), ("stderr", b"a warning\n"), ("stdout", b"two\n")]
    empty = {stream: logformat.StreamState() for stream in logformat.STREAMS}
    assert LogStore(store_url).put_chunk("default", "0000abcf", 0, logformat.encode_chunk(0, empty, arrived))
    shipped = replace(record("0000abcf"), status="complete", exit_code=0, logs_url=f"{store_url}/default/0000abcf/")
    History(tapit_home).add(shipped)

    logs = run_cli(["show", "logs", "task=0000abcf"])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "one\ntwo\n"
    assert logs.stderr.splitlines() == ["a warning", "[]"]
    assert daemon.status() is None  # nothing asked the agent


def test_a_shipment_that_could_not_reach_the_end_is_said_so(tapit_home, tmp_path):
    """What was shipped is printed, and one line says it is incomplete and why (its manifest)."""
    from tapit.trail import logformat
    from tapit.trail.logstore import LogStore

    store_url = (tmp_path / "logstore").as_uri()
    store = LogStore(store_url)
    empty = {stream: logformat.StreamState() for stream in logformat.STREAMS}
    assert store.put_chunk("default", "0000abd0", 0, logformat.encode_chunk(0, empty, [("stdout", b"kept\n")]))
    why = "Nomad no longer has its logs (state for allocation x not found on client)"
    store.put_manifest("default", "0000abd0", logformat.encode_manifest("default", "0000abd0", 1, {}, why))
    shipped = replace(record("0000abd0"), status="complete", exit_code=0, logs_url=f"{store_url}/default/0000abd0/")
    History(tapit_home).add(shipped)

    logs = run_cli(["show", "logs", "task=0000abd0"])
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == "kept\n"
    (said, _) = logs.stderr.splitlines()
    assert said == f"tapit: the task's shipped logs ({store_url}/default/0000abd0/) are incomplete: {why}"
