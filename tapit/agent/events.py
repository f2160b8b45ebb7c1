"""The event broker behind GET /v1/event/stream (nomad/stream): a ring buffer plus subscribers."""

from __future__ import annotations

import asyncio
from collections import deque

BUFFER_SIZE = 4096


def job_event(job: dict, deleted: bool = False) -> dict:
    payload = {"Job": job}
    if deleted:
        payload["Deleted"] = True
    return {"Topic": "Job", "Key": job["ID"], "Namespace": job["Namespace"], "FilterKeys": None,
            "Payload": payload}


def alloc_event(alloc: dict) -> dict:
    # Nomad strips the Job from allocation events to keep them small (nomad/state/events.go).
    payload = {"Allocation": {**alloc, "Job": None}}
    if alloc["ClientStatus"] == "complete" and alloc["ClientDescription"] == "allocation exceeded max_run_duration":
        payload["Timeout"] = True
        payload["TimeoutReason"] = alloc["ClientDescription"]
    return {"Topic": "Allocation", "Key": alloc["ID"], "Namespace": alloc["Namespace"],
            "FilterKeys": [alloc["JobID"], alloc["DeploymentID"]], "Payload": payload}


def eval_event(ev: dict) -> dict:
    return {"Topic": "Evaluation", "Key": ev["ID"], "Namespace": ev["Namespace"],
            "FilterKeys": [ev["JobID"], ev["DeploymentID"]], "Payload": {"Evaluation": ev}}


class Subscription:
    def __init__(self, broker: "EventBroker", topics: dict[str, set[str]], namespace: str):
        self.broker = broker
        self.topics = topics
        self.namespace = namespace
        self.queue: asyncio.Queue = asyncio.Queue()

    def matches(self, event: dict) -> bool:
        if self.namespace != "*" and event["Namespace"] and event["Namespace"] != self.namespace:
            return False
        keys = self.topics.get(event["Topic"], set()) | self.topics.get("*", set())
        if "*" in keys:
            return True
        return event["Key"] in keys or any(k in keys for k in event["FilterKeys"] or ())

    def offer(self, index: int, events: list[dict]) -> None:
        picked = [e for e in events if self.matches(e)]
        if picked:
            self.queue.put_nowait({"Index": index, "Events": picked})

    def close(self) -> None:
        self.broker.subscribers.discard(self)


class EventBroker:
    def __init__(self) -> None:
        self.buffer: deque[tuple[int, list[dict]]] = deque(maxlen=BUFFER_SIZE)
        self.subscribers: set[Subscription] = set()

    def publish(self, index: int, events: list[dict]) -> None:
        for event in events:
            event["Index"] = index
        self.buffer.append((index, events))
        for sub in self.subscribers:
            sub.offer(index, events)

    def subscribe(self, topics: dict[str, set[str]], namespace: str, index: int) -> Subscription:
        """index 0 streams only new events; otherwise replay what the buffer still holds from index on."""
        sub = Subscription(self, topics, namespace)
        if index:
            for batch_index, events in self.buffer:
                if batch_index >= index:
                    sub.offer(batch_index, events)
        self.subscribers.add(sub)
        return sub
