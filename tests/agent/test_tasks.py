"""Tasks run as real processes, reported as Nomad's task runner reports them, with their logs."""

import base64
import json
import threading
import time

import httpx


def frames(body: bytes) -> list[dict]:
    """Split Nomad's undelimited concatenated JSON frames."""
    decoder, text, out, pos = json.JSONDecoder(), body.decode(), [], 0
    while pos < len(text):
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)
    return out


def test_success_and_failure_event_sequences(agent):
    agent.register("ok", "echo fine")
    agent.register("bad", "exit 7")
    ok = agent.wait_alloc("ok", ("complete", "failed"))
    bad = agent.wait_alloc("bad", ("complete", "failed"))
    state = ok["TaskStates"]["main"]
    assert ok["ClientStatus"] == "complete" and state["State"] == "dead" and state["Failed"] is False
    assert [e["Type"] for e in state["Events"]] == ["Received", "Task Setup", "Task Setup", "Started", "Terminated"]
    assert state["StartedAt"].endswith("Z") and state["FinishedAt"] != "0001-01-01T00:00:00Z"
    state = bad["TaskStates"]["main"]
    assert (bad["ClientStatus"], bad["ClientDescription"]) == ("failed", "Failed tasks")
    assert [e["Type"] for e in state["Events"]][-2:] == ["Terminated", "Not Restarting"]
    terminated, not_restarting = state["Events"][-2:]
    assert terminated["ExitCode"] == 7 and terminated["Details"]["exit_code"] == "7"
    assert terminated["DisplayMessage"] == "Exit Code: 7"
    assert not_restarting["DisplayMessage"] == "Policy allows no restarts" and not_restarting["FailsTask"]
    assert agent.nomad.job.get_summary("bad")["Summary"]["main"]["Failed"] == 1


def test_task_environment_and_directories(agent):
    agent.register(
        "envy",
        'pwd; env | grep -E "^(NOMAD_|FOO=)" | sort; ls -d local secrets tmp ../alloc/logs',
        task={"Env": {"FOO": "bar"}, "Meta": {"task-key": "v"}},
    )
    alloc = agent.wait_alloc("envy", ("complete",))
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    alloc_dir = agent.home / "agent" / "allocs" / alloc["ID"]
    assert out.splitlines()[0] == str(alloc_dir / "main")
    assert env["NOMAD_ALLOC_ID"] == alloc["ID"] and env["NOMAD_ALLOC_NAME"] == "envy.main[0]"
    assert env["NOMAD_JOB_ID"] == env["NOMAD_JOB_NAME"] == "envy" and env["NOMAD_TASK_NAME"] == "main"
    assert env["NOMAD_GROUP_NAME"] == "main" and env["NOMAD_NAMESPACE"] == "default"
    assert env["NOMAD_REGION"] == "global" and env["NOMAD_DC"] == "dc1"
    assert env["NOMAD_ALLOC_DIR"] == str(alloc_dir / "alloc")
    assert env["NOMAD_TASK_DIR"] == str(alloc_dir / "main" / "local")
    assert env["NOMAD_SECRETS_DIR"] == str(alloc_dir / "main" / "secrets")
    assert env["NOMAD_MEMORY_LIMIT"] == "256" and env["NOMAD_CPU_LIMIT"] == "500"
    assert env["NOMAD_META_managed_by"] == "tapit-tests" and env["NOMAD_META_TASK_KEY"] == "v"
    assert env["FOO"] == "bar"


def test_missing_command_binary_is_a_driver_failure(agent):
    agent.register("nobin", "", task={"Config": {"command": "/does/not/exist"}})
    alloc = agent.wait_alloc("nobin", ("failed",))
    types = [e["Type"] for e in alloc["TaskStates"]["main"]["Events"]]
    assert types[-2:] == ["Driver Failure", "Not Restarting"]
    assert alloc["TaskStates"]["main"]["Events"][-1]["DisplayMessage"] == "Error was unrecoverable"


def test_missing_command_fails_validation(agent):
    agent.register("nocmd", "", task={"Config": {"args": ["hello"]}})
    alloc = agent.wait_alloc("nocmd", ("failed",))
    state = alloc["TaskStates"]["main"]
    assert [e["Type"] for e in state["Events"]] == [
        "Received",
        "Task Setup",
        "Task Setup",
        "Failed Validation",
        "Not Restarting",
    ]
    failed = state["Events"][3]
    # TaskEvent.SetValidationError: the field and Details["validation_error"]; the display is the error.
    assert 'missing required field "command"' in failed["ValidationError"]
    assert failed["Details"] == {"validation_error": failed["ValidationError"]}
    assert failed["DisplayMessage"] == failed["ValidationError"] and failed["Message"] == ""
    assert state["State"] == "dead" and state["Failed"] and state["StartedAt"] == "0001-01-01T00:00:00Z"
    # client/fs_endpoint.go: no logs for a task whose StartedAt is zero, whatever its state.
    resp = agent.http.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout"})
    assert (resp.status_code, resp.text) == (404, 'task "main" not started yet. No logs available')


