"""The history under concurrent writers: real processes, the real file lock."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

from tapit.model import TaskRecord
from tapit.paths import temporaries
from tapit.service.history import History


def record(task_id: str) -> TaskRecord:
    return TaskRecord(
        id=task_id,
        command="true",
        status="pending",
        image=None,
        docker_tag=None,
        memory_gb=0.5,
        cpu=0.25,
        max_hours=None,
        ephemeral_storage_gb=1,
        initiated_by="t",
        created_at="2026-01-01T00:00:00.000Z",
        nomad_job_id=f"tapit-{task_id}",
        nomad_namespace="default",
    )


def _add_and_update(directory, n):
    history = History(directory)
    history.add(record(f"{n:08x}"))
    history.update(f"{n:08x}", {"status": "running"})


def run_processes(target, directory, count):
    """`target(directory, n)` in `count` processes at once, each of which must succeed."""
    processes = [multiprocessing.Process(target=target, args=(directory, n)) for n in range(count)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(30)
        assert p.exitcode == 0


def test_concurrent_processes_lose_nothing(tmp_path):
    run_processes(_add_and_update, tmp_path, 20)
    records = History(tmp_path).all()
    assert sorted(r.id for r in records) == [f"{n:08x}" for n in range(20)]
    assert {r.status for r in records} == {"running"}


def _cache_from_trail(directory, n):
    History(directory).add_missing(*(record(f"{i:08x}") for i in range(n % 3, 10)))


def test_processes_caching_the_same_trail_records_keep_one_copy_of_each(tmp_path):
    run_processes(_cache_from_trail, tmp_path, 8)
    assert sorted(r.id for r in History(tmp_path).all()) == [f"{i:08x}" for i in range(10)]


def test_update_writes_only_the_given_fields(tmp_path):
    history = History(tmp_path)
    history.add(record("00000001"))
    history.update("00000001", {"stop_requested_by": "alice"})
    history.update("00000001", {"status": "stopped"})
    got = history.get("00000001")
    assert (got.status, got.stop_requested_by) == ("stopped", "alice")


def test_archived_logs_round_trip(tmp_path):
    history = History(tmp_path)
    history.archive_logs("00000001", {"stdout": b"out\n", "stderr": b""})
    assert b"".join(history.archived_chunks("00000001", "stdout")) == b"out\n"
    assert b"".join(history.archived_chunks("00000001", "stderr")) == b""
    history.remove("00000001")
    assert list(history.archived_chunks("00000001", "stdout")) == []
    assert not (tmp_path / "logs" / "00000001").exists()


def _archive(directory, n):
    History(directory).archive_logs("00000001", {"stdout": b"x" * n, "stderr": b""})


def test_concurrent_archives_of_one_task_do_not_collide(tmp_path):
    processes = [multiprocessing.Process(target=_archive, args=(tmp_path, n)) for n in range(1, 13)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(30)
        assert p.exitcode == 0
    assert len(b"".join(History(tmp_path).archived_chunks("00000001", "stdout"))) in range(1, 13)
    assert sorted(p.name for p in (tmp_path / "logs" / "00000001").iterdir()) == ["stderr", "stdout"]


def _write_then_hang(directory):
    """A writer that has written its whole temporary copy and hangs before the rename: where a
    SIGKILL leaves a temporary behind (the rename is the only step after it)."""
    os.replace = lambda *args: time.sleep(600)
    History(directory).update("00000000", {"reason": "never recorded"})


def test_temporary_copies_of_writers_killed_mid_write_are_swept(tmp_path):
    history = History(tmp_path)
    history.add(*(record(f"{n:08x}") for n in range(1_000)))
    writer = multiprocessing.Process(target=_write_then_hang, args=(tmp_path,))
    writer.start()
    deadline = time.monotonic() + 30
    while not temporaries(tmp_path / "history.json") and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(writer.pid, signal.SIGKILL)  # its lock goes with it
    writer.join()
    assert temporaries(tmp_path / "history.json"), "the writer never got as far as its temporary copy"
    history.update("00000001", {"status": "running"})
    assert temporaries(tmp_path / "history.json") == []
    assert history.get("00000001").status == "running" and len(history.all()) == 1_000
    assert history.get("00000000").reason is None  # the killed write never landed


def test_partial_archives_of_dead_processes_are_swept(tmp_path):
    history = History(tmp_path)
    dead = multiprocessing.Process(target=lambda: None)
    dead.start()
    dead.join()
    directory = tmp_path / "logs" / "00000001"
    directory.mkdir(parents=True)
    (directory / f".stdout.{dead.pid}.abc.partial").write_bytes(b"half of it")
    mine = history.archive_writer("00000001", "stderr")  # a live process's partial archive stays
    history.archive_writer("00000001", "stdout").discard()
    assert sorted(p.name for p in directory.iterdir()) == [Path(mine._partial).name]
    mine.write(b"all of it")
    mine.commit()
    assert sorted(p.name for p in directory.iterdir()) == ["stderr"]


def test_a_history_read_again_sees_what_another_process_wrote_and_its_own_writes(tmp_path):
    reader = History(tmp_path)
    reader.add(record("00000001"))
    assert [r.id for r in reader.all()] == ["00000001"]  # parsed, and kept for the next read
    process = multiprocessing.Process(target=_add_and_update, args=(tmp_path, 2))
    process.start()
    process.join()
    assert [r.id for r in reader.all()] == ["00000001", "00000002"]
    assert reader.get("00000002").status == "running"
    reader.update("00000001", {"status": "failed"})
    assert reader.get("00000001").status == "failed"
    mine = reader.get("00000001")
    mine.logs_lost_bytes["stdout"] = 5  # a caller's record is its own
    assert reader.get("00000001").logs_lost_bytes == {}
