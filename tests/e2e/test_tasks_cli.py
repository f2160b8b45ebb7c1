"""Tasks end to end: the real CLI, the real embedded agent, real processes."""

import json
import time

import pytest
from nomad.api.exceptions import URLNotFoundNomadException

from tests.e2e.test_archivist import NO_AGENT_ARCHIVIST


def test_wait_streams_output_and_passes_exit_codes_through(tapit):
    ok = tapit("create", "task", "echo hello; echo oops >&2", "--wait")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "hello\n", "oops\n")
    for code in (1, 7):
        result = tapit("create", "task", f"echo before; exit {code}", "-w")
        assert result.returncode == code
        assert result.stdout == "before\n"
        assert "failed" in result.stderr


def test_output_arrives_while_the_task_runs(tapit):
    process = tapit.popen(
        "create", "task", "echo first; sleep 3; echo second", "--wait", stdout=__import__("subprocess").PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "first\n"
        assert process.poll() is None  # still running: the line came live, not at the end
        assert process.stdout.readline() == "second\n"
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()


def test_create_without_wait_prints_the_id_and_how_to_follow(tapit):
    result = tapit("create", "task", "echo later; exit 3")
    assert result.returncode == 0
    first, second = result.stdout.splitlines()
    task_id = first.split()[2]
    assert f"tapit show logs task={task_id} --follow" in second
    follow = tapit("show", "logs", f"task={task_id}", "--follow")
    assert (follow.returncode, follow.stdout) == (3, "later\n")


def test_json_has_the_promised_fields(tapit):
    record = json.loads(tapit("create", "task", "true", "--wait", "--json", "memory=1", "cpu=0.5").stdout)
    for field in (
        "id",
        "status",
        "exit_code",
        "command",
        "image",
        "memory_gb",
        "cpu",
        "max_hours",
        "ephemeral_storage_gb",
        "initiated_by",
        "created_at",
        "started_at",
        "finished_at",
        "nomad_job_id",
        "nomad_namespace",
    ):
        assert field in record
    assert (record["status"], record["exit_code"], record["memory_gb"], record["cpu"]) == ("complete", 0, 1.0, 0.5)
    assert record["nomad_job_id"] == f"tapit-{record['id']}"
    shown = json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)
    assert shown["id"] == record["id"] and shown["finished_at"]
    listed = json.loads(tapit("list", "tasks", "--json").stdout)
    assert [t["id"] for t in listed] == [record["id"]]


def test_list_show_logs_stop_delete(tapit, nomad_api):
    done = json.loads(tapit("create", "task", "echo done", "--wait", "--json", "initiated_by=ci-bot").stdout)
    running = json.loads(tapit("create", "task", "echo started; sleep 300", "--json").stdout)
    listing = tapit("list", "tasks")
    assert listing.returncode == 0
    assert done["id"] in listing.stdout and running["id"] in listing.stdout and "ci-bot" in listing.stdout
    details = tapit("show", "task", f"task={done['id']}")
    assert "complete" in details.stdout and "ci-bot" in details.stdout
    assert tapit("show", "logs", f"task={done['id']}").stdout == "done\n"

    refused = tapit("delete", "task", f"task={running['id']}")
    assert refused.returncode == 1 and "stop it first" in refused.stderr
    stopped = tapit("stop", "task", f"task={running['id']}")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert json.loads(tapit("show", "task", f"task={running['id']}", "--json").stdout)["status"] == "stopped"

    deleted = tapit("delete", "task", f"task={running['id']}")
    assert deleted.returncode == 0
    assert running["id"] not in tapit("list", "tasks").stdout
    with pytest.raises(URLNotFoundNomadException):
        nomad_api.job.get_job(running["nomad_job_id"])


def test_logs_survive_a_purge_of_the_job(tapit, nomad_api):
    record = json.loads(tapit("create", "task", "echo kept; echo also >&2", "--wait", "--json").stdout)
    nomad_api.job.deregister_job(record["nomad_job_id"], purge=True)
    logs = tapit("show", "logs", f"task={record['id']}")
    assert (logs.returncode, logs.stdout, logs.stderr) == (0, "kept\n", "also\n")


