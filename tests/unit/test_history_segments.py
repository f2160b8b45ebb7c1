"""The history's closed segments: an old history moves out on its first write, a write touches
only the live file and the one segment it changes, and concurrent writers lose nothing."""

import json
import os
from dataclasses import replace

import pytest

from tapit.service import history as history_module
from tapit.service import history_segments
from tapit.service.history import History, recent_path
from tests.unit.test_history import record, run_processes

KEPT, MOVE_AT, SEGMENT = 6, 3, 4  # small, so that a few dozen records make several segments


@pytest.fixture
def small(monkeypatch):
    """The limits made small; forked writers (multiprocessing's default here) inherit them."""
    for module in (history_module, history_segments):
        monkeypatch.setattr(module, "RECENT_KEPT", KEPT)
    monkeypatch.setattr(history_segments, "MOVE_AT", MOVE_AT)
    monkeypatch.setattr(history_segments, "SEGMENT_RECORDS", SEGMENT)


def _finished(n: int, status: str = "complete"):
    return replace(record(f"{n:08x}"), status=status, created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z")


def _segment_files(directory):
    return sorted((directory / "history.segments").glob("*.json"))


def _write_old_history(directory, records):
    """The history as tapit wrote it before segments: every record in history.json, TinyDB's layout."""
    tasks = {str(n + 1): r.to_dict() for n, r in enumerate(records)}
    (directory / "history.json").write_text(json.dumps({"tasks": tasks}))


def test_an_old_history_reads_and_moves_out_on_its_first_write(small, tmp_path):
    old = [_finished(n) for n in range(30)] + [_finished(30, status="running")]
    _write_old_history(tmp_path, old)
    assert [r.id for r in History(tmp_path).all()] == [r.id for r in old]
    assert History(tmp_path).get(old[0].id) == old[0]

    History(tmp_path).add(_finished(31))

    assert _segment_files(tmp_path)
    live = json.loads((tmp_path / "history.json").read_text())["tasks"]
    assert sorted(doc["id"] for doc in live.values()) == [f"{n:08x}" for n in range(32 - KEPT, 32)]
    history = History(tmp_path)
    assert sorted(r.id for r in history.all()) == sorted(r.id for r in old + [_finished(31)])
    assert history.get(old[0].id) == old[0]
    records, held = history.recent()
    assert {r.id for r in records} >= {r.id for r in old[-KEPT + 1 :]}
    assert held == {r.id for r in old} | {f"{31:08x}"}


def test_changes_to_a_moved_record_reach_its_segment_and_no_other(small, tmp_path):
    History(tmp_path).add(*(_finished(n) for n in range(20)))
    before = {p.name: os.stat(p).st_ino for p in _segment_files(tmp_path)}
    History(tmp_path).update(f"{0:08x}", {"exit_code": 3})
    History(tmp_path).remove(f"{1:08x}")
    History(tmp_path).add(_finished(20))  # not yet enough to move any out: no segment is written
    after = {p.name: os.stat(p).st_ino for p in _segment_files(tmp_path)}
    changed = {name for name in before if after.get(name) != before[name]}
    assert changed == {"000001.json"}

    history = History(tmp_path)
    assert history.get(f"{0:08x}").exit_code == 3
    assert f"{1:08x}" not in {r.id for r in history.all()}
    assert f"{1:08x}" not in history.recent()[1]


def test_a_missing_or_stale_index_is_rebuilt_from_the_segments(small, tmp_path):
    History(tmp_path).add(*(_finished(n) for n in range(20)))
    (tmp_path / "history.index.json").unlink()
    killed = tmp_path / "history.segments" / ".000001.json.999999.tmp"  # as write_private names them
    killed.write_text("{")
    history = History(tmp_path)
    assert history.get(f"{2:08x}").id == f"{2:08x}"
    assert history.recent()[1] == {f"{n:08x}" for n in range(20)}
    history.update(f"{2:08x}", {"exit_code": 9})  # a write finds its segment without the index
    assert History(tmp_path).get(f"{2:08x}").exit_code == 9
    assert (tmp_path / "history.index.json").exists()
    assert not killed.exists()
    assert json.loads(recent_path(tmp_path / "history.json").read_text())["segments"]


def _write_across_segments(directory, n):
    history = History(directory)
    if n % 3 == 0:
        history.add(*(_finished(100 + n * 10 + i) for i in range(5)))  # moves records out
    elif n % 3 == 1:
        history.update(f"{n:08x}", {"exit_code": n})  # a record in a segment
    else:
        history.remove(f"{n:08x}")


def test_concurrent_writers_of_the_live_file_and_the_segments_lose_nothing(small, tmp_path):
    History(tmp_path).add(*(_finished(n) for n in range(30)))
    run_processes(_write_across_segments, tmp_path, 12)
    records = {r.id: r for r in History(tmp_path).all()}
    added = {f"{100 + n * 10 + i:08x}" for n in range(0, 12, 3) for i in range(5)}
    removed = {f"{n:08x}" for n in range(2, 12, 3)}
    assert set(records) == ({f"{n:08x}" for n in range(30)} - removed) | added
    assert all(records[f"{n:08x}"].exit_code == n for n in range(1, 12, 3))
    assert History(tmp_path).recent()[1] == set(records)


def test_an_id_with_a_space_is_found_in_its_segment(small, tmp_path):
    odd = replace(_finished(0), id="from meta 1")  # an id the archivist took from a job's meta
    History(tmp_path).add(odd, *(_finished(n) for n in range(1, 20)))
    history = History(tmp_path)
    assert history.get("from meta 1").id == "from meta 1"
    assert "from meta 1" in history.recent()[1]
    history.remove("from meta 1")
    assert "from meta 1" not in History(tmp_path).recent()[1]


def test_an_old_historys_long_first_move_is_said_once_and_an_ordinary_move_is_not(small, monkeypatch, tmp_path):
    monkeypatch.setattr(history_segments, "ANNOUNCED_MOVE", 20)
    _write_old_history(tmp_path, [_finished(n) for n in range(30)])
    said: list[str] = []
    History(tmp_path, said.append).add(_finished(30))
    assert said == [f"moving {31 - KEPT} older tasks of the history into segments, once (a few seconds)"]

    History(tmp_path, said.append).add(*(_finished(n) for n in range(31, 31 + MOVE_AT + 1)))
    assert len(_segment_files(tmp_path)) > 7  # it moved again, and said nothing
    assert len(said) == 1


def test_the_commands_service_says_its_notices_on_stderr(monkeypatch, tmp_path, capsys):
    from tapit.commands import task_service

    monkeypatch.setenv("TAPIT_HOME", str(tmp_path))
    task_service().history.on_notice("moving 1 older tasks")
    assert capsys.readouterr().err == "tapit: moving 1 older tasks\n"
