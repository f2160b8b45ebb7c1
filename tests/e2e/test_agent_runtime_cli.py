"""The embedded agent's runtime as a shell user meets it: what held a task to its disk, and
that deleting a task leaves nothing of it behind."""

import json
import os
import time
import uuid
from pathlib import Path

import pytest


def files_holding(root: Path, needle: str) -> list[str]:
    found = []
    for top, _dirs, files in os.walk(root):
        for name in files:
            path = Path(top, name)
            try:
                if needle.encode() in path.read_bytes() or needle in name:
                    found.append(str(path))
            except OSError:
                pass
    return found


def test_show_task_says_what_held_it_to_its_disk(tapit):
    record = json.loads(tapit("create", "task", "true", "--wait", "--json", "ephemeral_storage_gb=0.5").stdout)
    shown = tapit("show", "task", f"task={record['id']}")
    assert shown.returncode == 0
    line = next(line for line in shown.stdout.splitlines() if line.startswith("Disk limit:"))
    assert "a size-limited filesystem of 512 MB" in line or "a watcher" in line


def test_delete_task_leaves_nothing_of_it_in_the_home(tapit):
    marker = f"unique-{uuid.uuid4().hex}"
    record = json.loads(tapit("create", "task", f"echo {marker}; echo {marker} >&2", "--wait", "--json").stdout)
    task_id = record["id"]
    assert files_holding(tapit.home, marker), "its output is kept while the task is"
    deleted = tapit("delete", "task", f"task={task_id}")
    assert deleted.returncode == 0, deleted.stderr
    deadline = time.monotonic() + 15  # the agent destroys the allocation's files just after the purge
    while left := files_holding(tapit.home, marker) + files_holding(tapit.home, task_id):
        assert time.monotonic() < deadline, f"left behind: {left}"
        time.sleep(0.1)


def cpu_quota_of(alloc_id: str, task: str = "task") -> float:
    """The cores a task's cgroup lets it use (cgroup v1 cfs quota, or v2 cpu.max)."""
    v1 = Path(f"/sys/fs/cgroup/cpu/tapit/{alloc_id}.{task}")
    if v1.exists():
        return int((v1 / "cpu.cfs_quota_us").read_text()) / int((v1 / "cpu.cfs_period_us").read_text())
    quota, period = Path(f"/sys/fs/cgroup/tapit/{alloc_id}.{task}/cpu.max").read_text().split()
    return int(quota) / int(period)


def test_a_vcpu_is_one_core_of_this_machine(tapit, nomad_api):
    node = nomad_api.node.get_node(nomad_api.nodes.get_nodes()[0]["ID"])
    if "cpu" in node["Attributes"]["tapit.limits.unenforced"].split(","):
        pytest.skip("this machine cannot enforce cpu limits")
    per_core = int(node["Attributes"]["cpu.totalcompute"]) / int(node["Attributes"]["cpu.numcores"])
    record = json.loads(tapit("create", "task", "sleep 30", "cpu=0.5", "--json").stdout)
    job = nomad_api.job.get_job(record["nomad_job_id"])
    assert job["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"] == round(0.5 * per_core)
    deadline = time.monotonic() + 15
    while (
        not (allocs := nomad_api.job.get_allocations(record["nomad_job_id"])) or allocs[0]["ClientStatus"] != "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cpu_quota_of(allocs[0]["ID"]) == pytest.approx(0.5, abs=0.005)
    tapit("stop", "task", f"task={record['id']}")


def test_config_shows_the_derived_mhz_per_vcpu_and_its_source(tapit, nomad_api):
    tapit("create", "task", "true", "--wait")  # derives it, and caches it
    line = next(line for line in tapit("config").stdout.splitlines() if line.startswith("mhz_per_vcpu"))
    node = nomad_api.node.get_node(nomad_api.nodes.get_nodes()[0]["ID"])
    per_core = round(int(node["Attributes"]["cpu.totalcompute"]) / int(node["Attributes"]["cpu.numcores"]))
    assert line.split()[1] == str(per_core)
    assert "derived from the MHz per core of 1 node(s)" in line and "cached in" in line
    (tapit.home / "tapit.toml").write_text("mhz_per_vcpu = 2000\n")
    line = next(line for line in tapit("config").stdout.splitlines() if line.startswith("mhz_per_vcpu"))
    assert line.split()[1] == "2000" and "tapit.toml" in line


def test_config_starts_no_agent_to_show_it(tapit):
    line = next(line for line in tapit("config").stdout.splitlines() if line.startswith("mhz_per_vcpu"))
    assert "derived from the embedded agent's node when a task is created" in line
    assert not (tapit.home / "agent" / "agent.json").exists()
