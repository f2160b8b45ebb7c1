"""Stopping, deadlines, and surviving an agent restart."""

import json
import os
import signal
import time

import pytest

from tapit.agent import daemon

from .conftest import processes_under

STUBBORN = "trap '' INT TERM; sleep 600 & sleep 600 & echo ready; wait"


def test_deregister_kills_the_whole_tree_after_kill_timeout(agent):
    agent.register("stubborn", STUBBORN, task={"KillTimeout": 1_000_000_000})
    agent.wait_output(agent.wait_alloc("stubborn", ("running",))["ID"], "ready")
    assert len(processes_under(agent.home / "agent")) >= 3
    started = time.monotonic()
    reply = agent.nomad.job.deregister_job("stubborn")
    assert agent.nomad.evaluation.get_evaluation(reply["EvalID"])["TriggeredBy"] == "job-deregister"
    alloc = agent.wait_alloc("stubborn", ("complete", "failed"))
    assert time.monotonic() - started >= 0.9  # the trap ignored the signal; SIGKILL came after KillTimeout
    assert alloc["ClientStatus"] == "complete"
    assert (alloc["DesiredStatus"], alloc["DesiredDescription"]) == ("stop", "alloc not needed due to job update")
    events = alloc["TaskStates"]["main"]["Events"]
    assert [e["Type"] for e in events][-3:] == ["Killing", "Terminated", "Killed"]
    assert events[-3]["DisplayMessage"] == "Sent interrupt. Waiting 1s before force killing"
    assert events[-3]["Details"]["kill_timeout"] == "1s"
    assert events[-2]["Signal"] == signal.SIGKILL and events[-2]["ExitCode"] == 128 + signal.SIGKILL
    assert alloc["TaskStates"]["main"]["Failed"] is False
    job = agent.nomad.job.get_job("stubborn")
    assert job["Stop"] is True and job["Status"] == "dead"
    assert processes_under(agent.home / "agent") == []


def test_kill_signal_ends_a_cooperative_task(agent):
    agent.register(
        "polite",
        "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
        task={"KillSignal": "SIGTERM", "KillTimeout": 10_000_000_000},
    )
    agent.wait_output(agent.wait_alloc("polite", ("running",))["ID"], "ready")  # the trap is set
    agent.nomad.job.deregister_job("polite")
    alloc = agent.wait_alloc("polite", ("complete",), timeout=5)
    assert alloc["TaskStates"]["main"]["Events"][-2]["ExitCode"] == 0
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    assert "got-term" in out


def test_max_run_duration(agent):
    agent.register("deadline", "sleep 600", group={"MaxRunDuration": 1_000_000_000})
    started = time.monotonic()
    alloc = agent.wait_alloc("deadline", ("complete", "failed"), timeout=10)
    assert time.monotonic() - started < 5
    assert (alloc["ClientStatus"], alloc["ClientDescription"]) == ("complete", "allocation exceeded max_run_duration")
    killing = next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Killing")
    assert killing["DisplayMessage"] == "allocation exceeded max_run_duration"
    assert agent.nomad.job.get_job("deadline")["Status"] == "dead"


def test_validation_of_max_run_duration(agent):
    job = {
        "Job": {
            "ID": "svc",
            "Type": "service",
            "TaskGroups": [
                {
                    "Name": "g",
                    "MaxRunDuration": 1_000_000_000,
                    "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}],
                }
            ],
        }
    }
    resp = agent.http.put("/v1/jobs", json=job)
    assert resp.status_code == 500 and 'Job type "service" does not allow max_run_duration' in resp.text


