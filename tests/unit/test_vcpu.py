"""MHz per vCPU from the nodes that could run a task (pure parts; the embedded agent's own node is
covered end to end in tests/e2e/test_agent_runtime_cli.py). The stubs are in the shape of Nomad's
structs.NodeListStub and the attributes as client/fingerprint/cpu.go sets them."""

from tapit.config import AppConfig
from tapit.service.vcpu import could_run, derive, per_core_mhz


def stub(**changes):
    base = {
        "ID": "n1",
        "Datacenter": "dc1",
        "NodePool": "default",
        "Status": "ready",
        "SchedulingEligibility": "eligible",
        "Drain": False,
        "Drivers": {"docker": {"Detected": True, "Healthy": True}},
    }
    return base | changes


def test_a_core_is_the_compute_it_adds_else_the_frequency():
    assert per_core_mhz({"cpu.totalcompute": "10384", "cpu.numcores": "4", "cpu.frequency": "2596"}) == 2596
    # Performance and efficiency cores: no cpu.frequency, and the average is what a core is worth.
    assert per_core_mhz({"cpu.totalcompute": "30000", "cpu.numcores": "12"}) == 2500
    assert per_core_mhz({"cpu.frequency": "3000"}) == 3000
    assert per_core_mhz({"cpu.totalcompute": "0", "cpu.numcores": "0"}) is None


def test_the_fastest_core_of_the_nodes_so_a_vcpu_is_never_less_than_a_core():
    nodes = [
        {"Attributes": {"cpu.totalcompute": "8000", "cpu.numcores": "4"}},
        {"Attributes": {"cpu.totalcompute": "12000", "cpu.numcores": "4"}},
        {"Attributes": {}},
    ]
    assert derive(nodes) == 3000
    assert derive([{"Attributes": {}}]) is None


def test_only_nodes_that_could_run_the_task_count():
    config = AppConfig(datacenters=("eu-*",), node_pool="batch")
    fits = stub(Datacenter="eu-west", NodePool="batch")
    assert could_run(fits, "docker", config)
    assert not could_run(fits | {"Datacenter": "us-east"}, "docker", config)
    assert not could_run(fits | {"NodePool": "default"}, "docker", config)
    assert not could_run(fits | {"Status": "down"}, "docker", config)
    assert not could_run(fits | {"SchedulingEligibility": "ineligible"}, "docker", config)
    assert not could_run(fits | {"Drain": True}, "docker", config)
    assert not could_run(fits | {"Drivers": {"docker": {"Detected": True, "Healthy": False}}}, "docker", config)
    assert not could_run(fits, "raw_exec", config)
    assert could_run(stub(), "docker", AppConfig())  # datacenters "*", the default pool
