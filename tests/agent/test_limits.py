"""Enforced limits (memory, CPU, ephemeral disk) and usage figures."""

from pathlib import Path

import pytest

HOG = "python3 -c 'b = bytearray(200 * 1024 * 1024); print(len(b))'"


def enforced(agent, limit):
    node = agent.nomad.nodes.get_nodes()[0]["ID"]
    return limit not in agent.nomad.node.get_node(node)["Attributes"]["tapit.limits.unenforced"].split(",")


def test_memory_limit_oom_kill(agent):
    if not enforced(agent, "memory"):
        pytest.skip("this machine cannot enforce memory limits")
    agent.register("hog", HOG, task={"Resources": {"CPU": 500, "MemoryMB": 50}})
    alloc = agent.wait_alloc("hog", ("failed", "complete"))
    terminated = next(e for e in alloc["TaskStates"]["main"]["Events"] if e["Type"] == "Terminated")
    assert terminated["Details"]["oom_killed"] == "true"
    assert terminated["Details"]["exit_message"] == "OOM Killed" and terminated["ExitCode"] == 128 + 9
    assert alloc["ClientStatus"] == "failed"


def test_cpu_quota_follows_mhz(agent):
    if not enforced(agent, "cpu"):
        pytest.skip("this machine cannot enforce cpu limits")
    agent.register("cpu", "cat /proc/self/cgroup; sleep 30", task={"Resources": {"CPU": 250, "MemoryMB": 64}})
    alloc = agent.wait_alloc("cpu", ("running",))
    mhz = int(agent.nomad.node.get_node(alloc["NodeID"])["Attributes"]["cpu.frequency"])
    quota = Path(f"/sys/fs/cgroup/cpu/tapit/{alloc['ID']}.main/cpu.cfs_quota_us")
    if not quota.exists():
        quota = Path(f"/sys/fs/cgroup/tapit/{alloc['ID']}.main/cpu.max")
    assert int(quota.read_text().split()[0]) == max(1000, 250 * 100_000 // mhz)


def test_ephemeral_disk_exceeded(agent):
    # structs.EphemeralDisk.Validate: at least 10 MB, more than the task's log storage.
    agent.register(
        "filler",
        "head -c 30000000 /dev/zero > ../alloc/data/blob; sleep 60",
        group={"EphemeralDisk": {"SizeMB": 10}},
        task={"LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1}},
    )
    alloc = agent.wait_alloc("filler", ("failed", "complete"), timeout=15)
    types = [e["Type"] for e in alloc["TaskStates"]["main"]["Events"]]
    assert "Disk Resources Exceeded" in types and types[-1] == "Killed"
    assert alloc["ClientStatus"] == "failed"


def test_alloc_stats_shape(agent):
    agent.register(
        "busy", "python3 -c 'x = bytearray(30_000_000); print(\"ready\", flush=True); import time; time.sleep(30)'"
    )
    alloc = agent.wait_alloc("busy", ("running",))
    agent.wait_output(alloc["ID"], "ready", timeout=30)  # it holds the memory now
    stats = agent.http.get(f"/v1/client/allocation/{alloc['ID']}/stats").json()
    assert set(stats) == {"ResourceUsage", "Tasks", "Timestamp"}
    memory = stats["Tasks"]["main"]["ResourceUsage"]["MemoryStats"]
    assert set(memory) >= {"RSS", "Cache", "Swap", "Usage", "MaxUsage", "KernelUsage", "KernelMaxUsage", "Measured"}
    assert memory["RSS"] > 20_000_000 or memory["Usage"] > 20_000_000
    cpu = stats["ResourceUsage"]["CpuStats"]
    assert set(cpu) >= {
        "SystemMode",
        "UserMode",
        "TotalTicks",
        "ThrottledPeriods",
        "ThrottledTime",
        "Percent",
        "Measured",
    }


def test_stats_of_a_finished_allocation(agent):
    """client/alloc_endpoint.go Stats on an alloc the client still has: LatestAllocStats answers,
    with each task's last sample and nothing running to sum up."""
    agent.register("brief", "echo ready; sleep 1")
    alloc = agent.wait_alloc("brief", ("running",))
    agent.wait_output(alloc["ID"], "ready")
    url = f"/v1/client/allocation/{alloc['ID']}/stats"
    sample = agent.http.get(url).json()["Tasks"]["main"]
    agent.wait_alloc("brief", ("complete",))
    resp = agent.http.get(url)
    assert resp.status_code == 200
    stats = resp.json()
    assert stats["Timestamp"] == 0 and stats["Tasks"] == {"main": sample}
    assert stats["ResourceUsage"]["MemoryStats"] == {
        "RSS": 0,
        "Cache": 0,
        "Swap": 0,
        "MappedFile": 0,
        "Usage": 0,
        "MaxUsage": 0,
        "KernelUsage": 0,
        "KernelMaxUsage": 0,
        "Measured": None,
    }
    assert stats["ResourceUsage"]["CpuStats"]["Percent"] == 0 and stats["ResourceUsage"]["DeviceStats"] == []
    assert agent.http.get(url, params={"task": "other"}).json()["Tasks"] == {}

    agent.register("unseen", "true")  # never sampled while it ran
    alloc = agent.wait_alloc("unseen", ("complete",))
    resp = agent.http.get(f"/v1/client/allocation/{alloc['ID']}/stats")
    assert resp.status_code == 200 and resp.json()["Tasks"] == {}
