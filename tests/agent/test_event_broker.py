"""The event broker in-process: its buffer bound and where a subscription starts (nomad/stream)."""

import asyncio
import json

from tapit.agent.state import event_broker


def batches(sub):
    out = []
    while (line := sub.take_nowait()) is not None:
        out.append(json.loads(line))
    return out


def job(job_id, **fields):
    return {"ID": job_id, "Namespace": "default", **fields}


def test_buffer_holds_the_last_100_batches_and_subscriptions_start_at_the_closest():
    async def scenario():
        broker = event_broker.EventBroker()
        assert event_broker.BUFFER_SIZE == 100  # nomad/config.go EventBufferSize
        for index in range(1, 151):
            broker.publish(index, "JobRegistered", [event_broker.job_event(job(f"j{index}"))])
        everything = batches(broker.subscribe({"*": {"*"}}, "*", 0))
        assert [b["Index"] for b in everything] == list(range(51, 151))  # index 0: from the head
        assert [b["Index"] for b in batches(broker.subscribe({"*": {"*"}}, "*", 7))][0] == 51
        assert [b["Index"] for b in batches(broker.subscribe({"*": {"*"}}, "*", 140))] == list(range(140, 151))
        # StartAtClosest past the end: the newest batch.
        assert [b["Index"] for b in batches(broker.subscribe({"*": {"*"}}, "*", 10**6))] == [150]
        assert everything[0]["Events"][0] == {
            "Topic": "Job",
            "Type": "JobRegistered",
            "Key": "j51",
            "Namespace": "default",
            "FilterKeys": None,
            "Index": 51,
            "Payload": {"Job": {"ID": "j51", "Namespace": "default"}},
        }

    asyncio.run(scenario())


def test_published_events_do_not_change_with_their_objects():
    async def scenario():
        broker = event_broker.EventBroker()
        live = job("same", Stop=False)
        broker.publish(1, "JobRegistered", [event_broker.job_event(live)])
        live["Stop"] = True
        broker.publish(2, "JobDeregistered", [event_broker.job_event(live)])
        got = batches(broker.subscribe({"Job": {"same"}}, "default", 1))
        assert [b["Events"][0]["Payload"]["Job"]["Stop"] for b in got] == [False, True]

    asyncio.run(scenario())


def test_a_subscriber_is_dropped_once_the_batch_it_holds_leaves_the_buffer():
    async def scenario():
        broker = event_broker.EventBroker()
        slow = broker.subscribe({"*": {"*"}}, "*", 0)
        keeping_up = broker.subscribe({"Job": {"other"}}, "*", 0)  # matches nothing: never behind
        broker.publish(1, "JobRegistered", [event_broker.job_event(job("j1"))])
        assert slow.take_nowait() is not None  # it now writes batch 1 ...
        for index in range(2, 2 + event_broker.BUFFER_SIZE - 1):
            broker.publish(index, "JobRegistered", [event_broker.job_event(job(f"j{index}"))])
        assert not slow.dropped and len(slow.queue) == event_broker.BUFFER_SIZE - 1
        # ... and batch 1 leaves the buffer while it still holds it.
        broker.publish(200, "JobRegistered", [event_broker.job_event(job("j200"))])
        assert slow.dropped and not slow.queue and slow not in broker.subscribers
        try:
            slow.take_nowait()
        except event_broker.SubscriptionDropped:
            pass
        else:
            raise AssertionError("a dropped subscriber was served")
        assert not keeping_up.dropped and keeping_up in broker.subscribers

    asyncio.run(scenario())
