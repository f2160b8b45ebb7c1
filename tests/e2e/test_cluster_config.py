"""App configuration, image inheritance, namespaces and token secrecy, through the real CLI."""

import json
import os
import subprocess

import httpx

from tapit.agent import daemon


def cluster(tapit) -> dict:
    """The embedded agent, addressed as a cluster would be: NOMAD_ADDR and NOMAD_TOKEN."""
    agent = daemon.ensure_running()
    return {"NOMAD_ADDR": agent.address, "NOMAD_TOKEN": agent.token}


def test_config_shows_values_and_sources(tapit, tmp_path):
    user_file = tmp_path / "config" / "tapit" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('ssh = "me@bastion.example.com"\nmemory_gb = 2\n')
    (tapit.home / "tapit.toml").write_text(
        'app = "shop"\nimage_from_job = "shop-web"\nagent_tls_cert = "certs/agent.pem"\n'
    )
    lines = {line.split()[0]: line for line in tapit("config").stdout.splitlines()}
    assert "shop-web" in lines["image_from_job"] and str(tapit.home / "tapit.toml") in lines["image_from_job"]
    assert "me@bastion.example.com" in lines["ssh"] and str(user_file) in lines["ssh"]
    assert f"{tapit.home}/certs/agent.pem" in lines["agent_tls_cert"]  # relative to the file
    assert "(default)" in lines["driver"]
    shown = tapit("--ssh", "ops@jump:2222", "config").stdout
    assert any(
        line.startswith("ssh") and "ops@jump:2222" in line and "$TAPIT_SSH" in line for line in shown.splitlines()
    )


def test_bad_config_is_one_line_with_file_key_and_problem(tapit):
    app_file = tapit.home / "tapit.toml"
    cases = {
        'ssh = "a@b@c"': f"tapit: {app_file}: ssh: 'a@b@c' is not [user@]host[:port]",
        'ssh = "bastion:99999"': f"tapit: {app_file}: ssh: 'bastion:99999' is not [user@]host[:port]",
        "image_from_job = 3": f"tapit: {app_file}: image_from_job must be a non-empty string",
        "memory_gb = -1": f"tapit: {app_file}: memory_gb must be a number greater than 0",
        "memory_gb = 5000": f"tapit: {app_file}: memory_gb = 5000 is out of range (0.01 to 1024)",
        "console_max_hours = 100000": f"tapit: {app_file}: console_max_hours = 100000 is out of range",
        "colour = 1": f"tapit: {app_file}: unknown key 'colour'",
        "memory_gb = ": f"tapit: {app_file}: Invalid value",
    }
    for text, message in cases.items():
        app_file.write_text(text + "\n")
        result = tapit("config")
        assert result.returncode == 2, text
        assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    app_file.unlink()
    result = tapit("list", "tasks", env={"TAPIT_SSH": "no spaces allowed"})
    assert (result.returncode, result.stderr.split(":")[:2]) == (2, ["tapit", " TAPIT_SSH"])


