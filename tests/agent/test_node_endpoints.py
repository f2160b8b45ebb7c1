"""The node endpoints against the structs Nomad answers with: structs.Node with the Drain field of
nodeExt (nomad/structs/extensions.go), NodeListStub with its NodeStubFields, the drain and
eligibility responses (nomad/structs/structs.go), and a drain on a cluster of one node
(nomad/drainer)."""

import json
import threading
import time

import httpx
from agent.conftest import processes_under
from batch_jobs import batch_job

# structs.Node, field for field, and the Drain that nodeExt adds.
NODE = {
    "ID",
    "SecretID",
    "Datacenter",
    "Name",
    "CgroupParent",
    "HTTPAddr",
    "TLSEnabled",
    "Attributes",
    "NodeResources",
    "ReservedResources",
    "Links",
    "Meta",
    "NodeClass",
    "NodePool",
    "ComputedClass",
    "DrainStrategy",
    "SchedulingEligibility",
    "Status",
    "StatusDescription",
    "IdentitySigningKeyID",
    "StatusUpdatedAt",
    "Events",
    "Drivers",
    "CSIControllerPlugins",
    "CSINodePlugins",
    "HostVolumes",
    "GCVolumesOnNodeGC",
    "HostNetworks",
    "LastDrain",
    "NodeMaxAllocs",
    "LastMissedHeartbeatIndex",
    "LastAllocUpdateIndex",
    "CreateIndex",
    "ModifyIndex",
    "Drain",
}
NODE_RESOURCES = {
    "Cpu",
    "Processors",
    "Memory",
    "Disk",
    "Devices",
    "NodeNetworks",
    "Networks",
    "MinDynamicPort",
    "MaxDynamicPort",
}
# numalib.Topology's exported fields and numalib.Core (client/lib/numalib/topology.go).
TOPOLOGY = {"Nodes", "Distances", "Cores", "BusAssociativity", "OverrideTotalCompute", "OverrideWitholdCompute"}
CORE = {"SocketID", "NodeID", "ID", "Grade", "Disable", "BaseSpeed", "MaxSpeed", "GuessSpeed"}
# structs.NodeListStub without its omitempty fields (Attributes, NodeResources, ReservedResources).
NODE_STUB = {
    "Address",
    "ID",
    "Datacenter",
    "Name",
    "NodePool",
    "NodeClass",
    "Version",
    "Drain",
    "SchedulingEligibility",
    "Status",
    "StatusDescription",
    "Drivers",
    "HostVolumes",
    "LastDrain",
    "CreateIndex",
    "ModifyIndex",
}
# structs.NodeDrainUpdateResponse and NodeEligibilityUpdateResponse (each with WriteMeta), NodeEvent,
# DrainStrategy (DrainSpec embedded), DrainMetadata, NodeUpdateResponse (with QueryMeta).
UPDATE_RESPONSE = {"NodeModifyIndex", "EvalIDs", "EvalCreateIndex", "Index"}
NODE_EVENT = {"Message", "Subsystem", "Details", "Timestamp", "CreateIndex"}
DRAIN_STRATEGY = {"Deadline", "IgnoreSystemJobs", "ForceDeadline", "StartedAt"}
DRAIN_METADATA = {"StartedAt", "UpdatedAt", "Status", "AccessorID", "Meta"}
NODE_UPDATE_RESPONSE = {
    "HeartbeatTTL",
    "EvalIDs",
    "EvalCreateIndex",
    "NodeModifyIndex",
    "Features",
    "LeaderRPCAddr",
    "NumNodes",
    "Servers",
    "SchedulingEligibility",
    "SignedIdentity",
    "Index",
    "LastContact",
    "KnownLeader",
    "NextToken",
}


def node_id(agent):
    return agent.http.get("/v1/nodes").json()[0]["ID"]


def test_node_shapes(agent):
    nid = node_id(agent)
    node = agent.http.get(f"/v1/node/{nid}").json()
    assert set(node) == NODE and node["Drain"] is False
    assert set(node["NodeResources"]) == NODE_RESOURCES
    topology = node["NodeResources"]["Processors"]["Topology"]
    assert set(topology) == TOPOLOGY and topology["Cores"] and set(topology["Cores"][0]) == CORE
    assert len(topology["Cores"]) == int(node["Attributes"]["cpu.numcores"])
    assert [e["Message"] for e in node["Events"]] == ["Node registered"] and set(node["Events"][0]) == NODE_EVENT
    (stub,) = agent.http.get("/v1/nodes").json()
    assert set(stub) == NODE_STUB
    (stub,) = agent.http.get("/v1/nodes", params={"resources": "true", "os": "true"}).json()
    assert set(stub) == NODE_STUB | {"NodeResources", "Attributes"}
    assert stub["Attributes"] == {"os.name": node["Attributes"]["os.name"]}
    assert stub["NodeResources"] == node["NodeResources"]
    resp = agent.http.get("/v1/nodes", params={"resources": "yes"})
    assert (resp.status_code, resp.text) == (
        400,
        'Failed to parse node list fields: Failed to parse value of "resources" (yes) as a bool: '
        'strconv.ParseBool: parsing "yes": invalid syntax',
    )


