"""The first `list tasks` after tasks ended unwatched (issue 16): where an archivist ships the
logs, `list` learns how each ended from one list of allocations and copies no log itself; where
none does (a cluster without one), it still archives them, the only copy once Nomad collects the
job. Against the real embedded agent, with its own archivist and without."""

import json

from tests.e2e.test_archivist import NO_AGENT_ARCHIVIST, agent_request, as_teammate, wait_for

COMMANDS = {"echo out 1; echo err 1 >&2": 0, "echo out 2; exit 3": 3, "echo out 3": 0}


def create_unwatched(operator) -> dict[str, int]:
    """The tasks created, their ids with the exit code each will end with, once Nomad has them
    all dead (asked of the agent's API, not of tapit, which would bring the records up to date)."""
    ids = {}
    for command, code in COMMANDS.items():
        created = operator("create", "task", command, "--json")
        assert created.returncode == 0, created.stderr
        ids[json.loads(created.stdout)["id"]] = code
    wait_for(
        lambda: all(job["Status"] == "dead" for job in agent_request("/v1/jobs?prefix=tapit-")),
        "the tasks to end",
    )
    return ids


def listed(operator) -> dict[str, dict]:
    done = operator("list", "tasks", "--json")
    assert done.returncode == 0, done.stderr
    return {task["id"]: task for task in json.loads(done.stdout)}


def test_list_copies_no_log_of_ended_tasks_where_an_archivist_ships_them(tapit, tmp_path):
    tapit("agent", "env")  # the embedded agent, with its own archivist
    operator = as_teammate(tapit, tmp_path / "a")
    ids = create_unwatched(operator)

    rows = listed(operator)
    assert {i: (rows[i]["status"], rows[i]["exit_code"]) for i in ids} == {
        i: ("complete" if code == 0 else "failed", code) for i, code in ids.items()
    }
    kept = json.loads((operator.home / "history.json").read_text())["tasks"].values()
    assert all(r["status"] in ("complete", "failed") and r["finished_at"] for r in kept)
    assert not (operator.home / "logs").exists()  # no log was downloaded by the list

    first = next(iter(ids))
    shown = operator("show", "logs", f"task={first}")
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, "out 1\n", "err 1\n")


def test_list_still_archives_ended_tasks_logs_where_no_archivist_ships(tapit, tmp_path):
    tapit("agent", "env", env=NO_AGENT_ARCHIVIST)  # stands for a cluster without an archivist
    operator = as_teammate(tapit, tmp_path / "a")
    ids = create_unwatched(operator)

    rows = listed(operator)
    assert {i: rows[i]["exit_code"] for i in ids} == ids
    assert {p.name for p in (operator.home / "logs").iterdir()} == set(ids)
    agent_request(f"/v1/job/tapit-{next(iter(ids))}?purge=true", method="DELETE")
    shown = operator("show", "logs", f"task={next(iter(ids))}")
    assert (shown.returncode, shown.stdout, shown.stderr) == (0, "out 1\n", "err 1\n")
