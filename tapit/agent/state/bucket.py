"""One job key's part of the state: the job, its versions, allocations, evaluations and summary
counters, kept together so that each is persisted as one small file of its own (store.py)."""

from __future__ import annotations

import hashlib
import json


class Bucket:
    """Everything stored under one job key; survives a purge of the job itself."""

    def __init__(self, namespace: str, job_id: str):
        self.namespace = namespace
        self.job_id = job_id
        self.job: dict | None = None
        # The job's earlier versions, newest first (the state store's job_version table holds
        # them with the current one).
        self.versions: list[dict] = []
        self.scaling_events: dict[str, list[dict]] = {}  # by group, newest first
        # The scaling_policy table's rows of the job (state_store.go updateJobScalingPolicies).
        self.scaling_policies: list[dict] = []
        self.queued: dict[str, int] = {}
        self.summary_index = 0
        self.allocs: dict[str, dict] = {}
        self.evals: dict[str, dict] = {}

    @property
    def current_job(self) -> dict:
        """The job, for what only a bucket that holds one is asked (its status, its summary)."""
        if self.job is None:
            raise LookupError(f"no job {self.job_id!r} in namespace {self.namespace!r}")
        return self.job

    def file_name(self) -> str:
        return hashlib.sha1(f"{self.namespace}\0{self.job_id}".encode()).hexdigest() + ".json"

    def to_json(self) -> bytes:
        # An allocation carries the job it was placed from; the allocations of one evaluation
        # share that job, and so does the file: each job is written once and referred to by place.
        jobs: list[dict] = []
        places: dict[int, int] = {}
        allocs = []
        for alloc in self.allocs.values():
            place = places.setdefault(id(alloc["Job"]), len(jobs))
            if place == len(jobs):
                jobs.append(alloc["Job"])
            allocs.append({**alloc, "Job": place})
        return json.dumps(
            {
                "Namespace": self.namespace,
                "JobID": self.job_id,
                "Job": self.job,
                "Versions": self.versions,
                "ScalingEvents": self.scaling_events,
                "ScalingPolicies": self.scaling_policies,
                "Queued": self.queued,
                "SummaryIndex": self.summary_index,
                "AllocJobs": jobs,
                "Allocs": allocs,
                "Evals": list(self.evals.values()),
            }
        ).encode()

    @classmethod
    def from_json(cls, data: dict) -> Bucket:
        bucket = cls(data["Namespace"], data["JobID"])
        bucket.job = data["Job"]
        bucket.versions = data.get("Versions", [])
        bucket.scaling_events = data.get("ScalingEvents", {})
        bucket.scaling_policies = data.get("ScalingPolicies", [])
        bucket.queued = data["Queued"]
        bucket.summary_index = data["SummaryIndex"]
        jobs = data.get("AllocJobs", [])
        for alloc in data["Allocs"]:
            if isinstance(alloc["Job"], int):
                alloc["Job"] = jobs[alloc["Job"]]
            bucket.allocs[alloc["ID"]] = alloc
        bucket.evals = {e["ID"]: e for e in data["Evals"]}
        return bucket
