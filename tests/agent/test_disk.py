"""Ephemeral disk: held by a size-limited filesystem where the agent may mount one, by an inotify
watcher elsewhere; either way a task that outgrows it is killed and fails, and its events say
which mechanism held it."""

import re
import time

import pytest
from agent.conftest import mounts_under

from tapit.agent import disk

MB = 1024 * 1024
# Writes 50 MB as fast as the machine can: a 2 s poll never saw it pass a 10 MB limit.
FAST_WRITER = "head -c 50000000 /dev/zero > ../alloc/data/blob"

# Nomad refuses a disk not larger than the task's log storage (nomad/structs/structs.go
# Task.Validate: LogConfig MaxFiles × MaxFileSizeMB must be less than EphemeralDisk.SizeMB).
SMALL_DISK = {"group": {"EphemeralDisk": {"SizeMB": 10}}, "task": {"LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 1}}}


def node_mechanism(agent) -> str:
    node = agent.nomad.nodes.get_nodes()[0]["ID"]
    return agent.nomad.node.get_node(node)["Attributes"][disk.ATTRIBUTE]


def events(alloc) -> list[dict]:
    return alloc["TaskStates"]["main"]["Events"]


def setup_message(alloc) -> str:
    return next(e["Message"] for e in events(alloc) if e["Message"].startswith(disk.DESCRIPTION_PREFIX))


def exceeded_mb(alloc) -> float:
    event = next(e for e in events(alloc) if e["Type"] == "Disk Resources Exceeded")
    assert event["DiskLimit"] == 10 * MB and event["FailsTask"] is True
    return float(re.search(r"uses ([\d.]+) MB", event["Message"])[1])


def stdout(agent, alloc_id) -> str:
    params = {"task": "main", "type": "stdout", "plain": "true"}
    return agent.http.get(f"/v1/client/fs/logs/{alloc_id}", params=params).text


@pytest.fixture
def watcher(monkeypatch):
    """The agent started after this plays a machine where it may not mount filesystems."""
    monkeypatch.setenv(disk.FORCE_ENV, disk.WATCHER)


def test_a_size_limited_filesystem_holds_a_fast_writer_to_its_disk(agent):
    if node_mechanism(agent) != disk.FILESYSTEM:
        pytest.skip("this machine does not let the agent mount a filesystem")
    agent.register("fast", FAST_WRITER + "; sleep 30", **SMALL_DISK)
    alloc = agent.wait_alloc("fast", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed"
    assert setup_message(alloc) == "ephemeral disk enforced by a size-limited filesystem of 10 MB"
    # The filesystem itself stops it: never more than the margin past the limit.
    assert 10 <= exceeded_mb(alloc) <= 10 + disk.MARGIN / MB
    assert [e["Type"] for e in events(alloc)][-3:] == ["Killing", "Terminated", "Killed"]
    # Once it ended the filesystem goes and its logs stay where they were.
    deadline = time.monotonic() + 10
    # The pool's filesystem, made ready for the next allocation (tapit/agent/diskpool.py), is no task's.
    while list((agent.home / "agent" / "disks").glob("*.img")) or [
        m for m in mounts_under(agent.home) if "/disks/pool/" not in m
    ]:
        assert time.monotonic() < deadline, "the task's filesystem was never released"
        time.sleep(0.05)
    assert (agent.home / "agent" / "allocs" / alloc["ID"] / "alloc" / "logs" / "main.stdout.0").exists()


def test_logs_stay_readable_while_the_filesystem_is_released(agent):
    """The release swaps the logs' copy in under the same path: a reader never misses them."""
    if node_mechanism(agent) != disk.FILESYSTEM:
        pytest.skip("this machine does not let the agent mount a filesystem")
    agent.register("talk", "seq 1 20000; sleep 0.5", **SMALL_DISK)
    alloc_id = agent.wait_alloc("talk", ("running",))["ID"]
    expected = "".join(f"{i}\n" for i in range(1, 20001))
    agent.wait_output(alloc_id, "20000\n")
    images = agent.home / "agent" / "disks"
    seen_released = False
    deadline = time.monotonic() + 15
    while not seen_released:
        assert time.monotonic() < deadline, "the task's filesystem was never released"
        seen_released = not list(images.glob("*.img"))
        assert stdout(agent, alloc_id) == expected


def test_the_release_waits_for_the_readers_of_the_logs(agent):
    """A task's logs are copied out of its filesystem once nobody streams them any more: the copy
    of a large log does not compete with the client still reading it (tapit/agent/log_readers.py)."""
    if node_mechanism(agent) != disk.FILESYSTEM:
        pytest.skip("this machine does not let the agent mount a filesystem")
    images = agent.home / "agent" / "disks"
    gate = agent.home / "gate"
    agent.register("read", f"seq 1 1000; until [ -e {gate} ]; do sleep 0.05; done", **SMALL_DISK)
    read_id = agent.wait_alloc("read", ("running",))["ID"]
    agent.wait_output(read_id, "1000\n")
    params = {"task": "main", "type": "stdout", "follow": "true"}
    with agent.http.stream("GET", f"/v1/client/fs/logs/{read_id}", params=params) as followed:
        next(followed.iter_bytes())  # the stream is open, then the task ends
        gate.touch()
        agent.wait_alloc("read", ("complete",))
        # An allocation that ended after it, with nobody reading it, is released meanwhile.
        agent.register("unread", "seq 1 10", **SMALL_DISK)
        unread_id = agent.wait_alloc("unread", ("complete",))["ID"]
        deadline = time.monotonic() + 15
        while (images / f"{unread_id}.img").exists():
            assert time.monotonic() < deadline, "the unread task's filesystem was never released"
            time.sleep(0.05)
        assert (images / f"{read_id}.img").exists()
    deadline = time.monotonic() + 15
    while (images / f"{read_id}.img").exists():
        assert time.monotonic() < deadline, "the filesystem was never released once its reader left"
        time.sleep(0.05)
    assert stdout(agent, read_id) == "".join(f"{i}\n" for i in range(1, 1001))


def test_a_watcher_catches_a_fast_writer_elsewhere(watcher, agent):
    assert node_mechanism(agent) == disk.WATCHER
    agent.register("fast", FAST_WRITER + "; sleep 30", **SMALL_DISK)
    alloc = agent.wait_alloc("fast", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed"
    assert setup_message(alloc).startswith("ephemeral disk enforced by a watcher")
    assert [e["Type"] for e in events(alloc)][-5:] == [
        "Started",
        "Disk Resources Exceeded",
        "Killing",
        "Terminated",
        "Killed",
    ]
    assert exceeded_mb(alloc) >= 10
    assert events(alloc)[-2]["Signal"] == 9  # at once, with no kill timeout to write on in


def test_a_write_in_the_last_moment_before_exit_still_fails_the_task(watcher, agent):
    agent.register("quick", "head -c 20000000 /dev/zero > ../alloc/data/blob", **SMALL_DISK)
    alloc = agent.wait_alloc("quick", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed" and exceeded_mb(alloc) >= 10


def test_writes_in_new_directories_are_counted(watcher, agent):
    agent.register(
        "deep",
        "mkdir -p ../alloc/data/a/b/c && head -c 12000000 /dev/zero > ../alloc/data/a/b/c/blob; sleep 30",
        **SMALL_DISK,
    )
    alloc = agent.wait_alloc("deep", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed" and exceeded_mb(alloc) >= 10


def test_a_task_within_its_disk_completes(agent):
    agent.register("small", "head -c 1000000 /dev/zero > ../alloc/data/blob", **SMALL_DISK)
    alloc = agent.wait_alloc("small", ("failed", "complete"))
    assert alloc["ClientStatus"] == "complete"
    assert "Disk Resources Exceeded" not in [e["Type"] for e in events(alloc)]


def test_a_restarted_agent_keeps_holding_a_running_task_to_its_disk(agent):
    import os
    import signal

    agent.register(
        "slow",
        "sleep 2; head -c 20000000 /dev/zero > ../alloc/data/blob; sleep 30",
        **SMALL_DISK,
    )
    agent.wait_alloc("slow", ("running",))
    os.kill(agent.info.pid, signal.SIGKILL)
    time.sleep(0.3)
    agent.refresh()
    alloc = agent.wait_alloc("slow", ("failed", "complete"))
    assert alloc["ClientStatus"] == "failed" and exceeded_mb(alloc) >= 10


def test_the_cli_reads_the_message_the_agent_writes():
    from tapit.translate.status import DISK_LIMIT_PREFIX

    assert DISK_LIMIT_PREFIX == disk.DESCRIPTION_PREFIX


@pytest.mark.parametrize("size_mb", [10, 300, 600, 2000])
def test_a_filesystem_is_made_once_with_exactly_the_room_asked(tmp_path, monkeypatch, size_mb):
    """An image too small for ext4's metadata is made a second time, bigger: the set-up of
    every allocation then paid for two filesystems. The sizes are 300 MB (Nomad's default
    disk), both sides of mke2fs's "small" type (512 MiB) and a large one."""
    if disk.fingerprint(tmp_path / "probe") != disk.FILESYSTEM:
        pytest.skip("this machine does not let the agent mount a filesystem")
    formatted = []
    run = disk._run

    def counting(*argv):  # the real tool runs; this only counts the filesystems made
        formatted.extend(argv[:1] if argv[0] == "mkfs.ext4" else [])
        run(*argv)

    monkeypatch.setattr(disk, "_run", counting)
    mount_point = tmp_path / "alloc"
    mount_point.mkdir()
    filesystem = disk.Filesystem(tmp_path / "alloc.img", mount_point)
    try:
        filesystem.create(size_mb * MB)
        assert formatted == ["mkfs.ext4"]
        assert filesystem.used(size_mb * MB) == 0  # limit + MARGIN free, the rest reserved away
    finally:
        filesystem.destroy()
