"""The agent's state store: jobs, allocations, evaluations, variables, raft-like indexes,
blocking waits, and crash-safe persistence.

State is persisted per job key (namespace + job ID) in its own small file, so a change to one
task rewrites a few kilobytes rather than the whole store; every file is written to a temporary
name and os.replace()d, so a SIGKILL never leaves a torn file behind.  Variables are kept in a
database of their own (state/variables.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from tapit.paths import private_dir, write_private

from .. import structs
from ..structs import namespace as namespace_structs
from ..structs import scaling
from . import event_broker
from .bucket import Bucket
from .variables import VariableTable

log = logging.getLogger("tapit.agent")
# A job's file stays small (the node's room bounds its allocations, each job is written once);
# one far larger was not written by this agent and would only hold up its start.
MAX_STATE_FILE_BYTES = 64 * 1024 * 1024
TABLES = (
    "jobs",
    "allocs",
    "evals",
    "job_summary",
    "nodes",
    "namespaces",
    "scaling_event",
    "scaling_policy",
    "variables",
)
JOB_TRACKED_VERSIONS = 6  # structs.JobDefaultTrackedVersions
JOB_TRACKED_SCALING_EVENTS = 20  # structs.JobTrackedScalingEvents
TERMINAL_EVAL = ("complete", "failed", "canceled")
SUMMARY_FIELD = {
    "pending": "Starting",
    "running": "Running",
    "complete": "Complete",
    "failed": "Failed",
    "lost": "Lost",
    "unknown": "Unknown",
}


def _objects(bucket: Bucket):
    yield from bucket.allocs.values()
    yield from bucket.evals.values()
    if bucket.job is not None:
        yield bucket.job


class Txn:
    def __init__(self, store: Store, event_type: str):
        self.store = store
        self.event_type = event_type
        self.index = store.index + 1
        self.events: list[dict] = []
        self.tables: set[str] = set()
        self.buckets: set[Bucket] = set()

    def _touch(self, bucket: Bucket, table: str) -> None:
        self.buckets.add(bucket)
        self.tables.add(table)

    def put_job(self, job: dict) -> None:
        """upsertJobImpl: a new version of the job keeps the one it replaces in its history
        (upsertJobVersion), which holds JOB_TRACKED_VERSIONS with the current one; when it is
        full the oldest goes, unless it is the newest stable version (then the one before it)."""
        bucket = self.store.bucket_for(job["Namespace"], job["ID"])
        job["ModifyIndex"] = self.index
        previous = bucket.job
        if previous is not None and previous is not job and previous["Version"] != job["Version"]:
            history = [previous, *bucket.versions]
            if len(history) >= JOB_TRACKED_VERSIONS:
                limit = JOB_TRACKED_VERSIONS - 1
                stable = next((i for i, v in enumerate(history) if v["Stable"]), -1)
                if stable == limit and not job["Stable"]:
                    history[limit - 1], history[limit] = history[limit], history[limit - 1]
                del history[limit]
            bucket.versions = history
        bucket.job = job
        self._touch(bucket, "jobs")
        bucket.scaling_policies, changed = scaling.upsert(bucket.scaling_policies, job, self.index)
        if changed:
            self.tables.add("scaling_policy")
        self.events.append(event_broker.job_event(job))

    def delete_job(self, bucket: Bucket) -> None:
        """DeleteJobTxn: the job, its versions, its scaling events and policies."""
        job = bucket.current_job
        bucket.job = None
        bucket.versions = []
        bucket.scaling_events = {}
        self._touch(bucket, "jobs")
        if bucket.scaling_policies:  # deleteJobScalingPolicies
            bucket.scaling_policies = []
            self.tables.add("scaling_policy")
        self.tables.add("job_summary")
        self.events.append(event_broker.job_event(job, deleted=True))

    def put_alloc(self, alloc: dict) -> None:
        self._put_job_child(alloc, "allocs", self.store.alloc_bucket)
        self.tables.add("job_summary")
        self.events.append(event_broker.alloc_event(alloc))

    def put_eval(self, ev: dict) -> None:
        self._put_job_child(ev, "evals", self.store.eval_bucket)
        self.events.append(event_broker.eval_event(ev))

    def _put_job_child(self, obj: dict, table: str, by_id: dict) -> None:
        """Allocations and evaluations live in their job's bucket, indexed by ID too."""
        bucket = self.store.bucket_for(obj["Namespace"], obj["JobID"])
        obj["ModifyIndex"] = self.index
        obj["ModifyTime"] = structs.now_ns()
        getattr(bucket, table)[obj["ID"]] = obj
        by_id[obj["ID"]] = bucket
        self._touch(bucket, table)

    def add_scaling_event(self, job: dict, group: str, event: dict) -> None:
        """upsertScalingEventImpl: newest first, at most JOB_TRACKED_SCALING_EVENTS per group."""
        bucket = self.store.bucket_for(job["Namespace"], job["ID"])
        event["CreateIndex"] = self.index
        events = [event, *bucket.scaling_events.get(group, [])]
        bucket.scaling_events[group] = events[:JOB_TRACKED_SCALING_EVENTS]
        self._touch(bucket, "scaling_event")

    def put_namespace(self, namespace: dict) -> None:
        """upsertNamespaceImpl: a namespace keeps its CreateIndex across updates."""
        existing = self.store.namespaces.get(namespace["Name"])
        namespace["CreateIndex"] = existing["CreateIndex"] if existing else self.index
        namespace["ModifyIndex"] = self.index
        self.store.namespaces[namespace["Name"]] = namespace
        self.tables.add("namespaces")

    def delete_namespace(self, name: str) -> None:
        del self.store.namespaces[name]
        self.tables.add("namespaces")

    def put_node(self, node: dict, persisted: dict) -> None:
        """The node written as the state store's nodes table holds it (`node` as the API shows
        it, for its event), with what must outlive the agent (`persisted`)."""
        self.store.meta["Node"] = persisted
        self.tables.add("nodes")
        self.events.append(event_broker.node_event(node))

    def put_variable(self, meta: dict, items: dict | None) -> None:
        """Written to the variables' database now, before the write is answered."""
        self.store.variables.put(meta, items, self.index)
        self.tables.add("variables")
        self.events.append(event_broker.variable_event(meta))

    def delete_variable(self, meta: dict) -> None:
        self.store.variables.delete(meta, self.index)
        self.tables.add("variables")
        self.events.append(event_broker.variable_event(meta, deleted=True))

    def set_queued(self, bucket: Bucket, queued: dict[str, int]) -> None:
        bucket.queued = queued
        self._touch(bucket, "job_summary")

    def forget(self, bucket: Bucket) -> None:
        """The GC of a purged job's evaluations and allocations: gone from the store and its file."""
        store = self.store
        del store.buckets[(bucket.namespace, bucket.job_id)]
        for alloc_id in bucket.allocs:
            store.alloc_bucket.pop(alloc_id, None)
        for eval_id in bucket.evals:
            store.eval_bucket.pop(eval_id, None)
        # Still answered for a while, from memory only (see Store.collected): nothing of the job
        # is on disk any more, yet right after a purge Nomad's server, whose GC comes later,
        # still has them, and a client may read them (`nomad job stop -purge` watches its eval).
        store.collected.update(bucket.allocs)
        store.collected.update(bucket.evals)
        self.tables |= {"allocs", "evals", "job_summary"}
        store._forgotten.add(bucket)