def test_an_error_on_the_way_to_start_fails_the_task(agent):
    # Arguments that are not a list make the agent's own start path raise.
    agent.register("oddargs", "", task={"Config": {"command": "/bin/echo", "args": 5}})
    alloc = agent.wait_alloc("oddargs", ("failed",))
    events = alloc["TaskStates"]["main"]["Events"]
    assert [e["Type"] for e in events][-2:] == ["Driver Failure", "Not Restarting"]
    assert events[-2]["DriverError"] == "'int' object is not iterable"
    assert events[-1]["DisplayMessage"] == "Error was unrecoverable"
    assert agent.nomad.job.get_job("oddargs")["Status"] == "dead"


def test_tasks_start_with_default_signal_dispositions(agent):
    agent.register("sigs", "exec grep -E '^Sig(Ign|Blk)' /proc/self/status")
    alloc = agent.wait_alloc("sigs", ("complete",))
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    assert out.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def test_a_task_that_closes_its_output_runs_on_until_it_exits(agent):
    # GNU tools close stdout and stderr just before they exit (gnulib close_stdout); a daemon may
    # close them and run for hours. The end of its output is not the end of the task: Nomad's
    # executor waits on the process (drivers/shared/executor/executor.go wait), not on its pipes.
    agent.register("closer", "echo before; exec >&- 2>&-; sleep 1; exit 3")
    alloc = agent.wait_alloc("closer", ("complete", "failed"))
    terminated = alloc["TaskStates"]["main"]["Events"][-2]
    assert (terminated["Type"], terminated["ExitCode"], terminated["Signal"]) == ("Terminated", 3, 0)
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    assert out == "before\n"


def test_log_frames_offsets_and_errors(agent):
    agent.register("logs", "printf 0123456789; printf oops >&2")
    alloc = agent.wait_alloc("logs", ("complete",))
    url = f"/v1/client/fs/logs/{alloc['ID']}"
    resp = agent.http.get(url, params={"task": "main", "type": "stdout"})
    assert resp.headers["Content-Type"].startswith("application/json")
    data = [f for f in frames(resp.content) if f]
    assert data == [
        {"Offset": 10, "Data": base64.b64encode(b"0123456789").decode(), "File": "alloc/logs/main.stdout.0"}
    ]

    def get(**q):
        return agent.http.get(url, params={"task": "main", "type": "stdout", "plain": "true", **q})

    assert get().text == "0123456789"
    assert get(offset=4).text == "456789"
    assert get(offset=3, origin="end").text == "789"
    assert agent.http.get(url, params={"task": "main", "type": "stderr", "plain": "True"}).text == "oops"
    errors = {
        (400, "must provide task name"): {"type": "stdout"},
        (400, "must provide log type (stdout/stderr)"): {"task": "main"},
        (400, 'unknown task name "nope"'): {"task": "nope", "type": "stdout"},
        (400, "origin must be start or end"): {"task": "main", "type": "stdout", "origin": "middle"},
        (400, 'failed to parse follow field to boolean: strconv.ParseBool: parsing "yes": invalid syntax'): {
            "task": "main",
            "type": "stdout",
            "follow": "yes",
        },
    }
    for (code, text), params in errors.items():
        resp = agent.http.get(url, params=params)
        assert (resp.status_code, resp.text) == (code, text)
    resp = agent.http.get(
        "/v1/client/fs/logs/00000000-0000-0000-0000-000000000000", params={"task": "main", "type": "stdout"}
    )
    assert resp.status_code == 404


def test_follow_streams_live_and_outlives_the_task(agent):
    agent.register("live", "echo first; sleep 1; echo second; sleep 0.5")
    alloc = agent.wait_alloc("live", ("running", "complete"))
    received, stop = [], threading.Event()

    def follow():
        with httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": agent.token}) as client:
            with client.stream(
                "GET",
                f"/v1/client/fs/logs/{alloc['ID']}",
                params={"task": "main", "type": "stdout", "follow": "true"},
                timeout=httpx.Timeout(10, read=5),
            ) as resp:
                buf = b""
                for chunk in resp.iter_raw():
                    buf += chunk
                    received.append((time.monotonic(), buf))
                    if stop.is_set():
                        return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    agent.wait_alloc("live", ("complete",))
    time.sleep(2.5)  # the stream keeps going after the task is dead, with {} heartbeats
    stop.set()
    reader.join(timeout=5)
    parsed = frames(received[-1][1])
    text = b"".join(base64.b64decode(f["Data"]) for f in parsed if f.get("Data"))
    assert text == b"first\nsecond\n"
    assert parsed[-1] == {} and parsed.count({}) >= 2


def rfc3339_ns(stamp: str) -> int:
    """Go's RFC3339Nano (UTC, trailing zeros of the fraction trimmed) as nanoseconds."""
    from datetime import datetime

    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def test_a_task_never_finishes_before_it_started(agent):
    # task_runner.go updateStateImpl stamps StartedAt on entering running and FinishedAt on
    # entering dead. Many short tasks at once keep the agent busy, so it reads each "started"
    # after the task has ended: the start must still be the supervisor's, not the agent's late clock.
    for n in range(30):
        agent.register(f"short{n}", "true")
    for n in range(30):
        alloc = agent.wait_alloc(f"short{n}", ("complete",), timeout=60)
        state = alloc["TaskStates"]["main"]
        started, finished = rfc3339_ns(state["StartedAt"]), rfc3339_ns(state["FinishedAt"])
        assert started <= finished, (n, state["StartedAt"], state["FinishedAt"])
        times = {e["Type"]: e["Time"] for e in state["Events"]}
        assert times["Started"] <= times["Terminated"]