def test_eligibility(agent):
    nid = node_id(agent)
    reply = agent.http.post(f"/v1/node/{nid}/eligibility", json={"Eligibility": "ineligible"}).json()
    assert set(reply) == UPDATE_RESPONSE and reply["NodeModifyIndex"] == reply["Index"] > 0
    node = agent.http.get(f"/v1/node/{nid}").json()
    assert node["SchedulingEligibility"] == "ineligible" and node["ModifyIndex"] == reply["Index"]
    assert node["Events"][-1]["Message"] == "Node marked as ineligible for scheduling"
    # Nothing placed on an ineligible node: the evaluation blocks.
    agent.register("waits", "true")
    evals = agent.nomad.job.get_evaluations("waits")
    assert {e["Status"] for e in evals} == {"complete", "blocked"}
    again = agent.http.post(f"/v1/node/{nid}/eligibility", json={"Eligibility": "ineligible"}).json()
    assert again["Index"] == 0  # no change, nothing written
    reply = agent.http.post(f"/v1/node/{nid}/eligibility", json={"Eligibility": "eligible"}).json()
    # createNodeEvals has no allocation of the node to evaluate; the blocked evaluation is unblocked.
    assert reply["EvalIDs"] is None
    agent.wait_alloc("waits", ("complete",))
    resp = agent.http.post(f"/v1/node/{nid}/eligibility", json={"Eligibility": "maybe"})
    assert (resp.status_code, resp.text) == (500, 'invalid scheduling eligibility "maybe"')
    resp = agent.http.post("/v1/node/nope/eligibility", json={"Eligibility": "eligible"})
    assert (resp.status_code, resp.text) == (500, "node not found")


def service_job(job_id):
    job = batch_job(job_id, "sleep 60")
    job["Type"] = "service"
    job["TaskGroups"][0]["ReschedulePolicy"] = None
    return job


def test_a_drain_migrates_and_completes(agent):
    nid = node_id(agent)
    agent.nomad.job.register_job("svc", {"Job": service_job("svc")})
    first = agent.wait_alloc("svc", ("running",))
    reply = agent.http.post(f"/v1/node/{nid}/drain", json={"DrainSpec": {"Deadline": 0}, "Meta": {"why": "test"}})
    assert reply.status_code == 200 and set(reply.json()) == UPDATE_RESPONSE
    node = agent.http.get(f"/v1/node/{nid}").json()
    assert node["Drain"] is True and node["SchedulingEligibility"] == "ineligible"
    assert set(node["DrainStrategy"]) == DRAIN_STRATEGY and node["DrainStrategy"]["Deadline"] == 0
    assert set(node["LastDrain"]) == DRAIN_METADATA and node["LastDrain"]["Status"] == "draining"
    deadline = time.monotonic() + 15
    while agent.http.get(f"/v1/node/{nid}").json()["Drain"]:
        assert time.monotonic() < deadline, "the drain never completed"
        time.sleep(0.05)
    node = agent.http.get(f"/v1/node/{nid}").json()
    assert (node["LastDrain"]["Status"], node["LastDrain"]["Meta"]) == ("complete", {"why": "test"})
    assert node["SchedulingEligibility"] == "ineligible"
    assert [e["Message"] for e in node["Events"]][-2:] == ["Node drain strategy set", "Node drain complete"]
    migrated = agent.nomad.allocation.get_allocation(first["ID"])
    assert (migrated["DesiredStatus"], migrated["DesiredDescription"]) == ("stop", "alloc is being migrated")
    assert migrated["DesiredTransition"]["Migrate"] is True
    # Marking it eligible again places the replacement that had nowhere to go: the blocked
    # evaluation is unblocked (createNodeEvals skips an allocation stopped and finished).
    reply = agent.http.post(f"/v1/node/{nid}/drain", json={"DrainSpec": None, "MarkEligible": True}).json()
    assert reply["EvalIDs"] is None
    deadline = time.monotonic() + 15
    while True:
        allocs = [a for a in agent.nomad.job.get_allocations("svc") if a["ID"] != first["ID"]]
        if allocs and allocs[0]["ClientStatus"] == "running":
            break
        assert time.monotonic() < deadline, "no replacement was placed"
        time.sleep(0.05)
    replacement = agent.nomad.allocation.get_allocation(allocs[0]["ID"])
    assert replacement["PreviousAllocation"] == first["ID"]
    assert agent.nomad.allocation.get_allocation(first["ID"])["NextAllocation"] == replacement["ID"]
    resp = agent.http.post("/v1/node/nope/drain", json={"DrainSpec": None})
    assert (resp.status_code, resp.text) == (500, "node not found")