class Store:
    def __init__(self, root: Path):
        self.root = private_dir(root / "state")
        self.index = 0
        self.table_index = dict.fromkeys(TABLES, 0)
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.alloc_bucket: dict[str, Bucket] = {}
        self.eval_bucket: dict[str, Bucket] = {}
        self.broker = event_broker.EventBroker()
        self.meta: dict = {}
        self._dirty: set[Bucket] = set()
        self._forgotten: set[Bucket] = set()
        self.collected: dict[str, dict] = {}  # allocations and evaluations of purged jobs, by ID
        self.namespaces: dict[str, dict] = {}
        self._flush_scheduled = False
        self._changed = asyncio.Event()
        self.skipped: list[str] = []  # state files that could not be loaded
        self.variables = VariableTable(self.root / "variables.db")
        self.skipped += self.variables.skipped
        self._load()
        if not self.namespaces:  # namespaceInit: the default namespace, at index 1
            self.namespaces[namespace_structs.DEFAULT] = namespace_structs.default_namespace()
            self.index = max(self.index, 1)
            self.table_index["namespaces"] = self.table_index["namespaces"] or 1

    # --- persistence -------------------------------------------------------------------

    def _load(self) -> None:
        """Read every job's file; one that cannot be read (torn by a full disk, written by a
        release that knew other fields, far too large) is set aside under another name and said
        in the log, and the agent starts without it rather than not at all."""
        for path in sorted(self.root.glob("*.json")):
            if path.name == "meta.json":
                continue
            try:
                if path.stat().st_size > MAX_STATE_FILE_BYTES:
                    raise ValueError(f"{path.stat().st_size} bytes, more than {MAX_STATE_FILE_BYTES}")
                bucket = Bucket.from_json(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                self._set_aside(path, exc)
                continue
            self.buckets[(bucket.namespace, bucket.job_id)] = bucket
            self.alloc_bucket.update(dict.fromkeys(bucket.allocs, bucket))
            self.eval_bucket.update(dict.fromkeys(bucket.evals, bucket))
        meta_path = self.root / "meta.json"
        try:
            if meta_path.exists():
                meta = json.loads(meta_path.read_text())
                self.index = meta.pop("Index")
                self.table_index.update(meta.pop("TableIndex"))
                self.namespaces = meta.pop("Namespaces", {})
                self.meta = meta
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self._set_aside(meta_path, exc)
        # Indexes never go back, even when the file that kept them was lost.
        # The variables' table index is kept with them, never behind their ModifyIndexes.
        self.index = max(
            [
                self.index,
                self.variables.table_index,
                *(o["ModifyIndex"] for b in self.buckets.values() for o in _objects(b)),
            ]
        )
        self.table_index["variables"] = max(self.table_index["variables"], self.variables.table_index)
        for table in TABLES:
            self.table_index[table] = min(self.table_index[table], self.index) or self.index

    def _set_aside(self, path: Path, exc: Exception) -> None:
        aside = path.with_name(f"{path.name}.unloadable")
        log.warning("skipped %s, which could not be loaded (%s); kept as %s", path, exc, aside.name)
        self.skipped.append(str(path))
        try:
            os.replace(path, aside)
        except OSError:
            log.warning("could not set %s aside", path)

    def flush(self) -> None:
        """Write every changed bucket, then the indexes; called synchronously before a task is
        spawned so that a task process never exists without a persisted record of it."""
        self._flush_scheduled = False
        for bucket in self._forgotten:  # first: a job registered again since has the same file name
            (self.root / bucket.file_name()).unlink(missing_ok=True)
        for bucket in self._dirty - self._forgotten:
            write_private(self.root / bucket.file_name(), bucket.to_json())
        self._dirty.clear()
        self._forgotten.clear()
        meta = {**self.meta, "Index": self.index, "TableIndex": self.table_index, "Namespaces": self.namespaces}
        write_private(self.root / "meta.json", json.dumps(meta).encode())

    def set_meta(self, key: str, value) -> None:
        self.meta[key] = value
        self.flush()

    # --- writes --------------------------------------------------------------------------

    @contextmanager
    def txn(self, event_type: str):
        """One raft-like write: one index for every object it touches, one event batch."""
        tx = Txn(self, event_type)
        yield tx
        self.index = tx.index
        for bucket in tx.buckets:
            if bucket.job is not None:
                self._set_job_status(tx, bucket)
            if "job_summary" in tx.tables:
                bucket.summary_index = tx.index
        for table in tx.tables:
            self.table_index[table] = tx.index
        if tx.events:
            self.broker.publish(tx.index, tx.event_type, tx.events)
        self._dirty |= tx.buckets
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)
        self._changed.set()
        self._changed = asyncio.Event()

    def _set_job_status(self, tx: Txn, bucket: Bucket) -> None:
        """The state store's setJobStatus: a status change is a write of the job in the same
        transaction (new ModifyIndex, jobs table index) and so, like any job write, a Job event
        of the transaction's type (eventsFromChanges)."""
        job = bucket.current_job
        status = self.job_status(bucket)
        if status == job["Status"]:
            return
        job["Status"] = status
        job["ModifyIndex"] = tx.index
        tx.tables.add("jobs")
        if not any(e["Topic"] == "Job" and e["Payload"].get("Job") is job for e in tx.events):
            tx.events.append(event_broker.job_event(job))

    # --- reads ---------------------------------------------------------------------------

    def bucket(self, namespace: str, job_id: str) -> Bucket | None:
        return self.buckets.get((namespace, job_id))

    def bucket_for(self, namespace: str, job_id: str) -> Bucket:
        """The job key's bucket, made empty if there is none yet (a first write under the key)."""
        key = (namespace, job_id)
        if key not in self.buckets:
            self.buckets[key] = Bucket(namespace, job_id)
        return self.buckets[key]

    def job(self, namespace: str, job_id: str) -> dict | None:
        bucket = self.buckets.get((namespace, job_id))
        return bucket.job if bucket else None

    def jobs(self):
        return (b.job for b in self.buckets.values() if b.job is not None)

    def scaling_policies(self):
        """The scaling_policy table, in its target index's order (namespace, job, group, task)."""
        for key in sorted(self.buckets):
            yield from self.buckets[key].scaling_policies

    def alloc(self, alloc_id: str) -> dict | None:
        bucket = self.alloc_bucket.get(alloc_id)
        return bucket.allocs[alloc_id] if bucket else self.collected.get(alloc_id)

    def allocs(self):
        return (a for b in self.buckets.values() for a in b.allocs.values())

    def eval(self, eval_id: str) -> dict | None:
        bucket = self.eval_bucket.get(eval_id)
        return bucket.evals[eval_id] if bucket else self.collected.get(eval_id)

    def evals(self):
        return (e for b in self.buckets.values() for e in b.evals.values())

    def job_status(self, bucket: Bucket) -> str:
        """The state store's getJobStatus."""
        job = bucket.current_job
        if job["Type"] == "system" or structs.launches_children(job):
            # Running until explicitly stopped.
            return "dead" if job["Stop"] else "running"
        allocs = self.current_allocs(bucket)
        if any(not structs.alloc_terminal(a) for a in allocs):
            return "running"
        evals = [e for e in bucket.evals.values() if e["JobModifyIndex"] >= job["CreateIndex"]]
        if any(e["Status"] not in TERMINAL_EVAL for e in evals):
            return "pending"
        if evals or allocs or job["Stop"]:
            return "dead"
        return "pending"

    @staticmethod
    def current_allocs(bucket: Bucket) -> list[dict]:
        """Allocations of the job as it exists now, not of an earlier job with the same ID."""
        job = bucket.current_job
        return [a for a in bucket.allocs.values() if a["Job"]["CreateIndex"] == job["CreateIndex"]]

    def summary(self, bucket: Bucket) -> dict:
        """structs.JobSummary, counted from the job's current allocations."""
        job = bucket.current_job
        groups = {g["Name"]: structs.group_summary() for g in job["TaskGroups"]}
        for alloc in self.current_allocs(bucket):
            if alloc["TaskGroup"] in groups:
                groups[alloc["TaskGroup"]][SUMMARY_FIELD[alloc["ClientStatus"]]] += 1
        for name, queued in bucket.queued.items():
            if name in groups:
                groups[name]["Queued"] = queued
        summary = structs.job_summary(bucket.job_id, bucket.namespace, groups, job["CreateIndex"])
        # JobChildrenSummary: the jobs dispatched or launched from this one (only a parameterized
        # or periodic job has any), by status.
        if structs.launches_children(job):
            for child in self.jobs():
                if child["ParentID"] == bucket.job_id and child["Namespace"] == bucket.namespace:
                    summary["Children"][child["Status"].capitalize()] += 1
        summary["ModifyIndex"] = max(bucket.summary_index, job["CreateIndex"])
        return summary

    # --- blocking queries ----------------------------------------------------------------

    async def wait(self, tables: tuple[str, ...], min_index: int, timeout: float) -> None:
        """Block until one of the tables moves past min_index, or until the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while max(self.table_index[t] for t in tables) <= min_index:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return

    def query_index(self, tables: tuple[str, ...]) -> int:
        # Nomad never reports index 0 (it would make clients spin); it reports 1 instead.
        return max(1, max(self.table_index[t] for t in tables))
