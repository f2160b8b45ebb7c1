"""Right on a real cluster: namespaces, queued placement, ACL refusals, the docker driver's
settings and small disks, through the real CLI against the embedded agent (which answers as
Nomad's source says)."""

import json
import signal
import subprocess

import httpx

from tapit.agent import daemon


def cluster(tapit) -> dict:
    """The embedded agent, addressed as a cluster would be: NOMAD_ADDR and NOMAD_TOKEN."""
    agent = daemon.ensure_running()
    return {"NOMAD_ADDR": agent.address, "NOMAD_TOKEN": agent.token}


def api(env: dict, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{env['NOMAD_ADDR']}{path}", headers={"X-Nomad-Token": env["NOMAD_TOKEN"]}, **kwargs)


def created(tapit, *args, env: dict) -> dict:
    result = tapit("create", "task", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def shown(tapit, task_id: str, env: dict | None = None) -> dict:
    result = tapit("show", "task", f"task={task_id}", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def until_status(tapit, task_id: str, wanted: str) -> None:
    for _ in range(120):
        if shown(tapit, task_id)["status"] == wanted:
            return
        subprocess.run(["sleep", "0.25"])
    raise AssertionError(f"task {task_id} never became {wanted}")


def test_every_call_on_a_task_goes_to_the_task_namespace(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    assert api(env, "PUT", "/v1/namespace/team-a", json={"Name": "team-a"}).status_code == 200
    record = created(tapit, "echo from-team-a", env=env | {"NOMAD_NAMESPACE": "team-a"})
    # Later, from the default namespace: the follower, show, and delete all reach team-a's job.
    follow = tapit("show", "logs", f"task={record['id']}", "--follow", env=env, timeout=60)
    assert (follow.returncode, follow.stdout) == (0, "from-team-a\n"), follow.stderr
    assert shown(tapit, record["id"], env)["status"] == "complete"
    assert tapit("delete", "task", f"task={record['id']}", env=env).returncode == 0
    job = api(env, "GET", f"/v1/job/{record['nomad_job_id']}", params={"namespace": "team-a"})
    assert job.status_code == 404, "the delete purged the job in the task's namespace"


def test_a_wait_on_a_job_that_is_gone_ends_with_one_line(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    record = created(tapit, "sleep 30", env=env)
    # An admin purges the job before anyone followed it; the history still says pending.
    assert api(env, "DELETE", f"/v1/job/{record['nomad_job_id']}", params={"purge": "true"}).status_code == 200
    follow = tapit("show", "logs", f"task={record['id']}", "--follow", env=env, timeout=60)
    assert follow.returncode == 1
    last = follow.stderr.splitlines()[-1]
    assert last.startswith(f"tapit: task {record['id']} lost: ") and last.endswith(
        "its Nomad job is gone (purged or garbage-collected) before it ended"
    ), last


def test_a_task_without_room_is_queued_not_failed_and_placed_when_room_appears(tapit, nomad_api):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    [node] = nomad_api.nodes.get_nodes()
    memory_mb = nomad_api.node.get_node(node["ID"])["NodeResources"]["Memory"]["MemoryMB"]
    most = f"memory={round(memory_mb * 0.6 / 1024, 2)}"  # two such tasks never fit together
    env = {}
    hog = created(tapit, "sleep 300", most, env=env)
    until_status(tapit, hog["id"], "running")

    waiting = tapit.popen(
        "create",
        "task",
        "echo placed-at-last",
        most,
        "--wait",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    console = tapit.popen(
        "run",
        "echo console-placed",
        most,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = waiting.stderr.readline()
        assert "queued: not enough memory on any node; waiting for Nomad to place it" in line, line
        waiting.send_signal(signal.SIGINT)
        _, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 130
        task_id = line.split()[2]
        assert f"task {task_id} stays queued" in err and f"tapit show logs task={task_id} --follow" in err
        record = shown(tapit, task_id)
        assert (record["status"], record["reason"]) == ("pending", "queued: not enough memory on any node")
        assert "queued: not enough memory on any node" in console.stderr.readline()

        assert tapit("stop", "task", f"task={hog['id']}").returncode == 0
        rejoin = tapit("show", "logs", f"task={task_id}", "--follow", timeout=60)
        assert (rejoin.returncode, rejoin.stdout) == (0, "placed-at-last\n"), rejoin.stderr
        out, err = console.communicate(input="", timeout=60)
        assert (console.returncode, out) == (0, "console-placed\n"), err
    finally:
        for process in (waiting, console):
            process.kill()
            process.wait()


def test_a_small_disk_gets_log_storage_nomad_accepts(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    result = tapit("create", "task", "echo small", "ephemeral_storage_gb=0.05", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "complete"


def test_docker_entrypoint_is_one_of_its_choices(tapit):
    (tapit.home / "tapit.toml").write_text('docker_entrypoint = "ignore"\n')
    result = tapit("create", "task", "true")
    assert result.returncode == 2
    assert result.stderr == (
        f"tapit: {tapit.home / 'tapit.toml'}: docker_entrypoint = 'ignore' is not one of: image, replace\n"
    )
