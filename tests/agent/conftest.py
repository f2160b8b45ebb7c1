"""Each test gets its own TAPIT_HOME and its own real agent process; teardown stops the agent
and every task process, and fails the test if anything was left running."""

import os
import time
from pathlib import Path

import httpx
import nomad
import pytest
from batch_jobs import batch_job

from tapit.agent import daemon


def processes_under(root: Path) -> list[int]:
    """Live processes whose environment points into this test's agent dir (tasks and their children)."""
    marker = f"NOMAD_ALLOC_DIR={root}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in env and state != b"Z":
            found.append(int(name))
    return found


class Agent:
    def __init__(self, home: Path):
        self.home = home
        self.refresh()

    def refresh(self):
        self.info = daemon.ensure_running()
        self.address, self.token = self.info.address, self.info.token
        self.nomad = nomad.Nomad(address=self.address, token=self.token, timeout=10)
        self.http = httpx.Client(base_url=self.address, headers={"X-Nomad-Token": self.token}, timeout=15)

    def register(self, job_id, command, driver="raw_exec", group=None, task=None):
        job = batch_job(job_id, command, driver, group, task)
        return self.nomad.jobs.register_job({"Job": job})

    def alloc(self, job_id):
        allocs = self.nomad.job.get_allocations(job_id)
        assert len(allocs) == 1, allocs
        return self.nomad.allocation.get_allocation(allocs[0]["ID"])

    def wait_alloc(self, job_id, statuses, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            allocs = self.nomad.job.get_allocations(job_id)
            if allocs and allocs[0]["ClientStatus"] in statuses:
                return self.nomad.allocation.get_allocation(allocs[0]["ID"])
            time.sleep(0.05)
        raise AssertionError(f"alloc of {job_id} never reached {statuses}: {allocs}")

    def wait_output(self, alloc_id, text, timeout=15.0):
        """Until the task has written `text` to stdout: a busy machine may be slow to reach that point."""
        deadline = time.monotonic() + timeout
        params = {"task": "main", "type": "stdout", "plain": "true"}
        while text not in self.http.get(f"/v1/client/fs/logs/{alloc_id}", params=params).text:
            assert time.monotonic() < deadline, f"the task never printed {text!r}"
            time.sleep(0.05)


@pytest.fixture
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("TAPIT_HOME", str(tmp_path))
    handle = Agent(tmp_path)
    yield handle
    daemon.stop(kill_tasks=True)
    assert daemon.status() is None
    leftovers = processes_under(tmp_path / "agent")
    assert not leftovers, f"processes left running: {[Path(f'/proc/{p}/cmdline').read_bytes() for p in leftovers]}"
    allocs = tmp_path / "agent" / "allocs"
    cgroups = [
        p
        for a in (allocs.iterdir() if allocs.exists() else ())
        for p in Path("/sys/fs/cgroup").glob(f"*/tapit/{a.name}.*")
    ]
    assert not cgroups, f"task cgroups left behind: {cgroups}"
    mounts = mounts_under(tmp_path)
    assert not mounts, f"filesystems left mounted: {mounts}"


def mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    with open("/proc/self/mountinfo") as f:
        return [p for p in (line.split()[4] for line in f) if p.startswith(prefix)]
