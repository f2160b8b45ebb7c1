"""GET /v1/metrics (command/agent/metrics_endpoint.go MetricsRequest): the agent's figures as
go-metrics' in-memory sink shows them (InmemSink.DisplayMetrics; the shape is api.MetricsSummary,
api/operator_metrics.go).  Only metrics Nomad itself emits, under its names, and only those the
agent has real figures for: the client's host gauges (client/client.go emitHostStats:
client.host.memory.*, client.uptime, client.host.cpu.*, client.host.disk.*) and its allocation
and task gauges (emitClientMetrics: client.allocations.*, client.tasks.*), each with the labels
Nomad gives it.  Nomad's servers, raft, RPC and Go runtime metrics have nothing behind them here,
and its counters and samples (timings) the agent does not take: Counters and Samples are empty.
?format=prometheus answers as a Nomad with prometheus_metrics off does (415)."""

from __future__ import annotations

import datetime
import socket
import struct
from decimal import Decimal
from typing import TYPE_CHECKING

from aiohttp import web

from .. import structs
from .encode import encode
from .errors import HTTPError
from .routing import GET, Endpoint

if TYPE_CHECKING:
    from ..agent import Agent

SERVICE = "nomad"  # metrics.DefaultConfig("nomad") (command/agent/command.go setupTelemetry)
INTERVAL = 10  # seconds: Telemetry's in-memory collection interval, 10s by default


def float32(value: float) -> int | float:
    """A gauge's float32 as Go's encoding/json writes it: the shortest digits that read back as
    the same float32 ('f' form, so a whole one has no fraction)."""
    (rounded,) = struct.unpack("f", struct.pack("f", value))
    for digits in range(1, 10):
        text = f"{rounded:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == rounded:
            break
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(text)


def timestamp(now: float) -> str:
    """The shown interval's start (the last one finished), as Go's time.Time.String() writes it."""
    start = datetime.datetime.fromtimestamp(now // INTERVAL * INTERVAL - INTERVAL, datetime.UTC)
    return start.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _labels(agent: Agent) -> dict[str, str]:
    """Client.labels (the base labels and the node's state), and go-metrics' host label
    (EnableHostnameLabel, as DisableHostname is off by default)."""
    node = agent.node.as_dict(agent.store.index)
    return {
        "node_id": node["ID"],
        "datacenter": node["Datacenter"],
        "node_class": node["NodeClass"] or "none",
        "node_pool": node["NodePool"],
        "node_status": node["Status"],
        "node_scheduling_eligibility": node["SchedulingEligibility"],
        "host": socket.gethostname(),
    }


def gauges(agent: Agent) -> list[dict]:
    labels = _labels(agent)
    out: list[tuple[str, float, dict]] = []
    stats = agent.host_stats.collect()
    for name in ("total", "available", "used", "free"):  # setGaugeForMemoryStats
        out.append((f"client.host.memory.{name}", stats["Memory"][name.capitalize()], labels))
    out.append(("client.uptime", stats["Uptime"], labels))
    for cpu in stats["CPU"]:  # setGaugeForCPUStats
        with_cpu = {**labels, "cpu": cpu["CPU"]}
        for name, field in (
            ("total", "TotalPercent"),
            ("total_percent", "TotalPercent"),
            ("total_ticks", "TotalTicks"),
            ("user", "User"),
            ("idle", "Idle"),
            ("system", "System"),
        ):
            out.append((f"client.host.cpu.{name}", cpu[field], with_cpu))
    for disk in stats["DiskStats"]:  # setGaugeForDiskStats
        with_disk = {**labels, "disk": disk["Device"]}
        for name, field in (
            ("size", "Size"),
            ("used", "Used"),
            ("available", "Available"),
            ("used_percent", "UsedPercent"),
            ("inodes_percent", "InodesUsedPercent"),
        ):
            out.append((f"client.host.disk.{name}", disk[field], with_disk))
    # emitClientMetrics: the client's allocations by status, and their tasks by state.
    allocs = dict.fromkeys(("migrating", "blocked", "pending", "running", "terminal"), 0)
    tasks = dict.fromkeys(("pending", "running", "dead"), 0)
    for alloc in agent.store.allocs():  # the client's alloc runners: every allocation until collected
        status = alloc["ClientStatus"]
        if status in ("pending", "running"):
            allocs[status] += 1
        elif status in ("complete", "failed"):
            allocs["terminal"] += 1
        for state in (alloc.get("TaskStates") or {}).values():
            if state["State"] in tasks:
                tasks[state["State"]] += 1
    out += [(f"client.allocations.{k}", v, labels) for k, v in allocs.items()]
    out += [(f"client.tasks.{k}", v, labels) for k, v in tasks.items()]

    def hash_of(name: str, labels: dict) -> str:  # InmemSink.flattenKeyLabels, the sort key
        return name + "".join(f";{k}={v}" for k, v in labels.items())

    rows = [(hash_of(f"{SERVICE}.{n}", lb), f"{SERVICE}.{n}", v, lb) for n, v, lb in out]
    return [{"Name": n, "Value": float32(v), "Labels": lb} for _, n, v, lb in sorted(rows, key=lambda r: r[0])]


async def metrics(agent: Agent, request: web.Request) -> web.Response:
    if request.query.get("format") == "prometheus":
        raise HTTPError(415, "Prometheus is not enabled")
    summary = {
        "Timestamp": timestamp(structs.now_ns() / 1e9),
        "Gauges": gauges(agent),
        "Points": [],
        "Counters": [],
        "Samples": [],
    }
    return encode(request, summary)


ENDPOINTS = (Endpoint(GET, "/v1/metrics", metrics, "metrics_endpoint.go MetricsRequest", ("format",)),)
