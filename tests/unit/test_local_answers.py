"""`show logs` of an ended task whose logs are archived answers from the history alone: no agent
started, no Nomad client (requests, python-nomad) or TinyDB imported. (`show task` merges the
trail, where an archivist may have recorded the task's usage after it ended, so it asks Nomad.)"""

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