def test_image_inherited_from_the_deployed_job(tapit, nomad_api):
    web = {
        "ID": "shop-web",
        "Name": "shop-web",
        "Type": "service",
        "TaskGroups": [
            {
                "Name": "web",
                "Tasks": [
                    {"Name": "sidecar", "Driver": "raw_exec", "Config": {"command": "true"}},
                    {"Name": "app", "Driver": "docker", "Config": {"image": "registry.example.com/shop:9f2c1e"}},
                ],
            }
        ],
    }
    nomad_api.jobs.register_job({"Job": web})
    (tapit.home / "tapit.toml").write_text('image_from_job = "shop-web"\ndriver = "docker"\n')
    env = cluster(tapit)
    record = json.loads(tapit("create", "task", "rake db:migrate", "--json", env=env).stdout)
    assert record["image"] == "registry.example.com/shop:9f2c1e"
    job = nomad_api.job.get_job(record["nomad_job_id"])
    assert job["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == "registry.example.com/shop:9f2c1e"
    # image= or docker_tag= given: no inheritance.
    (tapit.home / "tapit.toml").write_text(
        'image_from_job = "shop-web"\ndriver = "docker"\nimage_repository = "registry.example.com/shop"\n'
    )
    record = json.loads(tapit("create", "task", "true", "--json", "docker_tag=v2", env=env).stdout)
    assert record["image"] == "registry.example.com/shop:v2"
    (tapit.home / "tapit.toml").write_text('image_from_job = "no-such-job"\ndriver = "docker"\n')
    result = tapit("create", "task", "true", env=env)
    assert result.returncode == 2
    assert result.stderr == "tapit: there is no Nomad job 'no-such-job' (image_from_job, namespace 'default')\n"


def test_list_tasks_spans_namespaces(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    # As on a cluster, a job's namespace must exist (nomad/job_endpoint_validators.go).
    for namespace in ("team-a", "team-b"):
        resp = httpx.put(
            f"{env['NOMAD_ADDR']}/v1/namespace/{namespace}",
            json={"Name": namespace},
            headers={"X-Nomad-Token": env["NOMAD_TOKEN"]},
        )
        assert resp.status_code == 200, resp.text
    ids = {}
    for namespace in ("team-a", "team-b"):
        record = json.loads(
            tapit("create", "task", "true", "--wait", "--json", env=env | {"NOMAD_NAMESPACE": namespace}).stdout
        )
        ids[namespace] = record["id"]

    def listed(*args, **extra):
        result = tapit("list", "tasks", "--json", *args, env=env | extra)
        assert result.returncode == 0, result.stderr
        return {t["id"]: t["nomad_namespace"] for t in json.loads(result.stdout)}

    assert listed(NOMAD_NAMESPACE="team-a") == {ids["team-a"]: "team-a"}
    assert listed("namespace=team-b") == {ids["team-b"]: "team-b"}
    assert listed("namespace=*") == {ids["team-a"]: "team-a", ids["team-b"]: "team-b"}
    # Tasks started elsewhere (not in this machine's history) are found in every namespace too.
    (tapit.home / "history.jsonl").unlink(missing_ok=True)
    for path in tapit.home.glob("history*"):
        path.unlink()
    assert set(listed("namespace=*")) == set(ids.values())


def test_a_task_in_a_namespace_that_does_not_exist_is_refused(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    refused = tapit("create", "task", "true", "--json", env=env | {"NOMAD_NAMESPACE": "nowhere"})
    assert refused.returncode != 0, refused.stdout
    assert 'nonexistent namespace "nowhere"' in refused.stderr and "Traceback" not in refused.stderr


def test_token_never_leaks(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    env = cluster(tapit)
    token = env["NOMAD_TOKEN"]
    record = json.loads(tapit("create", "task", 'echo "token=[$NOMAD_TOKEN]"; sleep 20', "--json", env=env).stdout)
    task_id = record["id"]
    try:
        # A process listing, with the agent and the task running.
        for _ in range(100):
            listing = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
            if "sleep 20" in listing:
                break
        assert "sleep 20" in listing and token not in listing
        shown = tapit("show", "task", f"task={task_id}", "--json", env=env)
        assert token not in shown.stdout + shown.stderr
    finally:
        tapit("stop", "task", f"task={task_id}", env=env)
    logs = tapit("show", "logs", f"task={task_id}", env=env)
    assert logs.stdout == "token=[]\n"  # tasks do not get the token in their environment
    listed = tapit("list", "tasks", "--json", env=env)
    assert token not in listed.stdout
    # The history and the archived logs, every file tapit keeps outside the agent's own directory.
    kept = [p for p in tapit.home.rglob("*") if p.is_file() and "agent" not in p.relative_to(tapit.home).parts]
    assert kept and all(token.encode() not in p.read_bytes() for p in kept)
    # Errors: a refused call names the capability and never echoes the token sent.
    wrong = "s3cr3t-" + token
    for extra in ({"NOMAD_TOKEN": wrong}, {"NOMAD_TOKEN": ""}):
        result = tapit("list", "tasks", env=env | extra)
        assert result.returncode == 3 and result.stderr.count("\n") == 1 and wrong not in result.stderr
    assert 'the token needs capability "list-jobs" in namespace "default"' in result.stderr


def test_the_agent_never_keeps_a_cluster_token_in_its_environment(tapit):
    """A NOMAD_TOKEN in the shell that starts the embedded agent stays out of the agent process."""
    result = tapit("list", "tasks", env={"NOMAD_TOKEN": "cluster-secret-token"})
    assert result.returncode == 0, result.stderr
    pid = daemon.status().pid
    assert b"cluster-secret-token" not in open(f"/proc/{pid}/environ", "rb").read()
    assert "cluster-secret-token" not in open(f"/proc/{pid}/cmdline").read()
    assert os.environ.get("NOMAD_TOKEN") is None
