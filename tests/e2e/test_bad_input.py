"""Bad input: one line naming the problem and the accepted form, exit 2, nothing submitted, nothing recorded."""

import json

import pytest

BAD = [
    (["create", "task"], "the command is missing"),
    (["create", "task", ""], "the command is empty"),
    (["create", "task", "   "], "the command is empty"),
    (["create", "task", "true", "colour=red"], "unknown parameter 'colour'"),
    (["create", "task", "true", "memory=abc"], "memory='abc' is not a decimal number; use memory=<GB>"),
    (["create", "task", "true", "memory=-2"], "must be greater than 0"),
    (["create", "task", "true", "memory=0"], "must be greater than 0"),
    (["create", "task", "true", "memory=5000"], "out of range"),
    (["create", "task", "true", "cpu=-1"], "cpu=-1 must be greater than 0"),
    (["create", "task", "true", "cpu=lots"], "is not a decimal number; use cpu=<vCPUs>"),
    (["create", "task", "true", "max_hours=0"], "max_hours=0 must be greater than 0"),
    (["create", "task", "true", "max_hours=1h"], "is not a decimal number; use max_hours=<hours>"),
    (["create", "task", "true", "ephemeral_storage_gb=x"], "use ephemeral_storage_gb=<GB>"),
    (["create", "task", "true", "image=ubuntu", "docker_tag=v1"], "cannot be combined"),
    (["create", "task", "true", "docker_tag=bad tag"], "not a valid tag"),
    (["create", "task", "true", "image=UPPER/case:tag"], "repository name must be lowercase"),
    (["create", "task", "true", "initiated_by=" + "x" * 10_000], "initiated_by is 10,000 characters long"),
    (
        ["create", "task", "true", "docker_tag=v1"],
        "no image_repository is set; set it in tapit.toml, or use image=<ref>",
    ),
    (["create", "task", "true", "memory=1", "memory=2"], "memory is given twice"),
    (["create", "task", "true", "memory"], "unexpected argument 'memory'"),
    (["create", "task", "true", "--frobnicate"], "unknown option '--frobnicate'"),
    (["create", "tasks", "true"], "unknown command"),
    (["show", "task"], "which task? use tapit show task task=<id>"),
    (["show", "task", "task="], "task= is empty"),
    (["show", "task", "id=1"], "unknown parameter 'id'"),
    (["show", "logs"], "which task?"),
    (["delete", "task"], "which task?"),
    (["stop", "task", "task"], "unexpected argument 'task'"),
    (["list", "tasks", "extra"], "unexpected argument 'extra'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["show"], "`tapit show` needs what to act on"),
    (["show", "task", "task=deadbeef"], "no task 'deadbeef'"),
    (["delete", "task", "task=deadbeef"], "no task 'deadbeef'"),
    (["show", "logs", "task=deadbeef"], "no task 'deadbeef'"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input(tapit, args, message):
    result = tapit(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_input_submits_and_records_nothing(tapit, nomad_api):
    for args, _ in BAD:
        tapit(*args)
    assert json.loads(tapit("list", "tasks", "--json").stdout) == []
    assert nomad_api.jobs.get_jobs() == []


def test_bad_input_does_not_start_the_embedded_agent(tapit):
    from tapit.agent import daemon

    for args, _ in BAD[:-3]:  # all but the look-ups of a task, which ask Nomad
        tapit(*args)
    assert daemon.status() is None


def test_a_damaged_history_is_named_in_one_line(tapit):
    (tapit.home / "history.json").write_text("{not json")
    result = tapit("list", "tasks")
    assert result.returncode == 1
    assert result.stderr.startswith(f"tapit: the history at {tapit.home / 'history.json'} is damaged")
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_internal_error_is_one_line_and_the_traceback_is_kept(tapit_home, monkeypatch, capsys):
    from tapit import cli

    def broken(argv):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "dispatch", broken)  # stands in for any bug: no user input may cause one
    monkeypatch.delenv("TAPIT_DEBUG", raising=False)
    assert cli.main(["list", "tasks"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("tapit: internal error: ZeroDivisionError: a bug (details in ")
    assert "Traceback" in (tapit_home / "errors.log").read_text()


def test_the_tui_refuses_without_a_terminal(tapit):
    result = tapit(input="")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "tapit: the full-screen interface needs a terminal; in scripts use the "
        "commands in tapit --help (e.g. tapit list tasks --json)"
    )
