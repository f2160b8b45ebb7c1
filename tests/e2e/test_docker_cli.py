"""tapit with images on the embedded agent, as a user types it: `image=`, `docker_tag=` with the
app's image repository, consoles in a container (pipes and a real pseudo-terminal)."""

import base64
import json
import sys
import time

import pexpect
import pytest
from container_engine import TEST_IMAGE

from tapit.agent import daemon


def test_create_with_an_image_runs_the_command_in_that_image(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    result = tapit(
        "create",
        "task",
        "echo in $NOMAD_TASK_DIR; ls /bin/busybox; exit 3",
        f"image={TEST_IMAGE}",
        "--wait",
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "in /local\n/bin/busybox\n"
    [record] = json.loads(tapit("list", "tasks", "--json").stdout)
    assert (record["status"], record["exit_code"], record["image"]) == ("failed", 3, TEST_IMAGE)
    assert tapit("show", "logs", f"task={record['id']}").stdout == "in /local\n/bin/busybox\n"


def test_agent_status_names_the_engine(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    assert tapit("agent", "env").returncode == 0  # starts it
    deadline = time.monotonic() + 10
    while "docker (" not in (drivers := tapit("agent", "status").stdout.splitlines()[1]):
        assert time.monotonic() < deadline, drivers  # the engine's release number comes a moment later
        time.sleep(0.2)
    assert drivers.startswith("Drivers: docker (") and "raw_exec" in drivers


def test_docker_tag_picks_a_tag_of_the_apps_image(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    repository, tag = TEST_IMAGE.rsplit(":", 1)
    (tapit.home / "tapit.toml").write_text(f'image_repository = "{repository}"\n')
    result = tapit("create", "task", "echo tagged", f"docker_tag={tag}", "--wait", "--json", timeout=120)
    record = json.loads(result.stdout)
    assert (result.returncode, record["status"], record["image"]) == (0, "complete", TEST_IMAGE), (
        result.stderr,
        record,
    )


def test_an_engine_slow_to_answer_still_runs_the_image(docker_host, tapit, tmp_path):
    # Nomad's client waits for its drivers' first fingerprints before it registers the node
    # (client/client.go fpInitialized): an engine 5 s slow to answer its first ping must not make
    # the task fail placement with "missing drivers".
    from container_engine import SlowToAnswer

    slow = SlowToAnswer(docker_host.url, tmp_path / "slow.sock", delay=5)
    try:
        tapit.env["DOCKER_HOST"] = slow.url
        result = tapit("create", "task", "echo waited", f"image={TEST_IMAGE}", "--wait", timeout=120)
        assert (result.returncode, result.stdout) == (0, "waited\n"), result.stderr
    finally:
        daemon.stop(kill_tasks=True)
        slow.close()


def test_max_hours_ends_a_container_as_timed_out(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    result = tapit("create", "task", "sleep 600", f"image={TEST_IMAGE}", "max_hours=0.0005", "--wait", timeout=120)
    assert result.returncode == 124, result.stderr
    assert "timed_out" in result.stderr


def test_a_console_in_an_image_through_pipes(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    result = tapit("run", "sh", f"image={TEST_IMAGE}", input="echo piped $NOMAD_ALLOC_DIR\nexit 4\n", timeout=120)
    assert result.returncode == 4, result.stderr
    assert result.stdout == "piped /alloc\n"
    result = tapit("run", "cat", f"image={TEST_IMAGE}", input="line 1\nline 2\n", timeout=120)
    assert (result.returncode, result.stdout) == (0, "line 1\nline 2\n"), result.stderr  # stdin's end reaches it


def test_a_console_in_an_image_on_a_terminal(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    child = pexpect.spawn(
        sys.executable,
        ["-m", "tapit", "run", "PS1='C> ' sh", f"image={TEST_IMAGE}"],
        env=tapit.env,
        cwd=str(tapit.home),
        dimensions=(30, 100),
        encoding="utf-8",
        timeout=60,
    )
    child.expect_exact("C> ")
    child.sendline("stty size; echo $NOMAD_TASK_NAME")
    child.expect_exact("30 100")
    child.expect_exact("task")
    child.setwinsize(40, 120)
    child.sendline("stty size")
    child.expect_exact("40 120")
    child.sendline("exit 6")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 6
    assert json.loads(tapit("list", "tasks", "--json").stdout)[0]["kind"] == "console"


def test_an_image_not_on_the_machine_is_pulled_first(docker_host, tapit, nomad_api):
    if not docker_host.registry:
        pytest.skip("no registry program on this machine (install docker-registry to test pulls)")
    tapit.env["DOCKER_HOST"] = docker_host.url
    image = docker_host.push_to_registry(TEST_IMAGE, "pulled")
    try:
        result = tapit("create", "task", "echo pulled and ran", f"image={image}", "--wait", "--json", timeout=120)
        record = json.loads(result.stdout)
        assert (result.returncode, record["status"], record["image"]) == (0, "complete", image), result.stderr
        [alloc] = nomad_api.job.get_allocations(record["nomad_job_id"])
        events = nomad_api.allocation.get_allocation(alloc["ID"])["TaskStates"]["task"]["Events"]
        driver = [e["DriverMessage"] for e in events if e["Type"] == "Driver"]
        assert driver == ["Downloading image"]
        assert tapit("show", "logs", f"task={record['id']}").stdout == "pulled and ran\n"
    finally:
        docker_host.remove_image(image)


def test_a_private_image_is_pulled_with_the_users_registry_login(docker_host, tapit, tmp_path):
    if not docker_host.private_registry:
        pytest.skip("no registry program on this machine (install docker-registry to test pulls)")
    from container_engine import PRIVATE_LOGIN

    image = docker_host.push_to_registry(TEST_IMAGE, "private", docker_host.private_registry, PRIVATE_LOGIN)
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    tapit.env.update(DOCKER_HOST=docker_host.url, DOCKER_CONFIG=str(docker_config))
    try:
        # No login yet: the registry refuses, and the task says so.
        result = tapit("create", "task", "true", f"image={image}", "--wait", "--json", timeout=120)
        record = json.loads(result.stdout)
        assert (result.returncode, record["status"]) == (1, "failed"), result.stderr
        assert record["reason"].startswith(f"Failed to pull `{image}`: ")
        # What `docker login` leaves in the Docker CLI's config.
        login = base64.b64encode(f"{PRIVATE_LOGIN['username']}:{PRIVATE_LOGIN['password']}".encode()).decode()
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {docker_host.private_registry: {"auth": login}}})
        )
        result = tapit("create", "task", "echo private", f"image={image}", "--wait", timeout=120)
        assert (result.returncode, result.stdout) == (0, "private\n"), result.stderr
    finally:
        docker_host.remove_image(image)


def test_a_stop_reaches_the_app_as_sigterm(docker_host, tapit):
    # The driver's `init` makes tini PID 1: without it the task's `sh -c` is PID 1, which ignores
    # SIGTERM (it has no handler), so only the SIGKILL after kill_timeout_s would end it (137).
    tapit.env["DOCKER_HOST"] = docker_host.url
    (tapit.home / "tapit.toml").write_text("kill_timeout_s = 60\n")
    record = json.loads(tapit("create", "task", "sleep 600", f"image={TEST_IMAGE}", "--json", timeout=120).stdout)
    while json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)["status"] != "running":
        time.sleep(0.2)
    assert tapit("stop", "task", f"task={record['id']}", timeout=120).returncode == 0
    stopped = json.loads(tapit("show", "task", f"task={record['id']}", "--json").stdout)
    assert stopped["status"] == "stopped"
    assert stopped["exit_code"] == 143, stopped


def test_docker_entrypoint_keeps_or_replaces_the_images_entrypoint(docker_host, tapit):
    from container_engine import busybox_rootfs

    # An image whose ENTRYPOINT is its own program and never runs "$@".
    image = "localhost/tapit-test:entrypoint"
    docker_host.import_image(busybox_rootfs(), image, changes=('ENTRYPOINT ["/bin/echo", "entrypoint:"]',))
    tapit.env["DOCKER_HOST"] = docker_host.url
    try:
        kept = tapit("create", "task", "echo the-command", f"image={image}", "--wait", timeout=120)
        assert (kept.returncode, kept.stdout) == (0, "entrypoint: /bin/sh -c echo the-command\n"), kept.stderr
        (tapit.home / "tapit.toml").write_text('docker_entrypoint = "replace"\n')
        replaced = tapit("create", "task", "echo the-command", f"image={image}", "--wait", timeout=120)
        assert (replaced.returncode, replaced.stdout) == (0, "the-command\n"), replaced.stderr
    finally:
        daemon.stop(kill_tasks=True)  # its containers gone, the image can go
        docker_host.remove_image(image)


def test_a_container_keeps_its_images_working_directory(docker_host, tapit):
    tapit.env["DOCKER_HOST"] = docker_host.url
    project = tapit.home / "project"
    project.mkdir()
    result = tapit("create", "task", "pwd", f"image={TEST_IMAGE}", "--wait", "--json", cwd=project, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["work_dir"] is None  # not the directory it was created from
    [record] = json.loads(tapit("list", "tasks", "--json").stdout)
    assert tapit("show", "logs", f"task={record['id']}").stdout == "/\n"  # the test image sets no WorkingDir
