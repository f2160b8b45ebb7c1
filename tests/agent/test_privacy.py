"""What the agent writes is its user's alone, whatever the umask; tasks get Nomad's task
environment, nothing of tapit's."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from agent.conftest import Agent

from tapit.agent import daemon

NOBODY = 65534


@pytest.fixture
def umask_agent(request, monkeypatch):
    """An agent started (by this process, as the CLI does) under the umask given as the param,
    in a home tapit makes itself; below a directory anyone may enter, so that what other users
    could read of it is up to tapit alone."""
    outer = Path(tempfile.mkdtemp(prefix="tapit-privacy-", dir="/tmp"))
    outer.chmod(0o755)
    monkeypatch.setenv("TAPIT_HOME", str(outer / "home"))
    old = os.umask(request.param)
    try:
        yield Agent(outer / "home")
    finally:
        os.umask(old)
        daemon.stop(kill_tasks=True)
        shutil.rmtree(outer)


def modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.lstat().st_mode)}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top, name)
            found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


def readable_by_nobody(root: Path) -> list[str]:
    """Every path under root that user nobody can open (files) or list (directories)."""
    paths = list(modes(root))
    # A shell, which nobody may run wherever this test's Python lives.
    probe = 'for p; do if [ -d "$p" ]; then ls "$p"; else head -c1 "$p"; fi >/dev/null 2>&1 && echo "$p"; done; true'
    done = subprocess.run(
        ["/bin/sh", "-c", probe, "probe", *paths],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


@pytest.mark.skipif(os.geteuid() != 0, reason="reading as another user needs root to become one")
@pytest.mark.parametrize("umask_agent", [0o022, 0o000], indirect=True, ids=["umask022", "umask000"])
def test_nothing_the_agent_writes_is_readable_by_others(umask_agent):
    agent = umask_agent
    agent.register("private", "echo secret-output; echo secret-error >&2; sleep 30")
    alloc = agent.wait_alloc("private", ("running",))
    agent.wait_output(alloc["ID"], "secret-output")
    agent.nomad.variable.create_variable("tapit/secret", {"Items": {"token": "secret-variable"}})
    # Running: the task's spec, handle, status and supervisor log exist now, and its logs grow;
    # the variables' database has its write-ahead log beside it.
    home = agent.home
    run = {p.name for p in (home / "agent" / "run").iterdir()}
    assert {f"{alloc['ID']}.main.{kind}" for kind in ("spec", "handle", "status", "log")} <= run
    state = {p.name for p in (home / "agent" / "state").iterdir()}
    assert {"variables.db", "variables.db-wal", "variables.db-shm"} <= state
    for where in (home, home / "agent" / "allocs" / alloc["ID"] / "alloc" / "logs"):
        found = modes(where)
        opened = {p: oct(m) for p, m in found.items() if m & 0o077}
        assert not opened, f"open to others: {opened}"
    assert all(m == 0o700 for p, m in modes(home).items() if Path(p).is_dir()), modes(home)
    assert readable_by_nobody(home) == []
    agent.nomad.job.deregister_job("private")
    agent.wait_alloc("private", ("complete", "failed"))
    opened = {p: oct(m) for p, m in modes(home).items() if m & 0o077}
    assert not opened, f"open to others once it ended: {opened}"


def test_tasks_get_nomads_task_environment_and_nothing_of_tapits(agent):
    # TAPIT_HOME is set for this agent (the fixture), and TAPIT_* pass agent_environment: the
    # agent has them; its tasks must not, nor anything of Nomad's env.denylist.
    assert os.environ["TAPIT_HOME"]
    agent.register("env", "env")
    alloc = agent.wait_alloc("env", ("complete",))
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    ).text
    names = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    assert "NOMAD_ALLOC_ID" in names and "PATH" in names
    assert not {n for n in names if n.startswith("TAPIT_")}, names


def test_a_home_from_an_older_tapit_is_made_private(tmp_path, monkeypatch):
    """An agent directory left 0755 by an earlier version is brought to 0700 on first use."""
    monkeypatch.setenv("TAPIT_HOME", str(tmp_path))
    (tmp_path / "agent").mkdir(mode=0o755)
    (tmp_path / "agent").chmod(0o755)
    from tapit.paths import agent_dir

    assert stat.S_IMODE(agent_dir().stat().st_mode) == 0o700
