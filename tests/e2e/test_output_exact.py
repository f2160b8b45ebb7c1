"""Output is sacred: what a task prints reaches `create --wait` byte for byte, past log rotation,
is archived from that one stream (and shipped by the embedded agent's archivist), says what
rotation took, and goes entirely with `delete`."""

import hashlib
import json
import os
import signal
import subprocess
import time

from tests.e2e.test_archivist import NO_AGENT_ARCHIVIST, wait_for

MIB = 1024 * 1024
# A 400 MB disk keeps Nomad's default log storage, MaxFiles 10 × MaxFileSizeMB 10 (a larger disk
# keeps a quarter of itself: tapit/translate/jobspec.py log_config).
DISK = "ephemeral_storage_gb=0.4"
WINDOW = 10 * 10 * MIB
# 120 MiB in 1 MiB steps, each different, at most about 50 MB/s: beyond the rotation window, at a pace that a
# follower on a busy machine keeps up with, so that every byte can be read.
PACED = (
    'python3 -c "import sys, time\n'
    "out = sys.stdout.buffer\n"
    "block = bytes(range(256)) * 4096\n"
    "for n in range(120):\n"
    "    out.write(b'%08d' % n + block[8 + n :] + block[:n])\n"
    "    out.flush()\n"
    '    time.sleep(0.02)"'
)


def digest(path):
    with open(path, "rb") as f:
        return os.fstat(f.fileno()).st_size, hashlib.file_digest(f, "sha256").hexdigest()


def run_to_file(tapit, path, *args):
    with open(path, "wb") as out:
        process = tapit.popen(*args, stdout=out, stderr=subprocess.PIPE)
        _, err = process.communicate(timeout=240)
    return process.returncode, err.decode()


def test_wait_is_byte_exact_beyond_the_rotation_window_and_archives_that_stream(tapit, tmp_path):
    local = tmp_path / "local.out"
    with open(local, "wb") as out:
        subprocess.run(["sh", "-c", PACED], stdout=out, check=True)
    size, checksum = digest(local)
    assert size > WINDOW
    remote = tmp_path / "tapit.out"
    code, err = run_to_file(tapit, remote, "create", "task", PACED, "cpu=1", DISK, "--wait")
    assert (code, err) == (0, "")
    assert digest(remote) == (size, checksum)
    (record,) = json.loads(tapit("list", "tasks", "--json").stdout)
    # Archived from the stream it printed, whatever Nomad does with the job next; and shipped by
    # the embedded agent's archivist too, for everyone else.
    assert digest(tapit.home / "logs" / record["id"] / "stdout") == (size, checksum)
    shipped = tapit.home / "agent" / "logstore" / "default" / record["id"]
    wait_for(lambda: (shipped / "manifest.json").exists(), "the archivist to ship the output")
    assert digest(shipped / "stdout") == (size, checksum)
    again = tmp_path / "replay.out"
    assert run_to_file(tapit, again, "show", "logs", f"task={record['id']}") == (0, "")
    assert digest(again) == (size, checksum)


def test_output_rotated_away_before_anyone_read_it_is_counted_out_loud(tapit, tmp_path):
    # Without the agent's archivist, which would follow the task from its start and lose its own
    # share of the rotated files: what is counted here is what tapit itself read.
    tapit("agent", "env", env=NO_AGENT_ARCHIVIST)
    # 12 full 10 MiB files and 100 bytes, written before anyone follows: files 0-2 are rotated away.
    total = 12 * 10 * MIB + 100
    record = json.loads(tapit("create", "task", f"head -c {total} /dev/urandom", DISK, "--json").stdout)
    deadline = time.monotonic() + 120
    while json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)["status"] != "complete":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    lost = 3 * 10 * MIB
    line = f"tapit: {lost:,} bytes of the task's stdout are missing: Nomad's log rotation removed them"
    for args in (("--follow",), ()):
        out = tmp_path / "out"
        code, err = run_to_file(tapit, out, "show", "logs", f"task={record['id']}", *args)
        assert code == 0 and digest(out)[0] == total - lost
        assert err.startswith(line) and len(err.splitlines()) == 1
    history = json.loads((tapit.home / "history.json").read_text())["tasks"]
    (kept,) = [r for r in history.values() if r["id"] == record["id"]]
    assert kept["logs_lost_bytes"] == {"stdout": lost} and kept["logs_archived"] is True
    assert json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)["logs_lost_bytes"] == {
        "stdout": lost
    }
    assert f"missing {lost:,} bytes of stdout" in tapit("show", "task", f"task={record['id']}").stdout


def files_holding(root, marker: bytes, skip=()):
    found = []
    for directory, _, names in os.walk(root):
        if any(os.path.relpath(directory, root).split(os.sep)[0] == part for part in skip):
            continue
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                if marker in f.read():
                    found.append(path)
    return found


def test_delete_leaves_no_file_of_the_history_holding_the_tasks_output(tapit):
    marker = b"only-in-this-tasks-output-7f3a"
    # More than the archive's write buffer, so that some of it is on disk while the task runs.
    command = f"echo {marker.decode()}; echo {marker.decode()} >&2; seq 400000; echo end; sleep 300"
    record = json.loads(tapit("create", "task", command, "--json").stdout)
    # A follower killed outright leaves what it had copied so far in its partial archive.
    follower = tapit.popen("show", "logs", f"task={record['id']}", "--follow", stdout=subprocess.PIPE)
    assert marker in follower.stdout.readline()
    while follower.stdout.readline() != b"end\n":
        pass
    follower.send_signal(signal.SIGKILL)
    follower.wait()
    partials = list((tapit.home / "logs" / record["id"]).glob(".stdout.*.partial"))
    assert partials and marker in partials[0].read_bytes()
    assert tapit("stop", "task", f"task={record['id']}").returncode == 0
    assert files_holding(tapit.home, marker, skip=("agent",))  # archived by now, beside the partial ones
    assert tapit("delete", "task", f"task={record['id']}").returncode == 0
    # The agent's own copy (agent/allocs) is the agent's to remove when the job is purged.
    assert files_holding(tapit.home, marker, skip=("agent",)) == []
