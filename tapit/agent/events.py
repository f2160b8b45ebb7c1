"""The event broker behind GET /v1/event/stream (nomad/stream): a ring buffer plus subscribers.

An event is published as an immutable snapshot: its JSON is rendered once, when its transaction
commits (an event never changes after it was appended to Nomad's eventBuffer), so a replay shows
each object as it was at that index however the live object changed since.  Rendering once is
also cheaper than a deep copy, and every subscriber shares the same bytes.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

from . import wire

# nomad/config.go DefaultConfig: EventBufferSize 100, counted in published batches (one per index).
BUFFER_SIZE = 100


def job_event(job: dict, deleted: bool = False) -> dict:
    payload = {"Job": job}
    if deleted:
        payload["Deleted"] = True
    return {"Topic": "Job", "Key": job["ID"], "Namespace": job["Namespace"], "FilterKeys": None, "Payload": payload}


def alloc_event(alloc: dict) -> dict:
    return {
        "Topic": "Allocation",
        "Key": alloc["ID"],
        "Namespace": alloc["Namespace"],
        "FilterKeys": [alloc["JobID"], alloc["DeploymentID"]],
        "Payload": alloc,
    }


def eval_event(ev: dict) -> dict:
    return {
        "Topic": "Evaluation",
        "Key": ev["ID"],
        "Namespace": ev["Namespace"],
        "FilterKeys": [ev["JobID"], ev["DeploymentID"]],
        "Payload": ev,
    }


def _payload(event: dict) -> dict:
    """The payload struct as nomad/state/events.go builds it from the object's final state in the txn."""
    obj = event["Payload"]
    if event["Topic"] == "Allocation":
        # Nomad strips the Job from allocation events to keep them small; Allocation is an
        # omitempty struct, so the nil Job is left out altogether.
        payload = {"Allocation": wire.omit_empty({**obj, "Job": None})}
        if obj["ClientStatus"] == "complete" and obj["ClientDescription"] == wire.TIMEOUT_REASON:
            payload["Timeout"] = True
            payload["TimeoutReason"] = obj["ClientDescription"]
        return payload
    if event["Topic"] == "Evaluation":
        return {"Evaluation": wire.omit_empty(obj)}
    return obj


class Published:
    """One event frozen at publish time: what subscriptions filter on, and its rendered JSON."""

    __slots__ = ("topic", "key", "namespace", "filter_keys", "text")

    def __init__(self, event: dict, event_type: str, index: int):
        self.topic, self.key, self.namespace = event["Topic"], event["Key"], event["Namespace"]
        self.filter_keys = event["FilterKeys"]
        # structs.Event field order.
        self.text = json.dumps(
            {
                "Topic": self.topic,
                "Type": event_type,
                "Key": self.key,
                "Namespace": self.namespace,
                "FilterKeys": self.filter_keys,
                "Index": index,
                "Payload": _payload(event),
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )


def render(index: int, events: list[Published]) -> bytes:
    """One structs.Events line of the stream."""
    return f'{{"Index":{index},"Events":[{",".join(e.text for e in events)}]}}\n'.encode()


class Subscription:
    def __init__(self, broker: "EventBroker", topics: dict[str, set[str]], namespace: str):
        self.broker = broker
        self.topics = topics
        self.namespace = namespace
        self.queue: asyncio.Queue = asyncio.Queue()

    def matches(self, event: Published) -> bool:
        if self.namespace != "*" and event.namespace and event.namespace != self.namespace:
            return False
        keys = self.topics.get(event.topic, set()) | self.topics.get("*", set())
        if "*" in keys:
            return True
        return event.key in keys or any(k in keys for k in event.filter_keys or ())

    def offer(self, index: int, events: list[Published]) -> None:
        picked = [e for e in events if self.matches(e)]
        if picked:
            self.queue.put_nowait(render(index, picked))

    def close(self) -> None:
        self.broker.subscribers.discard(self)


class EventBroker:
    def __init__(self, size: int = BUFFER_SIZE) -> None:
        self.buffer: deque[tuple[int, list[Published]]] = deque(maxlen=size)
        self.subscribers: set[Subscription] = set()

    def publish(self, index: int, event_type: str, events: list[dict]) -> None:
        frozen = [Published(e, event_type, index) for e in events]
        self.buffer.append((index, frozen))
        for sub in self.subscribers:
            sub.offer(index, frozen)

    def subscribe(self, topics: dict[str, set[str]], namespace: str, index: int) -> Subscription:
        """EventBroker.Subscribe: index 0 starts at the buffer's head, so the whole buffer is
        replayed; any other index at the closest batch still in the buffer (StartAtClosest: the
        first at or after it, or the newest batch when the index is past the end)."""
        sub = Subscription(self, topics, namespace)
        batches = list(self.buffer)
        start = next(
            (i for i, (batch_index, _) in enumerate(batches) if batch_index >= index), max(0, len(batches) - 1)
        )
        for batch_index, events in batches[start:]:
            sub.offer(batch_index, events)
        self.subscribers.add(sub)
        return sub
