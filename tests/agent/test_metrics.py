"""GET /v1/metrics against api.MetricsSummary and its GaugeValue (api/operator_metrics.go, the
JSON of go-metrics' InmemSink.DisplayMetrics; no omitempty), with only metric names Nomad emits
(client/client.go emitHostStats and emitClientMetrics)."""

import re

from tapit.agent.http.metrics import float32

METRICS_SUMMARY = {"Timestamp", "Gauges", "Points", "Counters", "Samples"}
GAUGE_VALUE = {"Name", "Value", "Labels"}
# client/client.go: setGaugeForMemoryStats, setGaugeForUptime, setGaugeForCPUStats,
# setGaugeForDiskStats and emitClientMetrics, under the "nomad" service prefix.
NOMAD_NAMES = re.compile(
    r"nomad\.client\.(host\.memory\.(total|available|used|free)|uptime"
    r"|host\.cpu\.(total|total_percent|total_ticks|user|idle|system)"
    r"|host\.disk\.(size|used|available|used_percent|inodes_percent)"
    r"|allocations\.(migrating|blocked|pending|running|terminal)|tasks\.(pending|running|dead))"
)
BASE_LABELS = {"node_id", "datacenter", "node_class", "node_pool", "node_status", "node_scheduling_eligibility", "host"}


def test_metrics_are_the_in_memory_sinks_summary_of_gauges_nomad_emits(agent):
    agent.register("counted", "sleep 60")
    agent.wait_alloc("counted", ("running",))
    answer = agent.http.get("/v1/metrics")
    body = answer.json()
    assert answer.status_code == 200 and set(body) == METRICS_SUMMARY
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d0 \+0000 UTC", body["Timestamp"])
    assert body["Points"] == body["Counters"] == body["Samples"] == []
    for gauge in body["Gauges"]:
        assert set(gauge) == GAUGE_VALUE and NOMAD_NAMES.fullmatch(gauge["Name"]), gauge
        assert BASE_LABELS <= set(gauge["Labels"])
    by_name = {g["Name"]: g for g in body["Gauges"]}
    assert by_name["nomad.client.allocations.running"]["Value"] == 1
    assert by_name["nomad.client.tasks.running"]["Value"] == 1
    assert by_name["nomad.client.host.memory.total"]["Value"] > 0
    assert by_name["nomad.client.allocations.running"]["Labels"]["node_class"] == "none"
    refused = agent.http.get("/v1/metrics", params={"format": "prometheus"})
    assert refused.status_code == 415 and refused.text == "Prometheus is not enabled"
    assert agent.http.put("/v1/metrics").status_code == 405


def test_a_gauge_is_written_as_go_writes_a_float32():
    assert float32(17179869184) == 17179870000  # strconv 'f', -1, 32: the shortest float32 digits
    assert float32(3) == 3 and isinstance(float32(3), int)
    assert float32(12.5) == 12.5 and float32(0.1) == 0.1
