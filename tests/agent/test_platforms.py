"""A machine without cgroups or namespaces (macOS, an unprivileged container), played on Linux by
masking them (TAPIT_AGENT_MASK): the node says what it lacks, host tasks still run under
raw_exec, and each task is told which of its limits are not held."""

import pytest

from .conftest import Agent


@pytest.fixture
def bare_agent(tmp_path, monkeypatch, request):
    monkeypatch.setenv("TAPIT_AGENT_MASK", "cgroups,namespaces")  # the agent inherits it
    request.getfixturevalue("agent")  # its teardown stops the agent and checks nothing is left
    return Agent(tmp_path)


def node(agent):
    return agent.nomad.node.get_node(agent.nomad.nodes.get_nodes()[0]["ID"])


def test_the_node_fingerprints_neither_cgroups_nor_namespaces(bare_agent):
    found = node(bare_agent)
    attributes = found["Attributes"]
    assert attributes["tapit.limits.unenforced"] == "memory,cpu"
    assert "os.cgroups.version" not in attributes and attributes["unique.cgroup.version"] == ""
    assert "driver.exec" not in attributes and attributes["driver.raw_exec"] == "1"
    exec_driver = found["Drivers"]["exec"]
    assert (exec_driver["Detected"], exec_driver["Healthy"]) == (False, False)
    assert found["Drivers"]["raw_exec"]["Healthy"]


def test_a_host_task_runs_and_is_told_the_limits_it_is_not_held_to(bare_agent):
    bare_agent.register("bare", "echo ran", task={"Resources": {"CPU": 100, "MemoryMB": 32}})
    alloc = bare_agent.wait_alloc("bare", ("complete", "failed"))
    assert alloc["ClientStatus"] == "complete"
    events = alloc["TaskStates"]["main"]["Events"]
    (told,) = [e for e in events if e["Type"] == "Driver"]
    assert told["Details"] == {"unenforced_limits": "memory,cpu"}
    assert "memory, cpu limit(s)" in told["DisplayMessage"]
    logs = bare_agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "main", "type": "stdout", "plain": "true"}
    )
    assert logs.text == "ran\n"


def test_usage_figures_come_from_the_tasks_processes(bare_agent):
    bare_agent.register("usage", "echo ready; python3 -c 'b = bytearray(30 << 20); import time; time.sleep(60)'")
    alloc = bare_agent.wait_alloc("usage", ("running",))
    bare_agent.wait_output(alloc["ID"], "ready\n")
    while True:  # until python has its bytes (the test's own timeout bounds this)
        stats = bare_agent.http.get(f"/v1/client/allocation/{alloc['ID']}/stats").json()
        usage = stats["Tasks"]["main"]["ResourceUsage"]
        if usage["MemoryStats"]["RSS"] > 30 << 20:
            break
    assert usage["MemoryStats"]["Measured"] == ["RSS"]
    assert usage["CpuStats"]["Measured"] == ["System Mode", "User Mode", "Percent"]


def test_an_exec_task_is_not_placed_without_namespaces(bare_agent):
    bare_agent.register("isolated", "echo ran", driver="exec")
    evaluations = [
        bare_agent.nomad.evaluation.get_evaluation(e["ID"]) for e in bare_agent.nomad.job.get_evaluations("isolated")
    ]
    (placing,) = [e for e in evaluations if e.get("FailedTGAllocs")]
    assert placing["FailedTGAllocs"]["main"]["ConstraintFiltered"] == {"missing drivers": 1}
    assert bare_agent.nomad.job.get_allocations("isolated") == []
