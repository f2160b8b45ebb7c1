"""The trail's records: paths Nomad accepts, items within its 64 KiB, and a merge that never
lets an unfinished state overwrite a finished one."""

import re
from dataclasses import replace

import pytest
from task_records import task_record

from tapit.trail import records

# nomad/structs/variables.go validVariablePath
VALID_PATH = re.compile(r"^[a-zA-Z0-9-_~/]{1,128}$")


def test_paths_are_valid_nomad_paths_and_recent_sorts_newest_first():
    assert records.record_path("3f2a9c01") == "tapit/task/3f2a9c01"
    older = records.recent_path("aaaaaaaa", "2026-12-02T03:00:00.000Z")
    newer = records.recent_path("bbbbbbbb", "2026-12-02T03:00:00.001Z")
    assert VALID_PATH.match(older) and VALID_PATH.match(newer)
    assert newer < older  # ascending path order is newest first
    assert records.task_id_of_recent(newer) == "bbbbbbbb"
    assert records.task_id_of_recent("tapit/task/bbbbbbbb") is None


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a b", "x" * 65, "é"])
def test_a_task_id_that_cannot_be_a_path_component_names_no_record(bad):
    assert not records.valid_task_id(bad)
    with pytest.raises(ValueError):
        records.record_path(bad)


def test_items_are_strings_and_read_back_the_same_record():
    full = task_record(
        status="failed",
        exit_code=3,
        reason="Exit Code: 3",
        started_at="2026-12-02T03:00:01.000Z",
        finished_at="2026-12-02T03:00:09.000Z",
        nomad_alloc_id="a1",
        node_name="n1",
        logs_lost_bytes={"stdout": 5},
        peak_memory_bytes=123456,
        cpu_seconds=1.5,
        tail="last line\n",
        logs_archived=True,
    )
    items = records.to_items(full)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in items.items())
    assert items["schema"] == "1" and items["created"] == full.created_at and items["exit_code"] == "3"
    assert "logs_archived" not in items  # this machine's own archive, not the cluster's
    assert records.from_items(items) == replace(full, logs_archived=False)


def test_a_long_tail_gives_way_from_its_oldest_lines_to_fit_64_kib():
    lines = "".join(f"line {i:06d}\n" for i in range(20_000))  # 240 KB
    items = records.to_items(task_record(tail=lines))
    assert records.items_size(items) <= records.MAX_ITEMS_BYTES
    assert items["tail"].endswith("line 019999\n") and items["tail"].startswith("line ")
    assert records.MAX_ITEMS_BYTES - records.items_size(items) < 20  # no more than a line given up


def test_a_huge_command_is_cut_to_fit_once_the_tail_is_gone():
    items = records.to_items(task_record(command="é" * 40_000, tail="x\n" * 10))
    assert records.items_size(items) <= records.MAX_ITEMS_BYTES
    assert "tail" not in items and items["command"].endswith(records.TRUNCATED)


def test_an_unfinished_state_never_overwrites_a_finished_one():
    done = task_record(status="complete", exit_code=0, finished_at="2026-12-02T03:01:00.000Z")
    late = task_record(status="running", started_at="2026-12-02T03:00:02.000Z", reason="still running?")
    merged = records.merge(done, late)
    assert (merged.status, merged.exit_code, merged.reason) == ("complete", 0, None)
    assert merged.started_at == "2026-12-02T03:00:02.000Z"  # a field it lacked is filled


def test_a_finished_record_is_filled_never_changed():
    done = task_record(status="failed", exit_code=1, node_name="n1")
    other = task_record(status="complete", exit_code=0, node_name="n2", nomad_alloc_id="a2")
    merged = records.merge(done, other)
    assert (merged.status, merged.exit_code, merged.node_name, merged.nomad_alloc_id) == ("failed", 1, "n1", "a2")


def test_climbing_takes_the_new_status_fields_whole():
    unknown = task_record(
        status="unknown", reason="outcome unknown: Nomad collected the job before its end was recorded"
    )
    merged = records.merge(unknown, task_record(status="complete", exit_code=0))
    assert (merged.status, merged.exit_code, merged.reason) == ("complete", 0, None)
    waiting = task_record(status="pending", reason="not placed yet: no node has 0.5 GB free")
    assert records.merge(waiting, task_record(status="running")).reason is None


def test_usage_keeps_its_largest_figures_and_lost_bytes_their_largest_per_log():
    a = task_record(status="running", peak_memory_bytes=500, cpu_seconds=2.0, logs_lost_bytes={"stdout": 7})
    b = task_record(status="running", peak_memory_bytes=300, cpu_seconds=3.0, logs_lost_bytes={"stderr": 1})
    merged = records.merge(a, b)
    assert (merged.peak_memory_bytes, merged.cpu_seconds) == (500, 3.0)
    assert merged.logs_lost_bytes == {"stdout": 7, "stderr": 1}


def test_the_log_stores_error_is_its_latest_word():
    ended = task_record(status="complete", exit_code=0, logs_error="the log store refused the write")
    shipped = replace(ended, logs_url="file:///store/t1/", logs_sha256="ab", logs_error=None)
    assert records.merge(ended, shipped).logs_error is None  # a later shipment clears it
    incomplete = replace(shipped, logs_error="incomplete: see file:///store/t1/manifest.json")
    assert records.merge(ended, incomplete).logs_error == incomplete.logs_error
    newer = replace(ended, logs_error="the log store is down")
    assert records.merge(ended, newer).logs_error == "the log store is down"
    assert records.merge(ended, replace(ended, logs_error=None)).logs_error == ended.logs_error
    complete = records.merge(ended, shipped)
    assert records.merge(complete, newer).logs_error is None  # nothing undoes a complete shipment


def test_merge_of_the_same_record_changes_nothing():
    full = task_record(status="complete", exit_code=0, tail="ok\n")
    assert records.merge(full, full) == full


def test_a_record_missing_fields_still_reads():
    minimal = records.from_items({"id": "3f2a9c01", "status": "running", "memory_gb": "not a number"})
    assert minimal.status == "running" and minimal.memory_gb == 0.0
    with pytest.raises(ValueError):
        records.from_items({"status": "running"})
