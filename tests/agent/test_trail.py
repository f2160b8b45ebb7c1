"""The trail on the real agent: tapit's variables client (check-and-set, 409 with the current
variable, paging), the trail service's read-merge-write loop, and job registration with
EnforceIndex, which submission relies on to never start a job twice."""

import threading

import pytest
from batch_jobs import batch_job
from task_records import task_record

from tapit.nomad.client import NomadClient
from tapit.nomad.settings import NomadSettings
from tapit.nomad.variables import VariableConflict
from tapit.service.trail import Trail


@pytest.fixture
def client(agent):
    with NomadClient(NomadSettings(address=agent.address, token=agent.token)) as nomad:
        yield nomad


def test_check_and_set_creates_once_and_a_conflict_carries_the_current_variable(client):
    variables = client.variables
    first = variables.put("tapit/task/a", {"status": "running"}, cas=0)
    with pytest.raises(VariableConflict) as refused:
        variables.put("tapit/task/a", {"status": "pending"}, cas=0)
    assert refused.value.current.items == {"status": "running"}
    assert refused.value.current.modify_index == first.modify_index
    second = variables.put("tapit/task/a", {"status": "complete"}, cas=first.modify_index)
    with pytest.raises(VariableConflict) as stale:
        variables.put("tapit/task/a", {"status": "running"}, cas=first.modify_index)
    assert stale.value.current.items == {"status": "complete"}
    assert variables.get("tapit/task/a").items == {"status": "complete"}
    with pytest.raises(VariableConflict) as gone:
        variables.put("tapit/task/none", {"status": "running"}, cas=5)
    assert gone.value.current is None  # Nomad's zero value: no variable there
    variables.delete("tapit/task/a", cas=second.modify_index)
    assert variables.get("tapit/task/a") is None


def test_list_pages_in_ascending_path_order_with_metadata_only(client):
    for name in ("c", "a", "b", "d"):
        client.variables.put(f"tapit/recent/{name}", {"task": name})
    client.variables.put("tapit/task/x", {"task": "x"})
    page, token = client.variables.list("tapit/recent/", per_page=3)
    assert [m.path for m in page] == ["tapit/recent/a", "tapit/recent/b", "tapit/recent/c"] and token
    rest, end = client.variables.list("tapit/recent/", per_page=3, next_token=token)
    assert [m.path for m in rest] == ["tapit/recent/d"] and end == ""


def test_trail_lists_newest_first_and_pages(client):
    trail = Trail(lambda namespace: client)
    for i in range(5):
        trail.write(task_record(f"0000000{i}", created_at=f"2026-12-02T03:00:0{i}.000Z"))
    pointers, token = trail.recent(3)
    assert [p.task_id for p in pointers] == ["00000004", "00000003", "00000002"]
    more, end = trail.recent(3, token)
    assert [p.task_id for p in more] == ["00000001", "00000000"] and end == ""
    assert trail.read("00000003").created_at == "2026-12-02T03:00:03.000Z"
    assert trail.read("../etc") is None and trail.read("ffffffff") is None


def test_a_late_unfinished_write_never_overwrites_the_end(client):
    trail = Trail(lambda namespace: client)
    trail.write(task_record(status="running", started_at="2026-12-02T03:00:01.000Z"))
    trail.write(task_record(status="complete", exit_code=0, finished_at="2026-12-02T03:00:05.000Z"))
    stored = trail.write(task_record(status="running", node_name="n1"))
    assert (stored.status, stored.exit_code, stored.node_name) == ("complete", 0, "n1")
    assert trail.read("3f2a9c01") == stored
    # as an admin reads it: `nomad var get tapit/task/3f2a9c01`
    items = client.variables.get("tapit/task/3f2a9c01").items
    assert items["status"] == "complete" and items["started"] == "2026-12-02T03:00:01.000Z"


def test_racing_writers_lose_nothing(client):
    """Eight writers, each of a different field, at once: check-and-set and merge keep them all."""
    trail = Trail(lambda namespace: client)
    trail.write(task_record(status="running"))
    start = threading.Barrier(8)
    fields = [{"node_name": "n1"}, {"nomad_alloc_id": "a1"}, {"peak_memory_bytes": 900}, {"cpu_seconds": 2.5}]
    fields += [{"logs_url": "file:///s/x"}, {"logs_sha256": "ab"}, {"logs_bytes": 12}, {"tail": "done\n"}]

    def write(change):
        start.wait()
        trail.write(task_record(status="running", **change))

    threads = [threading.Thread(target=write, args=(change,)) for change in fields]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = trail.read("3f2a9c01")
    for change in fields:
        for name, value in change.items():
            assert getattr(stored, name) == value


def test_delete_removes_the_record_and_its_place_in_the_list(client):
    trail = Trail(lambda namespace: client)
    record = trail.write(task_record())
    trail.delete(record)
    assert trail.read(record.id) is None
    assert trail.recent(10) == ([], "")


def test_register_with_enforce_index_zero_starts_a_job_only_once(agent):
    """nomad/job_endpoint.go Register and structs.Job.EnforceIndex: JobModifyIndex 0 means "only
    if the job does not exist" (a stopped job still exists); a purged job may be registered again."""
    job = batch_job("once", "true")
    body = {"Job": job, "EnforceIndex": True, "JobModifyIndex": 0}
    assert agent.http.post("/v1/jobs", json=body).status_code == 200
    again = agent.http.post("/v1/jobs", json=body)
    assert again.status_code == 500 and again.text.strip() == "Enforcing job modify index 0: job already exists"
    agent.http.delete("/v1/job/once")
    assert agent.http.post("/v1/jobs", json=body).status_code == 500  # stopped, not gone
    agent.http.delete("/v1/job/once", params={"purge": "true"})
    assert agent.http.post("/v1/jobs", json=body).status_code == 200


def test_an_update_never_puts_back_a_record_deleted_under_it(client):
    """The archivist updates a record it read earlier; `delete task` removes it in between. The
    interleaving is forced by deleting right after the update's own read, on the real agent: the
    check-and-set write then meets Nomad's zero-value conflict, and nothing is created."""
    trail = Trail(lambda namespace: client)
    record = trail.write(task_record(status="running"))
    real_get = client.variables.get

    def get_then_delete(path):
        variable = real_get(path)
        trail.delete(record)
        client.variables.get = real_get
        return variable

    client.variables.get = get_then_delete
    assert trail.update(task_record(status="complete", exit_code=0)) is None
    assert trail.read(record.id) is None and trail.recent(10) == ([], "")
    assert trail.update(task_record(status="complete", exit_code=0)) is None  # none there: none made
    assert trail.read(record.id) is None