def test_logs_nobody_kept_are_said_to_be_gone_never_shown_as_empty(tapit):
    """Nobody followed the task, no archivist ships (NO_AGENT_ARCHIVIST), and the job was purged
    (on the embedded agent, collected at once): its output cannot be shown, and one line says so."""
    import nomad

    from tapit.agent import daemon

    tapit("agent", "env", env=NO_AGENT_ARCHIVIST)
    info = daemon.ensure_running()  # the agent just started, without its archivist
    nomad_api = nomad.Nomad(address=info.address, token=info.token, timeout=10)
    record = json.loads(tapit("create", "task", "echo lost", "--json").stdout)
    deadline = time.monotonic() + 60
    while not (
        done := [a for a in nomad_api.job.get_allocations(record["nomad_job_id"]) if a["ClientStatus"] == "complete"]
    ):
        assert time.monotonic() < deadline, "the task never completed"
        time.sleep(0.1)
    nomad_api.job.deregister_job(record["nomad_job_id"], purge=True)
    while (tapit.home / "agent" / "allocs" / done[0]["ID"]).exists():  # the client's GC, once its disk is released
        assert time.monotonic() < deadline + 60, "the purged allocation was never collected"
        time.sleep(0.1)
    logs = tapit("show", "logs", f"task={record['id']}")
    assert (logs.returncode, logs.stdout) == (1, "")
    (said,) = logs.stderr.splitlines()
    assert said.startswith(f"tapit: task {record['id']}: Nomad no longer has its ")
    assert said.endswith(", and no copy of its output was kept")


def test_admins_see_a_well_labelled_batch_job(tapit, nomad_api):
    record = json.loads(tapit("create", "task", "echo hi", "--wait", "--json", "initiated_by=alice").stdout)
    job = nomad_api.job.get_job(record["nomad_job_id"])
    assert job["Type"] == "batch"
    assert job["Meta"]["tapit_initiated_by"] == "alice"
    assert job["Meta"]["tapit_command"] == "echo hi"
    assert job["Meta"]["tapit_task_id"] == record["id"]


def test_tasks_started_elsewhere_are_listed(tapit, nomad_api):
    record = json.loads(tapit("create", "task", "echo theirs", "--wait", "--json", "initiated_by=bob").stdout)
    (tapit.home / "history.json").unlink()  # as if another machine had started it
    listed = json.loads(tapit("list", "tasks", "--json").stdout)
    assert [(t["id"], t["initiated_by"], t["status"]) for t in listed] == [(record["id"], "bob", "complete")]


def test_twenty_concurrent_creates(tapit, nomad_api):
    tapit("agent", "env")  # start the agent once, so the test measures create's concurrency
    processes = [tapit.popen("create", "task", f"echo {n}", "--json", stdout=-1, text=True) for n in range(20)]
    ids = [json.loads(p.communicate(timeout=120)[0])["id"] for p in processes]
    assert all(p.returncode == 0 for p in processes)
    listed = json.loads(tapit("list", "tasks", "--json").stdout)
    assert sorted(t["id"] for t in listed) == sorted(ids) and len(set(ids)) == 20
    jobs = nomad_api.jobs.get_jobs(prefix="tapit-")
    assert sorted(j["ID"] for j in jobs) == sorted(f"tapit-{i}" for i in ids)


def test_deadline_ends_a_task_as_timed_out(tapit):
    started = time.monotonic()
    result = tapit("create", "task", "sleep 600", "max_hours=0.0005", "--wait", "--json")
    record = json.loads(result.stdout)
    assert record["status"] == "timed_out"
    assert result.returncode == 124 == record["exit_code"]  # one code, whatever signal ended it
    assert "exit code 124: killed: exceeded max_hours" in result.stderr
    assert time.monotonic() - started < 60


