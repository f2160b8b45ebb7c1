"""The embedded agent's docker driver against a real engine (Docker, or Podman's Docker API),
driven through Nomad's HTTP API as a cluster admin's tools would (drivers/docker in Nomad)."""

import os
import signal
import time

import pytest
from container_engine import TEST_IMAGE

MIB = 1024 * 1024


@pytest.fixture
def docker_agent(docker_host, agent):
    return agent


def register(agent, job_id, command, image=TEST_IMAGE, group=None, **task):
    config = {"image": image, "command": "/bin/sh", "args": ["-c", command]}
    return agent.register(job_id, command, driver="docker", group=group, task={"Config": config, **task})


def events(alloc):
    return [e["Type"] for e in alloc["TaskStates"]["main"]["Events"]]


def terminated(alloc):
    return next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Terminated")


def logs(agent, alloc_id, kind="stdout"):
    params = {"task": "main", "type": kind, "plain": "true"}
    return agent.http.get(f"/v1/client/fs/logs/{alloc_id}", params=params).text


def test_the_node_offers_docker_with_the_engine_version(docker_agent):
    [stub] = docker_agent.nomad.nodes.get_nodes()
    assert stub["Drivers"]["docker"]["Detected"] and stub["Drivers"]["docker"]["Healthy"]
    deadline = time.monotonic() + 10
    while True:  # the release number arrives a moment after the driver (Podman is slow to say it)
        node = docker_agent.nomad.node.get_node(stub["ID"])
        docker = node["Drivers"]["docker"]
        if "driver.docker.version" in docker["Attributes"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert docker["Attributes"]["driver.docker"] == "1" and docker["Attributes"]["driver.docker.version"]
    assert node["Attributes"]["driver.docker"] == "1"
    assert node["Attributes"]["driver.docker.version"] == docker["Attributes"]["driver.docker.version"]


def test_a_task_runs_in_its_image_with_nomads_directories_and_environment(docker_agent):
    command = (
        "echo out; echo err >&2; echo dirs $NOMAD_ALLOC_DIR $NOMAD_TASK_DIR $NOMAD_SECRETS_DIR; "
        "echo job $NOMAD_JOB_ID mem $NOMAD_MEMORY_LIMIT; echo shared > /alloc/data/from-task; "
        "echo mine > /local/note; env | grep -c TAPIT_HOME; ls /bin/busybox; sleep 30"
    )
    register(docker_agent, "in-image", command)
    alloc = docker_agent.wait_alloc("in-image", {"running"}, timeout=60)
    docker_agent.wait_output(alloc["ID"], "/bin/busybox\n", timeout=30)
    # While it runs (once it ends, a size-limited filesystem goes with what it wrote but its logs).
    alloc_dir = docker_agent.home / "agent" / "allocs" / alloc["ID"]
    assert (alloc_dir / "alloc" / "data" / "from-task").read_text() == "shared\n"
    assert (alloc_dir / "main" / "local" / "note").read_text() == "mine\n"
    docker_agent.nomad.job.deregister_job("in-image")
    alloc = docker_agent.wait_alloc("in-image", {"complete", "failed"}, timeout=60)
    assert alloc["ClientStatus"] == "complete", alloc["TaskStates"]
    assert events(alloc)[:4] == ["Received", "Task Setup", "Task Setup", "Started"] and "Terminated" in events(alloc)
    out = logs(docker_agent, alloc["ID"])
    assert out.startswith("out\n") and "dirs /alloc /local /secrets\n" in out
    assert "job in-image mem 256\n" in out
    assert "0\n/bin/busybox\n" in out  # the agent's own environment stays outside; the image's files are there
    assert logs(docker_agent, alloc["ID"], "stderr") == "err\n"


def test_a_failing_task_reports_its_exit_code_as_the_docker_driver_does(docker_agent):
    register(docker_agent, "exit-3", "exit 3")
    alloc = docker_agent.wait_alloc("exit-3", {"failed"}, timeout=60)
    event = terminated(alloc)
    assert (event["ExitCode"], event["Signal"], event["Details"]["oom_killed"]) == (3, 0, "false")
    assert event["Details"]["exit_message"] == "Docker container exited with non-zero exit code: 3"
    assert events(alloc)[-1] == "Not Restarting"


def test_memory_and_cpu_limits_reach_the_container(docker_agent):
    # The container's own cgroup files, as the task sees them (v1 paths, else v2's).
    command = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || echo no-v1-shares"
    )
    register(docker_agent, "limits", command)
    alloc = docker_agent.wait_alloc("limits", {"complete", "failed"}, timeout=60)
    memory, shares = logs(docker_agent, alloc["ID"]).split()
    assert int(memory) == 256 * MIB
    assert shares in ("500", "no-v1-shares")