def test_reattach_after_sigkill(agent):
    go = agent.home / "go"  # the task runs on until the test has seen it running under the new agent
    agent.register("survivor", f"echo before; until [ -e {go} ]; do sleep 0.05; done; echo after; exit 7")
    agent.wait_output(agent.wait_alloc("survivor", ("running",))["ID"], "before")
    os.kill(agent.info.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert processes_under(agent.home / "agent"), "the task must outlive the agent"
    agent.refresh()  # starts a new agent on the same state
    assert agent.alloc("survivor")["ClientStatus"] == "running"
    go.touch()
    alloc = agent.wait_alloc("survivor", ("failed", "complete"), timeout=10)
    state = alloc["TaskStates"]["main"]
    assert state["Events"][-2]["ExitCode"] == 7 and [e["Type"] for e in state["Events"]].count("Started") == 1
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    assert out == "before\nafter\n"


def test_deadline_kept_across_restart_and_lost_task_reported(agent):
    agent.register("late", "sleep 600", group={"MaxRunDuration": 2_000_000_000})
    agent.register("vanish", "sleep 600")
    agent.wait_alloc("late", ("running",))
    vanish = agent.wait_alloc("vanish", ("running",))
    os.kill(agent.info.pid, signal.SIGKILL)
    # While the agent is down, the vanish task's supervisor and process disappear without a trace.
    status = agent.home / "agent" / "run" / f"{vanish['ID']}.main.status"
    fields = dict(line.split("=", 1) for line in status.read_text().splitlines())
    os.kill(int(fields["sup_pid"]), signal.SIGKILL)
    os.kill(int(fields["pid"]), signal.SIGKILL)
    time.sleep(2.5)
    agent.refresh()
    lost = agent.alloc("vanish")
    assert lost["ClientStatus"] == "lost" and lost["TaskStates"]["main"]["Failed"] is True
    assert "vanished" in lost["ClientDescription"]
    late = agent.wait_alloc("late", ("complete",), timeout=10)
    assert late["ClientDescription"] == "allocation exceeded max_run_duration"


def test_concurrent_ensure_running_starts_one_agent(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("TAPIT_HOME", str(tmp_path))
    code = "from tapit.agent import daemon; print(daemon.ensure_running().pid)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for _ in range(20)]
    try:
        pids = {p.communicate(timeout=60)[0].strip() for p in procs}
        assert len(pids) == 1
        assert (tmp_path / "agent" / "token").stat().st_mode & 0o777 == 0o600
    finally:
        assert daemon.stop(kill_tasks=True)


def test_stops_right_after_registering_are_never_lost(agent):
    # Some of these stops reach a supervisor before it has its signal handlers: kept until it has.
    for i in range(8):
        agent.register(f"quick-{i}", "sleep 60")
        agent.nomad.job.deregister_job(f"quick-{i}")
    for i in range(8):
        alloc = agent.wait_alloc(f"quick-{i}", {"complete", "failed", "lost"}, timeout=30)
        assert alloc["ClientStatus"] == "complete", alloc["ClientDescription"]


def test_a_supervisor_killed_while_the_agent_is_up_fails_its_task_and_says_so(agent):
    """drivers/rawexec/handle.go run: an executor that dies under a running client ends its task
    with the error as its exit message; the agent was up, so nothing says it was down."""
    agent.register("orphaned", "sleep 60")
    alloc = agent.wait_alloc("orphaned", ("running",))
    status = agent.home / "agent" / "run" / f"{alloc['ID']}.main.status"
    fields = dict(line.split("=", 1) for line in status.read_text().splitlines())
    os.kill(int(fields["sup_pid"]), signal.SIGKILL)
    alloc = agent.wait_alloc("orphaned", ("failed", "lost", "complete"))
    assert alloc["ClientStatus"] == "failed"
    terminated = next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Terminated")
    assert terminated["Message"] == "the task's supervisor exited (signal 9) before recording how the task ended"
    assert "agent was down" not in json.dumps(alloc)
    assert not processes_under(agent.home / "agent"), "its task is killed with it"


def test_a_failed_start_names_what_this_start_wrote_not_an_older_line(tmp_path, monkeypatch):
    """An agent that never answers (here: its namespace probe hangs) and writes nothing: the
    error says so, and does not repeat the last line of an earlier run's log."""
    monkeypatch.setenv("TAPIT_HOME", str(tmp_path))
    log = tmp_path / "agent" / "agent.log"
    log.parent.mkdir()
    log.write_text("tapit agent listening on http://127.0.0.1:1\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "unshare").write_text(f"#!/bin/sh\necho $$ > {fake}/pid\nexec sleep 30\n")
    (fake / "unshare").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setattr(daemon, "START_TIMEOUT", 1.0)
    try:
        with pytest.raises(daemon.AgentStartError) as err:
            daemon.ensure_running()
    finally:
        # The probe the killed agent left, if it got that far (on a loaded machine it may be
        # killed while still importing: it writes nothing either way).
        if (fake / "pid").exists():
            os.kill(int((fake / "pid").read_text()), signal.SIGKILL)
    assert "listening" not in str(err.value)
    assert (
        str(err.value) == f"the embedded agent did not start: it did not answer within 1 s, and wrote nothing to {log}"
    )
