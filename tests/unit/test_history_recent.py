"""The history's recent file (what `list` reads instead of every record) and its batched writes."""

import json
import os
from dataclasses import replace

import pytest

from tapit.service.history import RECENT_KEPT, History, recent_path
from tests.unit.test_history import record


def _at(n: int) -> str:
    return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"


def _finished(n: int, status: str = "complete"):
    return replace(record(f"{n:08x}"), status=status, created_at=_at(n))


def test_recent_holds_the_newest_and_every_unfinished_task(tmp_path):
    count = RECENT_KEPT + 50
    old_running = replace(_finished(0), status="running")
    History(tmp_path).add(old_running, *(_finished(n) for n in range(1, count)))
    records, held = History(tmp_path).recent()
    ids = {r.id for r in records}
    assert ids == {f"{n:08x}" for n in range(count - RECENT_KEPT, count)} | {old_running.id}
    stored = json.loads(recent_path(tmp_path / "history.json").read_text())
    assert len(stored["tasks"]) == RECENT_KEPT + 1
    assert held == {f"{n:08x}" for n in range(count)}


def test_recent_follows_another_writer_and_ignores_a_stale_file(tmp_path):
    reader, writer = History(tmp_path), History(tmp_path)
    writer.add(_finished(1))
    assert [r.id for r in reader.recent()[0]] == [f"{1:08x}"]
    stale = recent_path(tmp_path / "history.json").read_bytes()
    writer.add(_finished(2))
    recent_path(tmp_path / "history.json").write_bytes(stale)  # as a writer killed between the two files
    assert sorted(r.id for r in reader.recent()[0]) == [f"{1:08x}", f"{2:08x}"]


def test_recent_without_a_recent_file_reads_the_whole_history_and_leaves_one(tmp_path):
    History(tmp_path).add(_finished(1), _finished(2))
    recent_path(tmp_path / "history.json").unlink()
    assert len(History(tmp_path).recent()[0]) == 2
    assert recent_path(tmp_path / "history.json").exists()


def test_a_batch_writes_its_updates_once_and_shows_them_meanwhile(tmp_path):
    history = History(tmp_path)
    history.add(*(_finished(n, status="running") for n in range(5)))
    before = os.stat(tmp_path / "history.json").st_ino
    with history.batched():
        for n in range(5):
            history.update(f"{n:08x}", {"status": "complete"})
        History(tmp_path).update(f"{3:08x}", {"exit_code": 7})  # another writer, meanwhile
        assert {r.status for r in history.all()} == {"complete"}
        assert json.loads((tmp_path / "history.json").read_text())["tasks"]["1"]["status"] == "running"
    assert os.stat(tmp_path / "history.json").st_ino != before
    kept = {r.id: r for r in History(tmp_path).all()}
    assert {r.status for r in kept.values()} == {"complete"}
    assert kept[f"{3:08x}"].exit_code == 7


def test_a_failing_batch_still_writes_what_it_learnt(tmp_path):
    history = History(tmp_path)
    history.add(_finished(1, status="running"))
    with pytest.raises(RuntimeError), history.batched():
        history.update(f"{1:08x}", {"status": "complete"})
        raise RuntimeError("Nomad went away")
    assert History(tmp_path).get(f"{1:08x}").status == "complete"