def test_a_task_over_its_memory_is_killed(docker_agent):
    # 200 MB into a shell variable with a 32 MB limit; whether the engine also says "OOM" in its
    # inspect data depends on the engine (Nomad passes on what it says).
    register(
        docker_agent,
        "hog",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
        Resources={"CPU": 500, "MemoryMB": 32},
    )
    alloc = docker_agent.wait_alloc("hog", {"failed"}, timeout=60)
    event = terminated(alloc)
    assert event["ExitCode"] == 137
    if event["Details"]["oom_killed"] == "true":
        assert event["Details"]["exit_message"] == "OOM Killed"
    assert "survived" not in logs(docker_agent, alloc["ID"])


def test_a_stop_sends_the_kill_signal_then_sigkill_after_the_kill_timeout(docker_agent):
    register(
        docker_agent,
        "stubborn",
        "trap 'echo got term' TERM; echo ready; while true; do sleep 0.2; done",
        KillSignal="SIGTERM",
    )
    alloc = docker_agent.wait_alloc("stubborn", {"running"}, timeout=60)
    docker_agent.wait_output(alloc["ID"], "ready", timeout=30)
    started = time.monotonic()
    docker_agent.nomad.job.deregister_job("stubborn")
    alloc = docker_agent.wait_alloc("stubborn", {"complete", "failed"}, timeout=30)
    assert time.monotonic() - started >= 1.0  # KillTimeout
    assert "got term" in logs(docker_agent, alloc["ID"])
    assert terminated(alloc)["ExitCode"] == 137
    assert "Killing" in events(alloc) and events(alloc)[-1] == "Killed"


def test_max_run_duration_ends_the_container(docker_agent):
    register(docker_agent, "deadline", "sleep 600", group={"MaxRunDuration": 1_000_000_000})
    alloc = docker_agent.wait_alloc("deadline", {"complete", "failed"}, timeout=60)
    assert alloc["ClientStatus"] == "complete"
    assert alloc["ClientDescription"] == "allocation exceeded max_run_duration"


def test_a_container_task_survives_an_agent_sigkill(docker_agent):
    register(docker_agent, "survivor", "echo before; sleep 4; echo after; exit 5")
    alloc = docker_agent.wait_alloc("survivor", {"running"}, timeout=60)
    docker_agent.wait_output(alloc["ID"], "before", timeout=30)
    os.kill(docker_agent.info.pid, signal.SIGKILL)
    time.sleep(0.5)
    docker_agent.refresh()  # a new agent process, which reattaches
    alloc = docker_agent.wait_alloc("survivor", {"failed"}, timeout=60)
    assert terminated(alloc)["ExitCode"] == 5
    assert logs(docker_agent, alloc["ID"]) == "before\nafter\n"


def test_usage_figures_come_from_the_containers_cgroup(docker_agent):
    # The shell holds 20 MB in a variable while it waits (it must not exec into the sleep).
    register(docker_agent, "busy", "x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ready; sleep 30; echo ${#x}")
    alloc = docker_agent.wait_alloc("busy", {"running"}, timeout=60)
    docker_agent.wait_output(alloc["ID"], "ready", timeout=30)
    stats = docker_agent.http.get(f"/v1/client/allocation/{alloc['ID']}/stats").json()
    memory = stats["Tasks"]["main"]["ResourceUsage"]["MemoryStats"]
    assert memory["RSS"] > 10 * MIB or memory["Usage"] > 10 * MIB, memory
    docker_agent.nomad.job.deregister_job("busy")
    docker_agent.wait_alloc("busy", {"complete", "failed"}, timeout=30)


