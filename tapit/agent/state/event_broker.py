"""The event broker behind GET /v1/event/stream (nomad/stream): a ring buffer plus subscribers.

An event is published as an immutable snapshot: its JSON is rendered once, when its transaction
commits (an event never changes after it was appended to Nomad's eventBuffer), so a replay shows
each object as it was at that index however the live object changed since.  Rendering once is
also cheaper than a deep copy, and every subscriber shares the same bytes.
"""

from __future__ import annotations
from typing import Any

import asyncio
import json
from collections import deque

from .. import structs

# nomad/config.go DefaultConfig: EventBufferSize 100, counted in published batches (one per index).
BUFFER_SIZE = 100


def job_event(job: dict, deleted: bool = False) -> dict:
    payload: dict[str, Any] = {"Job": job}
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


def node_event(node: dict) -> dict:
    """A Node is not namespaced: its event's Namespace is blank (structs.Event)."""
    return {"Topic": "Node", "Key": node["ID"], "Namespace": "", "FilterKeys": None, "Payload": {"Node": node}}


def variable_event(meta: dict, deleted: bool = False) -> dict:
    """nomad/state/events.go: a Variable event of the VariableMetadata (never the items), keyed by
    the path; structs.VariableEvent's Deleted is always written."""
    return {
        "Topic": "Variable",
        "Key": meta["Path"],
        "Namespace": meta["Namespace"],
        "FilterKeys": None,
        "Payload": {"Metadata": meta, "Deleted": deleted},
    }


def _payload(event: dict) -> dict:
    """The payload struct as nomad/state/events.go builds it from the object's final state in the txn."""
    obj = event["Payload"]
    if event["Topic"] == "Allocation":
        # Nomad strips the Job from allocation events to keep them small; Allocation is an
        # omitempty struct, so the nil Job is left out altogether.
        payload: dict[str, Any] = {"Allocation": structs.omit_empty({**obj, "Job": None})}
        if obj["ClientStatus"] == "complete" and obj["ClientDescription"] == structs.TIMEOUT_REASON:
            payload["Timeout"] = True
            payload["TimeoutReason"] = obj["ClientDescription"]
        return payload
    if event["Topic"] == "Evaluation":
        return {"Evaluation": structs.omit_empty(obj)}
    return obj


class Published:
    """One event frozen at publish time: what subscriptions filter on, and its rendered JSON."""

    __slots__ = ("filter_keys", "key", "namespace", "text", "topic")

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


class SubscriptionDropped(Exception):
    """The subscriber fell further behind than the buffer reaches (event_buffer.go: "event
    dropped from buffer")."""


class Subscription:
    """One reader of the stream, at a place in the broker's buffer (nomad/stream/subscription.go).

    Nomad's subscriber holds the buffer item it read last; once that item has been dropped from
    the buffer (BUFFER_SIZE more batches were published while it was still writing it) its next
    read fails and the stream ends after the line it was writing (command/agent/event_endpoint.go:
    the error has nowhere to go once the 200 is on the wire, the connection is closed).  So a
    subscriber here keeps at most the batches still in the buffer, and is dropped, with what it had
    queued, the moment it would need one that is not."""

    def __init__(self, broker: EventBroker, topics: dict[str, set[str]], namespace: str):
        self.broker = broker
        self.topics = topics
        self.namespace = namespace
        self.queue: deque[tuple[int, bytes]] = deque()  # (sequence, line) not yet taken
        self.held: int | None = None  # the batch being written, or None when caught up
        self.dropped = False
        self._ready = asyncio.Event()

    def matches(self, event: Published) -> bool:
        if self.namespace != "*" and event.namespace and event.namespace != self.namespace:
            return False
        keys = self.topics.get(event.topic, set()) | self.topics.get("*", set())
        if "*" in keys:
            return True
        return event.key in keys or any(k in keys for k in event.filter_keys or ())

    def offer(self, sequence: int, index: int, events: list[Published]) -> None:
        picked = [e for e in events if self.matches(e)]
        if picked:
            self.queue.append((sequence, render(index, picked)))
            self._ready.set()

    def behind(self, oldest: int) -> bool:
        """Whether the batch this subscriber holds (or, caught up, the first it has yet to take)
        has left the buffer."""
        position = self.held if self.held is not None else (self.queue[0][0] if self.queue else None)
        return position is not None and position < oldest

    def take_nowait(self) -> bytes | None:
        if self.dropped:
            raise SubscriptionDropped
        if not self.queue:
            self.held = None
            self._ready.clear()
            return None
        self.held, line = self.queue.popleft()
        return line

    async def take(self, timeout: float) -> bytes | None:
        """The next line to write, or None after `timeout` without one (time for a heartbeat)."""
        line = self.take_nowait()
        if line is None:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
            line = self.take_nowait()
        return line

    def drop(self) -> None:
        self.dropped = True
        self.queue.clear()
        self.close()
        self._ready.set()

    def close(self) -> None:
        self.broker.subscribers.discard(self)


class EventBroker:
    def __init__(self, size: int = BUFFER_SIZE) -> None:
        self.buffer: deque[tuple[int, int, list[Published]]] = deque(maxlen=size)  # (sequence, index, events)
        self.subscribers: set[Subscription] = set()
        self.sequence = 0

    def publish(self, index: int, event_type: str, events: list[dict]) -> None:
        frozen = [Published(e, event_type, index) for e in events]
        self.sequence += 1
        self.buffer.append((self.sequence, index, frozen))
        oldest = self.buffer[0][0]
        for sub in list(self.subscribers):
            sub.offer(self.sequence, index, frozen)
            if sub.behind(oldest):
                sub.drop()

    def subscribe(self, topics: dict[str, set[str]], namespace: str, index: int) -> Subscription:
        """EventBroker.Subscribe: index 0 starts at the buffer's head, so the whole buffer is
        replayed; any other index at the closest batch still in the buffer (StartAtClosest: the
        first at or after it, or the newest batch when the index is past the end)."""
        sub = Subscription(self, topics, namespace)
        batches = list(self.buffer)
        start = next(
            (i for i, (_, batch_index, _) in enumerate(batches) if batch_index >= index), max(0, len(batches) - 1)
        )
        for sequence, batch_index, events in batches[start:]:
            sub.offer(sequence, batch_index, events)
        self.subscribers.add(sub)
        return sub
