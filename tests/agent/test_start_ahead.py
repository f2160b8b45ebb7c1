"""What a task's start finds made ahead of it: a warm supervisor (tapit/agent/warm.py), a
size-limited filesystem of the size last asked for (tapit/agent/diskpool.py), and the cgroup it
joins through the file that takes no global lock (TaskCgroup.join); none of it left behind."""

import os
import time
from pathlib import Path

import pytest
from agent.conftest import mounts_under
from agent.test_disk import SMALL_DISK, events, exceeded_mb, node_mechanism

from tapit.agent import daemon, disk
from tapit.agent.cgroups import TaskCgroup
from tapit.agent.drivers.base import read_status
from tapit.agent.drivers.host import SUPERVISOR


def warm_supervisors(agent_pid: int) -> list[int]:
    """The agent's children waiting, as `supervisor.py -`, for a task."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[:-1]
            ppid = int(Path(f"/proc/{name}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == agent_pid and argv[-2:] == [os.fsencode(SUPERVISOR), b"-"]:
            found.append(int(name))
    return found


def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return value


def status(agent, alloc_id) -> dict:
    return read_status(agent.home / "agent" / "run" / f"{alloc_id}.main.status")


def test_a_host_task_runs_under_the_supervisor_started_ahead_of_it(agent):
    ready = wait_for(lambda: warm_supervisors(agent.info.pid), "a supervisor waiting for a task")
    assert len(ready) == 1
    agent.register("ahead", "echo from-the-task; echo to-stderr >&2; sleep 60")
    alloc_id = agent.wait_alloc("ahead", ("running",))["ID"]
    agent.wait_output(alloc_id, "from-the-task\n")
    assert int(status(agent, alloc_id)["sup_pid"]) == ready[0]
    # The next one is started once this task runs, and the agent's stop ends it.
    following = wait_for(lambda: warm_supervisors(agent.info.pid), "a supervisor for the next task")
    assert following != ready
    params = {"task": "main", "type": "stderr", "plain": "true"}
    assert agent.http.get(f"/v1/client/fs/logs/{alloc_id}", params=params).text == "to-stderr\n"
    daemon.stop(kill_tasks=True)
    wait_for(lambda: not [p for p in following if alive(p)], "the waiting supervisor gone")


def alive(pid: int) -> bool:
    try:
        return b"\nState:\tZ" not in Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return False


def test_a_killed_agent_leaves_nothing_made_ahead_once_stopped(agent):
    """Its waiting supervisor ends on its own; the disk it made ready goes with `agent stop`."""
    import signal

    ready = wait_for(lambda: warm_supervisors(agent.info.pid), "a supervisor waiting for a task")
    if node_mechanism(agent) == disk.FILESYSTEM:
        wait_for(lambda: pool_images(agent), "a disk made ready")
    os.kill(agent.info.pid, signal.SIGKILL)
    wait_for(lambda: not [p for p in ready if alive(p)], "the waiting supervisor gone")
    daemon.stop(kill_tasks=True)
    assert not mounts_under(agent.home) and not pool_images(agent)


def test_the_task_joins_its_cgroup_v1_through_the_thread_file():
    """cgroup.procs would move a thread group, under a lock whose taking waits out an RCU grace
    period; a one-threaded child moving itself needs neither."""
    v1 = TaskCgroup("v1", {"memory": Path("/m/t"), "cpu": Path("/c/t"), "cpuacct": Path("/c/t")})
    assert v1.join == ["/m/t/tasks", "/c/t/tasks"]
    assert v1.procs == ["/m/t/cgroup.procs", "/c/t/cgroup.procs"]
    v2 = TaskCgroup("v2", {"memory": Path("/u/t"), "cpu": Path("/u/t")})
    assert v2.join == v2.procs == ["/u/t/cgroup.procs"]


def test_a_host_task_is_in_its_cgroup(agent):
    agent.register("grouped", "sleep 60")
    alloc_id = agent.wait_alloc("grouped", ("running",))["ID"]
    pid = int(wait_for(lambda: status(agent, alloc_id).get("pid"), "the task's pid"))
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    if not any("/tapit/" in line for line in lines):
        pytest.skip("this machine gives tasks no cgroup")
    hierarchies = {line.split(":")[1]: line.split(":", 2)[2] for line in lines}
    v2 = hierarchies.get("") if "memory" not in ",".join(hierarchies) else None
    joined = [v2] if v2 else [path for names, path in hierarchies.items() if {"memory", "cpu"} & set(names.split(","))]
    assert joined and all(path.endswith(f"/tapit/{alloc_id}.main") for path in joined), lines


def pool_images(agent) -> list[Path]:
    return sorted((agent.home / "agent" / "disks" / "pool").glob("*.img"))


def test_an_allocation_takes_the_disk_made_ready_and_is_held_to_it(agent):
    if node_mechanism(agent) != disk.FILESYSTEM:
        pytest.skip("this machine does not let the agent mount a filesystem")
    # The first 10 MB allocation makes its own; the one made ready after it is 10 MB.
    agent.register("first", "true", **SMALL_DISK)
    agent.wait_alloc("first", ("complete", "failed"))

    def ready_10mb():
        images = pool_images(agent)
        return images if images and images[0].stat().st_size < 100 * 1024 * 1024 else None

    image = wait_for(ready_10mb, "a 10 MB disk made ready")[0]
    inode = image.stat().st_ino
    agent.register("second", "sleep 2; head -c 20000000 /dev/zero > ../alloc/data/blob; sleep 30", **SMALL_DISK)
    alloc_id = agent.alloc("second")["ID"]
    agent.wait_alloc("second", ("running",))
    assert (agent.home / "agent" / "disks" / f"{alloc_id}.img").stat().st_ino == inode
    assert not image.exists()
    alloc = agent.wait_alloc("second", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed" and 10 <= exceeded_mb(alloc) <= 10 + disk.MARGIN / 1024 / 1024
    assert "ephemeral disk enforced by a size-limited filesystem of 10 MB" in [e["Message"] for e in events(alloc)]
    daemon.stop(kill_tasks=True)
    assert not pool_images(agent)
