"""The CLI a shell user expects (issue 12, "The CLI contract"), driven as a user types it."""

import json
import sys


def test_the_embedded_agent_reached_by_its_address_runs_host_tasks_as_by_default(tapit):
    env = dict(line.removeprefix("export ").split("=", 1) for line in tapit("agent", "env").stdout.split("\n") if line)
    env = {name: value.strip("'\"") for name, value in env.items()}
    assert set(env) >= {"NOMAD_ADDR", "NOMAD_TOKEN"}
    result = tapit("create", "task", "echo x", "--wait", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "x\n", "")
    [record] = json.loads(tapit("list", "tasks", "--json", env=env).stdout)
    assert record["image"] is None  # a host process, as when NOMAD_ADDR is unset


def test_an_image_without_a_container_engine_is_refused_at_once_without_wait(tapit, tmp_path, nomad_api):
    tapit.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"  # no engine there: no docker driver
    result = tapit("create", "task", "true", "image=ubuntu:24.04")
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("tapit: task ") and " failed: exit code 1: not placed: no node offers" in line
    assert "found no Docker or Podman engine" in line
    [record] = json.loads(tapit("list", "tasks", "--json").stdout)
    assert record["status"] == "failed" and record["reason"].startswith("not placed: no node offers the task's driver")
    job = nomad_api.job.get_job(record["nomad_job_id"])
    assert job["Stop"] is True  # nothing is left waiting to be placed
    result = tapit("create", "task", "true", "image=ubuntu:24.04", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["status"] == "failed"


def test_a_host_task_without_wait_is_created_and_exits_0(tapit):
    result = tapit("create", "task", "true")
    assert result.returncode == 0 and result.stdout.startswith("Created task ")


def test_a_nomad_addr_that_is_no_address_is_bad_input(tapit):
    for address, why in [
        ("garbage", "the address must look like http://host:port, https://host:port or unix:///path"),
        ("unix://", "the unix:// address names no socket"),
        ("ftp://nomad:21", "the address must look like http://host:port, https://host:port or unix:///path"),
    ]:
        result = tapit("create", "task", "true", env={"NOMAD_ADDR": address})
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == f"tapit: NOMAD_ADDR={address!r}: {why}\n"
    assert json.loads(tapit("list", "tasks", "--json").stdout) == []  # nothing recorded


def list_at_a_terminal(tapit, *args, cols=80):
    """`tapit list tasks` at a real terminal (a pseudo-terminal of `cols` columns)."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "tapit", "list", "tasks", *args],
        env=tapit.env,
        cwd=str(tapit.home),
        dimensions=(24, cols),
        encoding="utf-8",
        timeout=60,
    )
    output = child.read()
    child.close()
    assert child.exitstatus == 0, output
    return output.replace("\r\n", "\n").splitlines()


def test_list_tasks_fits_a_terminal_and_gives_whole_values_with_wide_or_in_a_pipe(tapit):
    long_name = "n" * 256
    long_command = "echo " + "c" * 300
    assert tapit("create", "task", long_command, f"initiated_by={long_name}", "--wait").returncode == 0
    assert tapit("create", "task", "true", "initiated_by=bob", "--wait").returncode == 0
    lines = list_at_a_terminal(tapit, cols=80)
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines), lines
    header, short_row, long_row = lines  # newest first
    assert header.split()[:6] == ["ID", "STATUS", "EXIT", "AGE", "DURATION", "RESOURCES"]
    assert "…" in long_row and long_name not in long_row  # the widest columns are clipped
    assert long_row.count("…") == 2 and "0.25 vCPU / 0.5 GB" in long_row  # the narrow ones are whole
    assert short_row.split()[-2:] == ["bob", "true"]
    wide = list_at_a_terminal(tapit, "--wide", cols=80)
    assert long_name in wide[2] and wide[2].endswith(long_command) and "…" not in wide[2]
    piped = tapit("list", "tasks").stdout.splitlines()
    assert long_name in piped[2] and piped[2].endswith(long_command)


def test_each_command_has_its_own_help_with_units_ranges_and_the_defaults_in_effect(tapit):
    app = tapit.home / "app"
    app.mkdir()
    (app / "tapit.toml").write_text("memory_gb = 2\nconsole_max_hours = 3\n")
    create = tapit("help", "create", cwd=app)
    assert create.returncode == 0 and create.stderr == ""
    text = create.stdout
    assert text.startswith("usage: tapit create task 'command' [-w|--wait] [--json] [key=value ...]\n")
    assert "  -w, --wait " in text and "  --json " in text
    assert "memory=<GB>" in text and "0.01 to 1024" in text
    assert f"default: 2 (from {app / 'tapit.toml'})" in text  # the effective config, and where it came from
    assert "cpu=<vCPUs>" in text and "default: 0.25 (built in)" in text
    assert "initiated_by=<name>" in text and "at most 256 characters" in text
    for words in (["create", "task", "--help"], ["create", "--help"], ["help", "create", "task"]):
        assert tapit(*words, cwd=app).stdout == text
    console = tapit("run", "--help", cwd=app).stdout
    assert console.startswith("usage: tapit run 'command'") and "initiated_by" not in console
    assert f"default: 3 (from {app / 'tapit.toml'}: console_max_hours)" in console
    overall = tapit("--help").stdout
    assert overall == tapit("help").stdout and overall.startswith("usage:\n")
    listing = tapit("list", "tasks", "--help").stdout
    assert listing != overall and "--wide" in listing and "namespace=<ns>" in listing
    show = tapit("help", "show").stdout
    assert "usage: tapit show task task=<id>" in show and "usage: tapit show logs task=<id>" in show
    assert "--replay" in tapit("show", "logs", "-h").stdout
    assert "--tls-client-ca FILE" in tapit("agent", "--help").stdout
    assert "job_prefix=<prefix>" in tapit("archivist", "--help").stdout
    wrong = tapit("help", "frobnicate")
    assert (wrong.returncode, wrong.stdout, wrong.stderr) == (
        2,
        "",
        "tapit: no command 'frobnicate'; see tapit --help\n",
    )
    from tapit.agent import daemon

    assert daemon.status() is None  # help asks no Nomad and starts no agent


def test_a_host_task_starts_in_the_directory_it_was_created_from_with_a_clean_environment(tapit):
    project = tapit.home / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "scripts" / "x.py").write_text("import os; print('ran in', os.getcwd())\n")
    result = tapit(
        "create", "task", f"{sys.executable} scripts/x.py; env", "--wait", cwd=project, env={"SECRET_OF_THE_SHELL": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ran in {project}\n")
    assert "SECRET_OF_THE_SHELL" not in result.stdout and "NOMAD_ALLOC_ID=" in result.stdout
    [record] = json.loads(tapit("list", "tasks", "--json").stdout)
    assert record["work_dir"] == str(project)  # recorded in the task
    details = tapit("show", "task", f"task={record['id']}").stdout
    assert f"Directory:    {project}\n" in details
    console = tapit("run", "pwd", cwd=project)  # a console starts there too
    assert (console.returncode, console.stdout) == (0, f"{project}\n")


def test_one_exit_code_everywhere_said_once(tapit):
    result = tapit("create", "task", "sleep 600", "max_hours=0.0005", "--wait", "--json")
    timed_out = json.loads(result.stdout)
    assert result.returncode == 124 == timed_out["exit_code"]
    row = tapit("list", "tasks").stdout.splitlines()[1].split()
    assert row[:3] == [timed_out["id"], "timed_out", "124"]
    details = tapit("show", "task", f"task={timed_out['id']}").stdout
    assert "Exit:         exit code 124: killed: exceeded max_hours; the process got SIGTERM (exit 143)\n" in details
    missing = tapit("create", "task", "no-such-command-here", "--wait")
    assert missing.returncode == 127
    assert missing.stderr.splitlines()[-1].endswith("failed: exit code 127")
    newest = json.loads(tapit("list", "tasks", "--json").stdout)[0]
    details = tapit("show", "task", f"task={newest['id']}").stdout
    assert "Exit:         exit code 127\n" in details  # not "Exit Code: 127; exit code 127 (tapit reports 127)"