def test_node_events_are_streamed(agent):
    nid = node_id(agent)
    lines = []

    def read():
        with httpx.stream(
            "GET", agent.address + "/v1/event/stream", params={"topic": "Node"}, headers={"X-Nomad-Token": agent.token}
        ) as resp:
            for line in resp.iter_lines():
                if line != "{}":
                    lines.append(json.loads(line))
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)
    agent.http.post(f"/v1/node/{nid}/drain", json={"DrainSpec": None})
    reader.join(10)
    (event,) = lines[0]["Events"]
    assert (event["Topic"], event["Type"], event["Key"], event["Namespace"]) == ("Node", "NodeDrain", nid, "")
    assert set(event["Payload"]["Node"]) == NODE


def test_evaluate_and_allocations(agent):
    nid = node_id(agent)
    agent.register("on-node", "sleep 60")
    alloc = agent.wait_alloc("on-node", ("running",))
    reply = agent.http.post(f"/v1/node/{nid}/evaluate").json()
    assert set(reply) == NODE_UPDATE_RESPONSE and len(reply["EvalIDs"]) == 1
    ev = agent.nomad.evaluation.get_evaluation(reply["EvalIDs"][0])
    assert (ev["TriggeredBy"], ev["NodeID"], ev["JobID"]) == ("node-update", nid, "on-node")
    allocs = agent.http.get(f"/v1/node/{nid}/allocations").json()
    assert [a["ID"] for a in allocs] == [alloc["ID"]] and allocs[0]["Job"]["ID"] == "on-node"
    assert agent.nomad.allocation.get_allocation(alloc["ID"])["ClientStatus"] == "running"  # nothing moved


def test_stopping_an_allocation_replaces_it(agent):
    """nomad/alloc_endpoint.go Stop: DesiredTransition Migrate and an alloc-stop evaluation, which
    stops the allocation and places another; structs.AllocStopResponse is {EvalID} + WriteMeta."""
    agent.register("stopped", "sleep 60")
    first = agent.wait_alloc("stopped", ("running",))
    resp = agent.http.post(f"/v1/allocation/{first['ID']}/stop", params={"no_shutdown_delay": "true"})
    body = resp.json()
    assert resp.status_code == 200 and set(body) == {"EvalID", "Index"}
    assert resp.headers["X-Nomad-Index"] == str(body["Index"])
    ev = agent.nomad.evaluation.get_evaluation(body["EvalID"])
    assert (ev["TriggeredBy"], ev["JobID"]) == ("alloc-stop", "stopped")
    stopped = agent.nomad.allocation.get_allocation(first["ID"])
    assert stopped["DesiredTransition"] == {
        "Migrate": True,
        "Reschedule": False,
        "ForceReschedule": None,
        "NoShutdownDelay": True,
        "MigrateDisablePlacement": None,
    }
    assert (stopped["DesiredStatus"], stopped["DesiredDescription"]) == ("stop", "alloc is being migrated")
    replacement = agent.nomad.allocation.get_allocation(stopped["NextAllocation"])
    assert (replacement["PreviousAllocation"], replacement["Name"]) == (first["ID"], first["Name"])
    agent.wait_alloc("stopped", ("running",))
    resp = agent.http.post("/v1/allocation/nope/stop")
    assert (resp.status_code, resp.text) == (404, "allocation not found")
    resp = agent.http.post(f"/v1/allocation/{first['ID']}/stop", params={"reschedule": "x"})
    assert (resp.status_code, resp.text) == (
        500,
        'Failed to parse value of "reschedule" (x) as a bool: strconv.ParseBool: parsing "x": invalid syntax',
    )
    assert agent.http.get(f"/v1/allocation/{first['ID']}/stop").text == "Invalid method"


def test_an_allocation_stopped_while_it_is_set_up_never_runs(agent):
    """The stop comes while the client still builds the allocation (its disk, its directories):
    the task must not start afterwards, left running with its allocation reported dead."""
    agent.register("early", "sleep 60")
    deadline = time.monotonic() + 10
    while not (allocs := agent.nomad.job.get_allocations("early")):
        assert time.monotonic() < deadline
    first = allocs[0]["ID"]
    assert agent.http.post(f"/v1/allocation/{first}/stop").status_code == 200
    deadline = time.monotonic() + 15
    while agent.nomad.allocation.get_allocation(first)["ClientStatus"] not in ("complete", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    agent.wait_alloc("early", ("running",))  # the replacement
    time.sleep(0.5)  # what a late start would have spawned by now
    assert not [p for p in processes_under(agent.home / "agent") if alloc_of(p) == first]


def alloc_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
    except OSError:
        return None
    return env.get(b"NOMAD_ALLOC_ID", b"").decode()
