"""Placement across a group's Count, as scheduler/generic_sched.go does on one node: what fits is
placed, the rest stays queued behind a blocked evaluation that places it when room appears; and
a job, however large its Count, never leaves a state the agent cannot load again."""

import json
import time

from batch_jobs import batch_job

from tapit.agent import daemon
from tapit.agent.state.store import Store

# Small log storage so that a small ephemeral disk is valid (structs.LogConfig.Validate).
SMALL_DISK = {"EphemeralDisk": {"SizeMB": 20}}
SMALL_LOGS = {"LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1}}


def node_cpu(agent) -> int:
    node_id = agent.nomad.nodes.get_nodes()[0]["ID"]
    return agent.nomad.node.get_node(node_id)["NodeResources"]["Cpu"]["CpuShares"]


def register(agent, job_id, command, count, cpu):
    job = batch_job(
        job_id,
        command,
        group={**SMALL_DISK, "Count": count},
        task={**SMALL_LOGS, "Resources": {"CPU": cpu, "MemoryMB": 10}},
    )
    return agent.nomad.jobs.register_job({"Job": job})


def until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_count_beyond_the_node_places_what_fits_and_the_rest_when_room_appears(agent):
    fits = node_cpu(agent) // 1000
    reply = register(agent, "wide", "sleep 2", fits + 3, 1000)
    allocs = agent.nomad.job.get_allocations("wide")
    assert len(allocs) == fits
    assert sorted(a["Name"] for a in allocs) == sorted(f"wide.main[{i}]" for i in range(fits))
    ev = agent.nomad.evaluation.get_evaluation(reply["EvalID"])
    metric = ev["FailedTGAllocs"]["main"]
    assert metric["DimensionExhausted"] == {"cpu": 1} and metric["NodesExhausted"] == 1
    assert metric["CoalescedFailures"] == 2
    assert ev["QueuedAllocations"] == {"main": 3} and ev["Status"] == "complete"
    assert agent.nomad.job.get_summary("wide")["Summary"]["main"]["Queued"] == 3
    blocked = agent.nomad.evaluation.get_evaluation(ev["BlockedEval"])
    assert blocked["Status"] == "blocked"

    # As the first ones finish, the blocked evaluation places the rest, and no more.
    def all_complete():
        allocs = agent.nomad.job.get_allocations("wide")
        return allocs if all(a["ClientStatus"] == "complete" for a in allocs) and len(allocs) == fits + 3 else None

    done = until(all_complete, timeout=60)
    assert sorted(a["Name"] for a in done) == sorted(f"wide.main[{i}]" for i in range(fits + 3))
    blocked = agent.nomad.evaluation.get_evaluation(ev["BlockedEval"])
    assert blocked["Status"] == "complete" and blocked["QueuedAllocations"] == {"main": 0}
    assert {a["EvalID"] for a in done} == {reply["EvalID"], blocked["ID"]}
    summary = agent.nomad.job.get_summary("wide")["Summary"]["main"]
    assert (summary["Queued"], summary["Complete"]) == (0, fits + 3)


def test_a_huge_count_costs_what_the_node_holds_and_the_home_starts_again(agent):
    fits = node_cpu(agent) // 1000
    register(agent, "huge", "sleep 60", 50_000, 1000)
    assert len(agent.nomad.job.get_allocations("huge")) == fits
    assert agent.nomad.job.get_summary("huge")["Summary"]["main"]["Queued"] == 50_000 - fits
    state_files = list((agent.home / "agent" / "state").glob("*.json"))
    # Each allocation refers to the job it was placed from instead of carrying a copy of it.
    bucket = next(json.loads(p.read_bytes()) for p in state_files if p.name != "meta.json")
    assert len(bucket["AllocJobs"]) == 1 and {a["Job"] for a in bucket["Allocs"]} == {0}

    daemon.stop()  # its tasks go on running, and the next agent takes them back
    agent.refresh()
    assert agent.nomad.job.get_summary("huge")["Summary"]["main"]["Queued"] == 50_000 - fits
    assert len(agent.nomad.job.get_allocations("huge")) == fits
    # Those the agent had not started yet when it stopped start now, as Nomad's task runners
    # do when no handle was saved: none is lost.
    until(lambda: all(a["ClientStatus"] == "running" for a in agent.nomad.job.get_allocations("huge")))


def test_an_unloadable_state_file_is_set_aside_and_the_agent_starts(agent):
    agent.register("kept", "true")
    agent.register("torn", "true")
    agent.wait_alloc("kept", ("complete",))
    agent.wait_alloc("torn", ("complete",))
    daemon.stop(kill_tasks=True)
    state = agent.home / "agent" / "state"
    torn = next(p for p in state.glob("*.json") if b'"JobID": "torn"' in p.read_bytes())
    torn.write_bytes(torn.read_bytes()[:100])
    (state / "meta.json").write_text("{")
    agent.refresh()
    assert [j["ID"] for j in agent.nomad.jobs.get_jobs()] == ["kept"]
    assert not torn.exists() and torn.with_name(torn.name + ".unloadable").exists()
    log = (agent.home / "agent" / "agent.log").read_text()
    assert f"skipped {torn}" in log and f"skipped {state / 'meta.json'}" in log
    # Indexes go on from what the loaded jobs hold, never back.
    kept = agent.nomad.job.get_job("kept")
    reply = agent.nomad.jobs.register_job({"Job": batch_job("after", "true")})
    assert reply["JobModifyIndex"] > kept["ModifyIndex"]


def test_a_store_loads_around_files_it_cannot_read(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "a.json").write_text("[]")
    (state / "b.json").write_text('{"Namespace": "default"}')
    store = Store(tmp_path)
    assert sorted(store.skipped) == [str(state / "a.json"), str(state / "b.json")]
    # Index 1 is the default namespace's, as the state store's namespaceInit writes it.
    assert store.buckets == {} and store.index == 1
