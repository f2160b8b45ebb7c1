"""The archivist as a user deploys it: a real `tapit archivist` process (or the embedded agent's
own) against the real agent, shipping to a file:// store and to a real S3 endpoint on loopback
(moto's server mode, tests/s3_server.py). Tasks wait on a gate file, so that "mid-task" is a
fact of the test, not a race."""

import contextlib
import hashlib
import os
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.s3_server import S3Server

WAIT_S = 90.0
BUCKET = "tapit-logs"
STORE = f"s3://{BUCKET}/trail"
NO_AGENT_ARCHIVIST = {"TAPIT_AGENT_ARCHIVIST": "off"}  # the test runs its own


def gated(gate, first: int = 20, then: int = 20) -> str:
    """A task writing numbered lines on both streams, then waiting for `gate`, then more."""
    lines = 'for i in $(seq {a} {b}); do echo "out $i"; echo "err $i" >&2; done'
    return (
        f"{lines.format(a=1, b=first)}; while [ ! -e {gate} ]; do sleep 0.05; done; "
        f"{lines.format(a=first + 1, b=first + then)}"
    )


def numbered(stream: str, count: int) -> bytes:
    return "".join(f"{stream} {i}\n" for i in range(1, count + 1)).encode()


def wait_for(condition, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def agent_request(path: str, method: str = "GET"):
    """The agent's HTTP API as an admin's tools call it; None for a 404."""
    from tapit.agent import daemon

    info = daemon.ensure_running()
    request = urllib.request.Request(info.address + path, method=method, headers={"X-Nomad-Token": info.token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def record(task_id: str) -> dict:
    """The task's record in the trail, as `nomad var get tapit/task/<id>` shows its items."""
    variable = agent_request(f"/v1/var/tapit/task/{task_id}")
    return (variable or {}).get("Items") or {}


def create(tapit, command: str, *params: str, env: dict | None = None) -> str:
    done = tapit("create", "task", command, *params, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


class ArchivistProcess:
    def __init__(self, tapit, env: dict, log):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tapit", "archivist"], env=tapit.env | env, cwd=tapit.home, stderr=log
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def archivists(tapit, tmp_path):
    """Starts `tapit archivist` processes; stops every one left running."""
    started = []
    with contextlib.ExitStack() as logs:

        def start(env: dict | None = None) -> ArchivistProcess:
            log = logs.enter_context(open(tmp_path / f"archivist-{len(started)}.log", "ab"))
            started.append(ArchivistProcess(tapit, NO_AGENT_ARCHIVIST | (env or {}), log))
            return started[-1]

        yield start
        for process in started:
            process.stop()


@pytest.fixture
def s3(tmp_path):
    server = S3Server(tmp_path / "moto.log")
    server.create_bucket(BUCKET)
    yield server
    server.stop()


def test_agent_keeps_the_trail_itself_and_show_logs_reads_the_store_after_purge(tapit, tmp_path):
    """Operator A creates a task and never looks again; the embedded agent's own archivist records
    it and ships its logs to the store under the home. Once Nomad has purged the job and A's local
    history is gone, `show logs` prints the output from the store."""
    gate = tmp_path / "release"
    task_id = create(tapit, gated(gate))
    folder = tapit.home / "agent" / "logstore" / "default" / task_id
    wait_for(lambda: (folder / "chunks" / "00000000").exists(), "the first chunk while the task runs")
    assert record(task_id)["status"] == "running"
    gate.touch()
    items = wait_for(lambda: record(task_id).get("logs_url") and record(task_id), "the final record")

    assert (folder / "stdout").read_bytes() == numbered("out", 40)
    assert (folder / "stderr").read_bytes() == numbered("err", 40)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["streams"]["stdout"]["sha256"] == hashlib.sha256(numbered("out", 40)).hexdigest()
    assert items["status"] == "complete" and items["exit_code"] == "0"
    assert items["logs_url"] == folder.as_uri() + "/"
    assert items["logs_sha256"] == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert items["logs_bytes"] == str(2 * len(numbered("out", 40)))
    assert items["tail"].endswith("out 40\n") or items["tail"].endswith("err 40\n")

    agent_request(f"/v1/job/tapit-{task_id}?purge=true", method="DELETE")
    operator_b = as_teammate(tapit, tmp_path / "b")
    listed = json.loads(operator_b("list", "tasks", "--json").stdout)
    row = next(t for t in listed if t["id"] == task_id)
    assert (row["status"], row["exit_code"], row["initiated_by"]) == ("complete", 0, items["initiated_by"])
    (tapit.home / "history.json").unlink()
    for operator in (operator_b, tapit):
        shown = operator("show", "logs", f"task={task_id}")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == numbered("out", 40).decode()
        assert shown.stderr == numbered("err", 40).decode()


def test_the_agents_archivist_keeps_every_apps_tasks_whatever_their_prefix(tapit, tmp_path):
    """Every app of a home shares its embedded agent. The agent starts from the first app's
    directory; a second app names its jobs with its own prefix, and its tasks are kept too."""
    assert tapit("agent", "env").returncode == 0  # started from the home: the default prefix
    other_app = tmp_path / "other-app"
    other_app.mkdir()
    (other_app / "tapit.toml").write_text('job_prefix = "other-"\n')
    done = tapit("create", "task", "echo from the other app", "--json", cwd=other_app)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["nomad_job_id"] == f"other-{task['id']}"
    folder = tapit.home / "agent" / "logstore" / "default" / task["id"]
    wait_for(lambda: (folder / "manifest.json").exists(), "the other app's task shipped")
    assert (folder / "stdout").read_bytes() == b"from the other app\n"


def test_archivist_refuses_an_argument_it_does_not_know(tapit):
    result = tapit("archivist", "prefix=x")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "tapit: unexpected argument 'prefix=x'; use tapit archivist [job_prefix=<prefix>]\n"


def test_show_logs_of_a_purged_task_waits_for_the_archivists_shipment(tapit):
    """The job is purged (and on the agent collected at once) between its task's end and the
    archivist's manifest, and nobody else kept the output: `show logs` waits for the shipment
    rather than saying the output is gone. The agent's archivist is paused (SIGSTOP) so that the
    order is a fact of the test; the shipment it would write is written by the archivist's own
    LogShipper, from this test, while `show logs` waits."""
    from tapit.agent import daemon
    from tapit.nomad.client import NomadClient
    from tapit.nomad.settings import NomadSettings
    from tapit.service.logship import LogShipper
    from tapit.trail.logstore import LogStore

    agent = daemon.ensure_running()
    archivist = wait_for(lambda: _archivist_child_of(agent.pid), "the agent's archivist")
    os.kill(archivist, signal.SIGSTOP)
    try:
        task_id = create(tapit, "echo shipped late")
        job = f"/v1/job/tapit-{task_id}"
        wait_for(lambda: (agent_request(f"{job}/allocations") or [{}])[0].get("ClientStatus") == "complete", "the end")
        [alloc] = agent_request(f"{job}/allocations")
        agent_request(f"{job}?purge=true", method="DELETE")
        waiting = tapit.popen("show", "logs", f"task={task_id}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2)
        assert waiting.poll() is None, waiting.communicate()  # it waits for the shipment
        store = LogStore((tapit.home / "agent" / "logstore").as_uri())
        with NomadClient(NomadSettings(address=agent.address, token=agent.token)) as nomad:
            shipper = LogShipper(store, nomad, "default", task_id, alloc["ID"], 1 << 20)
            stdout = shipper.copies[0]
            shipper.take("stdout", stdout, b"shipped late\n")  # what it had read before the purge
            shipper.flush()
            shipper.complete(None)
        out, err = waiting.communicate(timeout=30)
        assert (waiting.returncode, out, err) == (0, b"shipped late\n", b"")
    finally:
        os.kill(archivist, signal.SIGCONT)


def as_teammate(tapit, home):
    """A second operator: their own TAPIT_HOME, pointed at the first one's agent as at a cluster."""
    from tapit.agent import daemon
    from tests.conftest import Tapit

    home.mkdir()
    (home / "tapit.toml").write_text('driver = "raw_exec"\n')  # the agent runs tasks as host processes
    info = daemon.ensure_running()
    return Tapit(home, tapit.env | {"TAPIT_HOME": str(home), "NOMAD_ADDR": info.address, "NOMAD_TOKEN": info.token})


def test_s3_store_holds_each_stream_and_the_record_says_where(tapit, s3, archivists):
    (tapit.home / "tapit.toml").write_text(f'log_store = "{STORE}"\n')
    env = s3.environment()
    archivists(env)
    task_id = create(tapit, "printf 'a\\nb\\n'; echo c >&2; exit 3", env=NO_AGENT_ARCHIVIST)
    items = wait_for(lambda: record(task_id).get("logs_url") and record(task_id), "the final record")

    assert items["logs_url"] == f"{STORE}/default/{task_id}/"
    assert items["status"] == "failed" and items["exit_code"] == "3"
    assert s3.get(BUCKET, f"trail/default/{task_id}/stdout") == b"a\nb\n"
    assert s3.get(BUCKET, f"trail/default/{task_id}/stderr") == b"c\n"
    manifest = s3.get(BUCKET, f"trail/default/{task_id}/manifest.json")
    assert json.loads(manifest)["complete"] is True
    assert items["logs_sha256"] == hashlib.sha256(manifest).hexdigest()


def test_archivist_sigkilled_mid_task_loses_nothing_and_repeats_nothing(tapit, tmp_path, archivists):
    gate = tmp_path / "release"
    task_id = create(tapit, gated(gate, first=200, then=300), env=NO_AGENT_ARCHIVIST)
    folder = tapit.home / "agent" / "logstore" / "default" / task_id
    first = archivists()
    wait_for(lambda: (folder / "chunks" / "00000000").exists(), "the first chunk while the task runs")
    first.kill()
    assert record(task_id)["status"] == "running"
    archivists()
    gate.touch()
    wait_for(lambda: (folder / "manifest.json").exists(), "the manifest after the restart")

    assert (folder / "stdout").read_bytes() == numbered("out", 500)
    assert (folder / "stderr").read_bytes() == numbered("err", 500)
    chunks = sorted(p.name for p in (folder / "chunks").iterdir())
    assert chunks == [f"{n:08d}" for n in range(len(chunks))]  # one writer at a time, no gap
    shipped = sum(len(data) for _, data in _records(folder))
    assert shipped == 2 * len(numbered("out", 500))  # no byte in two chunks
    assert wait_for(lambda: record(task_id).get("logs_url"), "the final record")


def test_an_archivist_stops_however_many_signals_come_at_once(tapit, tmp_path, archivists):
    """The embedded agent's archivist gets SIGTERM twice when its agent stops (the agent's own,
    then its death's): signals that land while the first one's handler runs must not hang it."""
    create(tapit, "true", env=NO_AGENT_ARCHIVIST)  # the agent runs, and there is a task to visit
    archivist = archivists()
    log = tmp_path / "archivist-0.log"
    wait_for(lambda: b"keeping the trail" in log.read_bytes(), "the archivist to start")
    for sent in range(300):
        archivist.proc.send_signal(signal.SIGTERM if sent % 2 else signal.SIGINT)
    try:
        archivist.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError("the archivist hung on its stop signals") from None
    assert archivist.proc.returncode == 0, log.read_text()


def test_two_archivists_at_once_ship_each_chunk_once(tapit, tmp_path, archivists):
    gate = tmp_path / "release"
    task_id = create(tapit, gated(gate, first=300, then=300), env=NO_AGENT_ARCHIVIST)
    folder = tapit.home / "agent" / "logstore" / "default" / task_id
    archivists(), archivists()
    wait_for(lambda: (folder / "chunks" / "00000000").exists(), "the first chunk while the task runs")
    gate.touch()
    wait_for(lambda: (folder / "manifest.json").exists(), "the manifest")

    assert (folder / "stdout").read_bytes() == numbered("out", 600)
    assert (folder / "stderr").read_bytes() == numbered("err", 600)
    assert sum(len(data) for _, data in _records(folder)) == 2 * len(numbered("out", 600))


def test_a_cluster_without_archivist_is_told_once(tapit, tmp_path):
    """The agent without its own archivist stands for a cluster without one; then the archivist is
    deployed on it as a Nomad service job (raw_exec standing in for the image), and a teammate is
    told nothing."""
    tapit("agent", "env", env=NO_AGENT_ARCHIVIST)
    operator = as_teammate(tapit, tmp_path / "a")
    first = operator("create", "task", "true")
    assert first.returncode == 0 and "no archivist keeps this cluster's trail" in first.stderr
    assert first.stderr.count("\n") == 1
    again = operator("create", "task", "true")
    assert again.returncode == 0 and again.stderr == ""
    deploy_archivist(operator.env | {"TAPIT_LOG_STORE": (tmp_path / "store").as_uri()})
    wait_for(lambda: (agent_request("/v1/job/tapit-archivist") or {}).get("Status") == "running", "the archivist job")
    teammate = as_teammate(tapit, tmp_path / "b")
    created = teammate("create", "task", "echo kept by the job", "--json")
    assert created.returncode == 0 and created.stderr == ""
    task_id = json.loads(created.stdout)["id"]
    items = wait_for(
        lambda: record(task_id).get("logs_url") and record(task_id), "the record the job's archivist wrote"
    )
    assert items["logs_url"] == f"{(tmp_path / 'store').as_uri()}/default/{task_id}/"
    assert (tmp_path / "store" / "default" / task_id / "stdout").read_text() == "kept by the job\n"


def deploy_archivist(env: dict) -> None:
    """jobs/tapit-archivist.nomad.hcl's job, with raw_exec running this checkout's tapit."""
    keep = ("NOMAD_ADDR", "NOMAD_TOKEN", "TAPIT_HOME", "TAPIT_LOG_STORE", "PATH", "HOME")
    task = {
        "Name": "archivist",
        "Driver": "raw_exec",
        "Config": {"command": sys.executable, "args": ["-m", "tapit", "archivist"]},
        "Env": {k: env[k] for k in keep if k in env},
        "Resources": {"CPU": 100, "MemoryMB": 256},
    }
    job = {"ID": "tapit-archivist", "Name": "tapit-archivist", "Type": "service", "Datacenters": ["*"]}
    job["TaskGroups"] = [{"Name": "archivist", "Count": 1, "Tasks": [task]}]
    from tapit.agent import daemon

    info = daemon.ensure_running()
    request = urllib.request.Request(
        info.address + "/v1/jobs",
        data=json.dumps({"Job": job}).encode(),
        method="POST",
        headers={"X-Nomad-Token": info.token},
    )
    urllib.request.urlopen(request, timeout=10).close()


def _records(folder):
    from tapit.trail import logformat

    for chunk in sorted((folder / "chunks").iterdir()):
        data = chunk.read_bytes()
        _, start = logformat.decode_header(data)
        yield from logformat.decode_records(data, start)


def test_max_hours_enforced_by_the_archivist_on_a_server_without_max_run_duration(tapit):
    """An agent behaving as Nomad 2.0.2 drops MaxRunDuration, as servers before 2.0.3 do; nobody
    watches the task but the agent's archivist, which stops it at its deadline."""
    old = {"TAPIT_AGENT_AS_NOMAD": "2.0.2"}
    task_id = create(tapit, "echo started; sleep 300", "max_hours=0.002", env=old)
    job = agent_request(f"/v1/job/tapit-{task_id}")
    assert job["TaskGroups"][0]["MaxRunDuration"] is None
    items = wait_for(lambda: record(task_id).get("status") == "timed_out" and record(task_id), "the deadline")
    assert items["stopped_by"] == "deadline"
    assert items["reason"] == "killed: exceeded max_hours"


def test_unknown_log_store_scheme_is_bad_input(tapit):
    (tapit.home / "tapit.toml").write_text('log_store = "ftp://files.example.com/logs"\n')
    done = tapit("archivist")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "unknown scheme 'ftp://'" in done.stderr


def test_a_store_that_refuses_is_one_line_and_exit_3(tapit, tmp_path):
    server = S3Server(tmp_path / "moto.log", refuse=True)
    try:
        (tapit.home / "tapit.toml").write_text(f'log_store = "{STORE}"\n')
        done = tapit("archivist", env=server.environment())
    finally:
        server.stop()
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert f"the log store {STORE} refused (permission denied)" in done.stderr and "403" in done.stderr


def test_a_store_that_is_down_is_one_line_and_exit_3(tapit, tmp_path):
    server = S3Server(tmp_path / "moto.log")
    env = server.environment()
    server.stop()  # nothing listens on its port any more
    (tapit.home / "tapit.toml").write_text(f'log_store = "{STORE}"\n')
    done = tapit("archivist", env=env)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1 and f"the log store {STORE} could not be reached" in done.stderr


def test_store_going_down_mid_task_is_kept_in_the_record(tapit, tmp_path, s3, archivists):
    (tapit.home / "tapit.toml").write_text(f'log_store = "{STORE}"\n')
    gate = tmp_path / "release"
    task_id = create(tapit, gated(gate), env=NO_AGENT_ARCHIVIST)
    archivists(s3.environment())
    wait_for(lambda: s3.get(BUCKET, f"trail/default/{task_id}/chunks/00000000"), "the first chunk in S3")
    s3.stop()
    gate.touch()
    items = wait_for(lambda: record(task_id).get("logs_error") and record(task_id), "the store's failure recorded")
    assert items["logs_error"].startswith(f"the log store {STORE} could not be reached when writing")
    assert "logs_url" not in items


def test_the_agents_archivist_dies_with_a_sigkilled_agent(tapit):
    """Its tasks outlive a SIGKILLed agent, and the next agent takes them back; its archivist must
    not outlive it, or the next agent's would run beside it."""
    from tapit.agent import daemon

    agent = daemon.ensure_running()
    child = wait_for(lambda: _archivist_child_of(agent.pid), "the agent's archivist")
    os.kill(agent.pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{child}") or _zombie(child), "the archivist to end with its agent")


def test_the_agents_archivist_runs_nicer_than_the_agent(tapit):
    """It reads every log a `create --wait` reads: on a busy machine the user's wait comes first."""
    from tapit.agent import archivist_child, daemon

    agent = daemon.ensure_running()
    child = wait_for(lambda: _archivist_child_of(agent.pid), "the agent's archivist")
    assert _niceness(child) == _niceness(agent.pid) + archivist_child.NICENESS


def _niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[16])  # proc(5): field 19


def _archivist_child_of(pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == pid and b"archivist" in cmdline:
            return int(entry)
    return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True
