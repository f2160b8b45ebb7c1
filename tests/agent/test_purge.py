"""Purging a job forgets its allocations as Nomad's GC does (the server's, then the client's
removeAlloc -> allocrunner Destroy -> allocdir Destroy): no file of the agent keeps anything of it."""

import os
import time
import uuid
from pathlib import Path

from tapit.agent import daemon


def holding(root: Path, *needles: str) -> list[str]:
    """Files under root whose name or contents hold any of the needles."""
    found = []
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = Path(top, name)
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(n.encode() in data or n in str(path) for n in needles):
                found.append(str(path))
    return found


def wait_until_nothing_holds(root: Path, *needles: str) -> None:
    deadline = time.monotonic() + 15
    while left := holding(root, *needles):
        assert time.monotonic() < deadline, f"still holding {needles}: {left}"
        time.sleep(0.05)


def test_purging_a_finished_job_removes_its_output_spec_and_environment(agent):
    marker = f"marker-{uuid.uuid4().hex}"
    job_id = f"purged-{marker}"
    agent.register(job_id, f"echo out-{marker}; echo err-{marker} >&2", task={"Env": {"TASK_SECRET": marker}})
    alloc = agent.wait_alloc(job_id, ("complete",))
    assert holding(agent.home, marker), "the job, its logs and its environment are on disk while it is known"
    agent.nomad.job.deregister_job(job_id, purge=True)
    wait_until_nothing_holds(agent.home, marker, alloc["ID"])
    assert not (agent.home / "agent" / "allocs" / alloc["ID"]).exists()
    # As right after a purge on a Nomad server, whose GC comes later: still readable for a while.
    assert agent.nomad.allocation.get_allocation(alloc["ID"])["ID"] == alloc["ID"]
    daemon.stop()
    agent.refresh()  # a restarted agent, reading its files, knows nothing of it
    assert agent.http.get(f"/v1/allocation/{alloc['ID']}").status_code == 404


def test_purging_a_running_job_removes_it_once_it_has_ended(agent):
    marker = f"marker-{uuid.uuid4().hex}"
    job_id = f"purged-{marker}"
    agent.register(job_id, f"echo {marker}; sleep 60")
    alloc = agent.wait_alloc(job_id, ("running",))
    agent.wait_output(alloc["ID"], marker)
    agent.nomad.job.deregister_job(job_id, purge=True)
    wait_until_nothing_holds(agent.home, marker, alloc["ID"])


def test_a_job_registered_again_under_a_purged_id_is_kept(agent):
    agent.register("again", "true")
    agent.wait_alloc("again", ("complete",))
    agent.nomad.job.deregister_job("again", purge=True)
    agent.register("again", "echo second")
    alloc = agent.wait_alloc("again", ("complete",))
    daemon.stop()
    agent.refresh()
    assert agent.alloc("again")["ID"] == alloc["ID"]
