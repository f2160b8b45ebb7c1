"""Right on a real cluster: namespaces, queued placement, ACL refusals, the docker driver's
settings and small disks, through the real CLI against the embedded agent (which answers as
Nomad's source says)."""

import json
import signal
import subprocess
from pathlib import Path

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
    # Nothing recorded how it ended before the purge: said so, never guessed (the audit trail).
    assert (
        last
        == f"tapit: task {record['id']} unknown: outcome unknown: Nomad collected the job before its end was recorded"
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

        # Rejoined while still queued, with the reason already in the history: said again.
        follower = tapit.popen(
            "show", "logs", f"task={task_id}", "--follow", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert f"task {task_id} queued: not enough memory on any node" in follower.stderr.readline()
            follower.send_signal(signal.SIGINT)
            _, err = follower.communicate(timeout=30)
            assert follower.returncode == 130 and f"task {task_id} stays queued" in err, err
        finally:
            follower.kill()
            follower.wait()

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


JOBS = Path(__file__).parents[2] / "jobs"


def token_of(env: dict, name: str, rules: str) -> dict:
    """A client token of one ACL policy, made as `nomad acl policy apply` and `nomad acl token
    create` make it; the environment of a user who holds it."""
    applied = api(env, "PUT", f"/v1/acl/policy/{name}", json={"Name": name, "Rules": rules})
    assert applied.status_code == 200, applied.text
    token = api(env, "POST", "/v1/acl/token", json={"Name": name, "Type": "client", "Policies": [name]})
    assert token.status_code == 200, token.text
    return env | {"NOMAD_TOKEN": token.json()["SecretID"]}


def test_the_operator_policy_grants_every_command(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    operator = token_of(cluster(tapit), "tapit-operator", (JOBS / "operator.policy.hcl").read_text())
    done = tapit("create", "task", "echo as-operator", "--wait", "--json", env=operator)
    assert done.returncode == 0, done.stderr
    task_id = json.loads(done.stdout)["id"]
    assert tapit("list", "tasks", env=operator).returncode == 0
    assert tapit("show", "task", f"task={task_id}", env=operator).returncode == 0
    assert tapit("show", "logs", f"task={task_id}", env=operator).stdout == "as-operator\n"
    console = tapit("run", "echo from-console", env=operator, input="")
    assert (console.returncode, console.stdout) == (0, "from-console\n"), console.stderr
    running = created(tapit, "sleep 300", env=operator)
    until_status(tapit, running["id"], "running")
    assert tapit("stop", "task", f"task={running['id']}", env=operator).returncode == 0
    assert tapit("delete", "task", f"task={task_id}", env=operator).returncode == 0


def test_the_auditor_policy_reads_and_a_refusal_names_capability_and_policy(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    record = json.loads(tapit("create", "task", "echo audited", "--wait", "--json", env=env).stdout)
    auditor = token_of(env, "tapit-auditor", (JOBS / "auditor.policy.hcl").read_text())
    assert tapit("list", "tasks", env=auditor).returncode == 0
    assert tapit("show", "task", f"task={record['id']}", env=auditor).returncode == 0
    assert tapit("show", "logs", f"task={record['id']}", env=auditor).stdout == "audited\n"
    refused = tapit("create", "task", "true", env=auditor)
    assert refused.returncode == 3
    assert 'the token needs capability "submit-job" in namespace "default"' in refused.stderr
    assert "tapit's jobs/operator.policy.hcl grants what its commands need" in refused.stderr


def test_a_follower_refused_its_logs_says_so_at_once(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    no_logs = token_of(env, "no-logs", 'namespace "default" { capabilities = ["list-jobs", "read-job", "submit-job"] }')
    record = created(tapit, "sleep 300", env=env)
    until_status(tapit, record["id"], "running")
    # Without the fix it retried the refused stream every 0.5 s until the task ended (300 s).
    follow = tapit("show", "logs", f"task={record['id']}", "--follow", env=no_logs, timeout=60)
    assert follow.returncode == 3
    assert 'the token needs capability "read-logs" in namespace "default"' in follow.stderr
    assert tapit("stop", "task", f"task={record['id']}", env=env).returncode == 0


def test_a_console_without_alloc_exec_is_refused_in_words(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    rules = 'namespace "default" { capabilities = ["list-jobs", "read-job", "submit-job", "read-logs"] }'
    no_exec = token_of(cluster(tapit), "no-exec", rules)
    console = tapit("run", "echo never", env=no_exec, input="")
    assert console.returncode != 0 and console.stdout == ""
    [line] = [line for line in console.stderr.splitlines() if line.startswith("tapit:")]
    assert 'Nomad refused the console (Permission denied): the token needs capability "alloc-exec"' in line
    assert "disable_remote_exec" in line and "1011" not in line


def test_a_console_on_a_client_with_disable_remote_exec_is_refused_in_words(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\nagent_disable_remote_exec = true\n')
    console = tapit("run", "echo never", input="")  # the agent starts with the setting
    assert console.returncode != 0 and console.stdout == ""
    [line] = [line for line in console.stderr.splitlines() if line.startswith("tapit:")]
    assert line.startswith("tapit: console ") and "Nomad refused the console (Permission denied)" in line
    assert "the node's Nomad client sets disable_remote_exec" in line
