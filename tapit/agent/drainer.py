"""The node's drain and scheduling eligibility: nomad/node_endpoint.go UpdateDrain, UpdateEligibility
and Evaluate, the state store's updateNodeDrainImpl / updateNodeEligibilityImpl, and the leader's
node drainer (nomad/drainer) on a cluster of one node.

A drain makes the node ineligible and moves its allocations off it: each service group's first
Migrate.MaxParallel at once, every other allocation at the drain's deadline (at once for a
negative one, never for none: batch allocations then finish on their own).  Nowhere else to go,
the replacements wait in a blocked evaluation.  Since no replacement ever becomes healthy, no
second batch of a group is migrated before the deadline.  Once no allocation is left running, the
drain is complete: its strategy goes, the node stays ineligible until it is marked eligible."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from . import structs
from .structs.alloc import TERMINAL_CLIENT

if TYPE_CHECKING:
    from .node import Node
    from .scheduler import Scheduler
    from .state.store import Store

DRAIN_SET = "Node drain strategy set"  # nomad/node_endpoint.go NodeDrainEventDrainSet
DRAIN_UPDATED = "Node drain strategy updated"
DRAIN_DISABLED = "Node drain disabled"
DRAIN_COMPLETE = "Node drain complete"  # nomad/drainer/drainer.go NodeDrainEventComplete
ELIGIBLE = "Node marked as eligible for scheduling"  # NodeEligibilityEventEligible
INELIGIBLE = "Node marked as ineligible for scheduling"


class Drainer:
    def __init__(self, store: Store, node: Node, scheduler: Scheduler):
        self.store = store
        self.node = node
        self.scheduler = scheduler
        self._deadline: asyncio.TimerHandle | None = None
        scheduler.on_alloc_terminal.append(lambda alloc: self._check_complete())

    def _write(self, event_type: str, message: str | None, subsystem: str, details: dict | None = None) -> int:
        with self.store.txn(event_type) as tx:
            if message:
                self.node.add_event(tx.index, message, subsystem, details)
            self.node.modify_index = tx.index
            tx.put_node(self.node.as_dict(tx.index), self.node.persisted())
        return self.store.index

    def update_drain(self, spec: dict | None, mark_eligible: bool, meta: dict | None) -> dict:
        """Node.UpdateDrain; returns structs.NodeDrainUpdateResponse."""
        node = self.node
        now = structs.now_ns()
        previous = node.drain_strategy
        strategy = None
        if spec is not None:
            deadline = spec.get("Deadline") or 0
            started = previous["StartedAt"] if previous else structs.rfc3339nano(now)
            force = structs.rfc3339nano(now + deadline) if deadline > 0 else structs.ZERO_TIME
            strategy = {
                "Deadline": deadline,
                "IgnoreSystemJobs": bool(spec.get("IgnoreSystemJobs")),
                "ForceDeadline": force,
                "StartedAt": started,
            }
        message = DRAIN_SET if strategy and not previous else DRAIN_UPDATED if strategy else None
        if previous and not strategy:
            message = DRAIN_DISABLED
        was_ineligible = node.eligibility == "ineligible"
        node.status_updated_at = now // structs.SECOND
        node.drain_strategy = strategy
        if strategy is not None:
            node.eligibility = "ineligible"
        elif mark_eligible:
            node.eligibility = "eligible"
        self._track_last_drain(previous, strategy, meta, now, completed=False)
        index = self._write("NodeDrain", message, "Drain")
        reply: dict[str, Any] = {"NodeModifyIndex": index, "EvalIDs": None, "EvalCreateIndex": 0, "Index": index}
        if was_ineligible and mark_eligible and strategy is None:
            reply["EvalIDs"], reply["EvalCreateIndex"] = self.scheduler.node_evaluations(index)
        self._arm(strategy)
        if strategy is not None:
            # The leader's drainer watches the node and acts on its own, after the write.
            asyncio.get_running_loop().call_soon(self._drain, strategy)
        return reply

    def _drain(self, strategy: dict) -> None:
        if self.node.drain_strategy is strategy:
            self._migrate(force=strategy["Deadline"] < 0)

    def _track_last_drain(self, previous, strategy, meta, now, completed: bool) -> None:
        """updateNodeDrainImpl's LastDrain (DrainMetadata), whole seconds."""
        if previous is None and strategy is None:
            return
        stamp = structs.rfc3339nano(now // structs.SECOND * structs.SECOND)
        node = self.node
        last = node.last_drain
        if previous is None or last is None:
            last = {"StartedAt": stamp, "UpdatedAt": stamp, "Status": "", "AccessorID": "", "Meta": meta}
            node.last_drain = last
        last["UpdatedAt"] = stamp
        if meta:
            last["Meta"] = meta
        last["Status"] = "draining" if strategy is not None else "complete" if completed else "canceled"

    def update_eligibility(self, eligibility: str) -> dict:
        """Node.UpdateEligibility; returns structs.NodeEligibilityUpdateResponse."""
        node = self.node
        reply: dict[str, Any] = {"NodeModifyIndex": 0, "EvalIDs": None, "EvalCreateIndex": 0, "Index": 0}
        if node.drain_strategy is not None and eligibility == "eligible":
            raise ValueError("can not set node's scheduling eligibility to eligible while it is draining")
        if node.eligibility == eligibility:
            return reply  # nothing to do: nothing written
        was_ineligible = node.eligibility == "ineligible"
        node.eligibility = eligibility
        node.status_updated_at = structs.now_ns() // structs.SECOND
        index = self._write("NodeEligibility", ELIGIBLE if eligibility == "eligible" else INELIGIBLE, "Cluster")
        reply.update(NodeModifyIndex=index, Index=index)
        if was_ineligible:
            reply["EvalIDs"], reply["EvalCreateIndex"] = self.scheduler.node_evaluations(index)
        return reply

    def _live(self) -> list[dict]:
        """What the drain moves off the node and waits for: allocations still running or about to
        (client status not terminal), but those of system jobs, which have nowhere else to go."""
        return [
            a
            for a in self.store.allocs()
            if a["ClientStatus"] not in TERMINAL_CLIENT and a["Job"]["Type"] not in ("system", "sysbatch")
        ]

    def _migrate(self, force: bool) -> None:
        picked = []
        per_group: dict[tuple, int] = {}
        for alloc in self._live():
            if structs.alloc_terminal(alloc) or alloc["DesiredTransition"]["Migrate"]:
                continue  # on its way off already
            if force:
                picked.append(alloc)
                continue
            if alloc["Job"]["Type"] != "service":
                continue  # batch allocations wait for the deadline
            group = next(g for g in alloc["Job"]["TaskGroups"] if g["Name"] == alloc["TaskGroup"])
            key = (alloc["Namespace"], alloc["JobID"], alloc["TaskGroup"])
            allowed = (group["Migrate"] or {}).get("MaxParallel") or 1
            if per_group.get(key, 0) < allowed:
                per_group[key] = per_group.get(key, 0) + 1
                picked.append(alloc)
        if picked:
            self.scheduler.migrate(picked, "node-drain", {})
        self._check_complete()

    def _arm(self, strategy: dict | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if strategy is not None and strategy["Deadline"] > 0:
            self._deadline = asyncio.get_running_loop().call_later(
                strategy["Deadline"] / structs.SECOND, self._deadlined
            )

    def _deadlined(self) -> None:
        self._deadline = None
        if self.node.drain_strategy is not None:
            self._migrate(force=True)

    def _check_complete(self) -> None:
        """NodesDrainComplete once nothing the drain moves is left running on the node."""
        node = self.node
        if node.drain_strategy is None or self._live():
            return
        previous = node.drain_strategy
        node.drain_strategy = None
        self._track_last_drain(previous, None, None, structs.now_ns(), completed=True)
        self._arm(None)
        self._write("NodeDrain", DRAIN_COMPLETE, "Drain")
