"""Nomad's event stream (api/event_stream.go, command/agent/event_endpoint.go, nomad/stream/ndjson.go)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from tapit.nomad.transport import Transport, interrupt_on, until_stopped

# The event stream sends a heartbeat every 30 s (nomad/event_endpoint.go NewJsonStream), the write
# deadline is 40 s (the agent's): this much silence means the connection is dead.
EVENT_READ_TIMEOUT = 90.0
JOB_TOPICS = {"Job", "Allocation", "Evaluation", "Deployment"}  # read with namespace read-job


class EventStream:
    def __init__(self, transport: Transport):
        self._t = transport

    def stream(self, topics: list[str], index: int = 0, stop: threading.Event | None = None) -> Iterator[dict]:
        """Event stream messages {"Index": n, "Events": [...]} from `index` on; topics such as
        "Job" or "Allocation:<job id>". Heartbeats are dropped. Returns when `stop` is set or
        the stream ends; errors are raised at the first next()."""
        params = [("index", str(index))] + [("topic", topic) for topic in topics]
        capability = self._t.needs("read-job") if all(t.split(":")[0] in JOB_TOPICS for t in topics) else None
        with (
            self._t.stream("/v1/event/stream", params, EVENT_READ_TIMEOUT, capability, lookup=False) as response,
            interrupt_on(stop, response),
        ):
            for line in until_stopped(response.iter_lines(), stop):
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    raise self._t.protocol_error("a malformed event stream line")
                if message.get("Index") or message.get("Events"):  # api/event_stream.go IsHeartbeat
                    yield message