def test_unreachable_nomad_exits_3_naming_the_address(tapit):
    env = {**tapit.env, "NOMAD_ADDR": "http://127.0.0.1:9"}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tapit", "create", "task", "true", "image=alpine:3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "127.0.0.1:9" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    # The failed submission stays in the trail with its error.
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tapit", "list", "tasks", "--json"],
            env={**tapit.env},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    assert listed[0]["status"] == "failed" and listed[0]["error"]


def test_create_warns_about_limits_the_machine_cannot_enforce(tapit, tmp_path):
    tapit.env["TAPIT_CGROUP_ROOT"] = str(tmp_path / "no-cgroups")  # the agent inherits it: no cgroups here
    result = tapit("create", "task", "echo ran", "--wait")
    assert result.returncode == 0 and result.stdout == "ran\n"
    assert "warning: this machine cannot enforce the memory, cpu limit(s)" in result.stderr


def test_oom_kill_is_reported_with_the_limit(tapit):
    result = tapit("create", "task", "python3 -c 'x = bytearray(400 * 1024 * 1024)'", "memory=0.1", "--wait", "--json")
    record = json.loads(result.stdout)
    assert record["status"] == "failed"
    assert record["reason"] == "killed: out of memory (limit 103 MB)"
    assert result.returncode == record["exit_code"] != 0


def test_ctrl_c_while_waiting_leaves_the_task_running_and_says_how_to_rejoin(tapit):
    import signal
    import subprocess

    process = tapit.popen(
        "create", "task", "echo started; sleep 60", "--wait", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "started\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130
    assert "keeps running" in err and "tapit show logs task=" in err and "Traceback" not in err
    (record,) = json.loads(tapit("list", "tasks", "--json").stdout)
    assert record["status"] == "running"
    assert tapit("stop", "task", f"task={record['id']}").returncode == 0


def test_tasks_do_not_inherit_the_starting_shells_environment(tapit):
    tapit.env.update(PS1="(venv) $ ", SECRET_OF_THE_SHELL="x", LC_ALL="C.UTF-8")
    result = tapit("create", "task", "env", "--wait")
    assert "SECRET_OF_THE_SHELL" not in result.stdout and "PS1" not in result.stdout
    assert "LC_ALL=C.UTF-8" in result.stdout and "PATH=" in result.stdout
    assert "NOMAD_ALLOC_ID=" in result.stdout  # Nomad's own task variables are there


def test_agent_status_says_whether_images_can_run(tapit, tmp_path):
    assert tapit("agent", "status").returncode == 1  # not started yet
    tapit.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    assert tapit("agent", "env").returncode == 0  # starts it
    lines = tapit("agent", "status").stdout.splitlines()
    assert lines[0].startswith("The embedded agent is running at http://127.0.0.1:")
    assert lines[1].startswith("Drivers: ") and "raw_exec" in lines[1]
    assert lines[1].endswith("; docker: no Docker or Podman engine found, so image= tasks cannot run here")


def test_an_image_without_a_container_engine_fails_placement_naming_the_fix(tapit, tmp_path):
    # An engine socket that does not exist: the agent offers no docker driver.
    tapit.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    result = tapit("create", "task", "true", "image=ubuntu:24.04", "--wait", "--json")
    record = json.loads(result.stdout)
    assert result.returncode == 1 and record["status"] == "failed"
    assert record["reason"].startswith("not placed: no node offers the task's driver (missing drivers)")
    assert "found no Docker or Podman engine" in record["reason"]
    assert "set DOCKER_HOST to its socket" in record["reason"]
    assert "drop image=/docker_tag=, or point NOMAD_ADDR at a cluster" in record["reason"]


def test_a_task_killed_with_the_agent_is_a_failure_that_says_so(tapit):
    record = json.loads(tapit("create", "task", "echo up; sleep 300", "--json").stdout)
    # Running for sure: it has printed.
    deadline = time.monotonic() + 30
    while tapit("show", "logs", f"task={record['id']}").stdout != "up\n":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert tapit("agent", "stop", "--kill-tasks").returncode == 0
    shown = json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)  # a new agent reattaches
    assert shown["status"] == "failed"
    assert shown["reason"] == "killed: the embedded agent was stopped with --kill-tasks"