def test_an_image_that_cannot_be_pulled_fails_the_task_with_the_engines_reason(docker_agent):
    register(docker_agent, "no-image", "true", image="localhost/tapit-test:absent")
    alloc = docker_agent.wait_alloc("no-image", {"failed"}, timeout=120)
    assert events(alloc)[3:5] == ["Driver", "Driver Failure"], events(alloc)
    messages = {e["Type"]: e for e in alloc["TaskStates"]["main"]["Events"]}
    assert messages["Driver"]["DriverMessage"] == "Downloading image"
    assert messages["Driver"]["Details"] == {"image": "localhost/tapit-test:absent"}  # the driver's annotations
    assert messages["Driver Failure"]["DriverError"].startswith("Failed to pull `localhost/tapit-test:absent`: ")


def test_a_task_without_an_image_fails_as_nomad_reports_it(docker_agent):
    docker_agent.register("no-image-given", "true", driver="docker")
    alloc = docker_agent.wait_alloc("no-image-given", {"failed"}, timeout=30)
    failure = next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Driver Failure")
    assert failure["DriverError"] == "image name required for docker driver"


def test_an_engine_started_or_stopped_after_the_agent_is_noticed(container_engine, tmp_path, monkeypatch, request):
    # A podman service of this test's own, so that it can be stopped; fingerprints every 0.3 s.
    from container_engine import start_podman, stop_process_group

    socket = tmp_path / "podman" / "podman.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    monkeypatch.setenv("TAPIT_ENGINE_FINGERPRINT_S", "0.3")
    agent = request.getfixturevalue("agent")  # started only now, with the variables above
    docker = lambda: agent.nomad.node.get_node(agent.nomad.nodes.get_nodes()[0]["ID"])["Drivers"]["docker"]  # noqa: E731
    assert (docker()["Detected"], docker()["Healthy"]) == (False, False)
    socket.parent.mkdir()
    process, url, why_not = start_podman(socket.parent)
    if not process:
        pytest.skip(why_not)
    try:
        wait_for(lambda: docker()["Healthy"])
        assert docker()["Attributes"]["driver.docker"] == "1"
    finally:
        stop_process_group(process)
    wait_for(lambda: not docker()["Healthy"])
    assert docker()["Detected"] and docker()["HealthDescription"] == "Failed to connect to docker daemon"


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the agent never noticed"
        time.sleep(0.1)


def test_a_stop_while_the_container_supervisor_starts_is_not_lost(docker_agent):
    # Running is reported as soon as the container starts, while its supervisor is still starting
    # (about half a second of imports): a stop then must wait for it, not kill it.
    register(docker_agent, "early-stop", "sleep 60")
    docker_agent.wait_alloc("early-stop", {"running"}, timeout=60)
    docker_agent.nomad.job.deregister_job("early-stop")
    alloc = docker_agent.wait_alloc("early-stop", {"complete", "failed", "lost"}, timeout=30)
    assert alloc["ClientStatus"] == "complete", alloc["ClientDescription"]
    assert events(alloc)[-1] == "Killed"


def test_the_test_image_is_imported_under_its_tagged_name(container_engine):
    """The fixture's import keeps the tag (Podman 4.3 drops a separate `tag` parameter), so the
    image answers by the exact name the tests run, on a machine that held no image before."""
    from container_engine import busybox_rootfs

    assert container_engine.has_image(TEST_IMAGE)
    probe = "localhost/tapit-import-probe:tagged"
    container_engine.remove_image(probe)
    try:
        container_engine.import_image(busybox_rootfs(), probe)
        assert container_engine.has_image(probe)
        assert not container_engine.has_image("localhost/tapit-import-probe:latest")
    finally:
        container_engine.remove_image(probe)
