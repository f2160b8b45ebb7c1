"""The HCL job in jobs/ and the JSON tapit registers describe the same job.

The HCL is read with python-hcl2 and its blocks are mapped to Nomad's API
field names the way Nomad's own HCL parser does (jobspec2: `restart` →
RestartPolicy, `logs` → LogConfig, durations → nanoseconds, ...).
"""

import re
from pathlib import Path

import hcl2
import pytest

from tapit.config import FALLBACK_MHZ_PER_VCPU, AppConfig
from tapit.translate.jobspec import build_job
from tapit.params import build_spec

HCL_PATH = Path(__file__).parents[2] / "jobs" / "tapit-task.nomad.hcl"
UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def go_duration(text: str) -> int:
    return sum(int(float(n) * UNITS_NS[u]) for n, u in re.findall(r"([\d.]+)(ns|us|ms|s|m|h)", text))


class HclJob:
    def __init__(self, variables: dict):
        self.vars = variables

    def value(self, raw):
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        if not isinstance(raw, str):
            return raw
        whole = re.fullmatch(r"\$\{var\.(\w+)\}", raw)
        if whole:
            return self.vars[whole.group(1)]
        if raw.startswith('"') and raw.endswith('"'):
            return re.sub(r"\$\{var\.(\w+)\}", lambda m: str(self.vars[m.group(1)]), raw[1:-1])
        return raw

    def block(self, body: dict) -> dict:
        return {k: self.value(v) for k, v in body.items() if not k.startswith("__")}


def labelled(blocks: list) -> tuple[str, dict]:
    ((label, body),) = blocks[0].items()
    return label.strip('"'), body


def hcl_to_api_job(variables: dict) -> dict:
    doc = hcl2.load(HCL_PATH.open())
    defaults = {labelled([v])[0]: labelled([v])[1].get("default") for v in doc["variable"]}
    h = HclJob({**{k: HclJob({}).value(v) for k, v in defaults.items() if v is not None}, **variables})
    _, job = labelled(doc["job"])
    group_name, group = labelled(job["group"])
    task_name, task = labelled(group["task"])
    restart = h.block(group["restart"][0])
    reschedule = h.block(group["reschedule"][0])
    resources = h.block(task["resources"][0])
    logs = h.block(task["logs"][0])
    return {
        "ID": h.value(job["id"]),
        "Name": h.value(job["name"]),
        "Type": h.value(job["type"]),
        "Namespace": h.value(job["namespace"]),
        "Datacenters": h.value(job["datacenters"]),
        "Priority": job["priority"],
        "Meta": h.block(job["meta"][0]),
        "TaskGroups": [
            {
                "Name": group_name,
                "Count": group["count"],
                "RestartPolicy": {
                    "Attempts": restart["attempts"],
                    "Mode": restart["mode"],
                    "Interval": go_duration(restart["interval"]),
                    "Delay": go_duration(restart["delay"]),
                },
                "ReschedulePolicy": {"Attempts": reschedule["attempts"], "Unlimited": reschedule["unlimited"]},
                "EphemeralDisk": {"SizeMB": h.block(group["ephemeral_disk"][0])["size"]},
                "Tasks": [
                    {
                        "Name": task_name,
                        "Driver": h.value(task["driver"]),
                        "Config": h.block(task["config"][0]),
                        "Resources": {"CPU": resources["cpu"], "MemoryMB": resources["memory"]},
                        "KillSignal": h.value(task["kill_signal"]),
                        "KillTimeout": go_duration(h.value(task["kill_timeout"])),
                        "LogConfig": {"MaxFiles": logs["max_files"], "MaxFileSizeMB": logs["max_file_size"]},
                    }
                ],
            }
        ],
    }


@pytest.mark.parametrize("words", [[], ["memory=2", "cpu=1.5", "ephemeral_storage_gb=3", "docker_tag=v7"]])
def test_hcl_job_matches_the_json_tapit_sends(words):
    config = AppConfig(image_repository="registry.example.com/app")
    values = dict(w.split("=", 1) for w in words)
    spec = build_spec("rake db:migrate && echo 'done'", values, config, "alice@laptop")
    sent = build_job(
        task_id="1a2b3c4d",
        spec=spec,
        config=config,
        driver="docker",
        namespace="default",
        created_at="2026-11-28T12:00:00.000Z",
    )
    from_hcl = hcl_to_api_job(
        {
            "task_id": "1a2b3c4d",
            "command": spec.command,
            "image": sent["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
            "initiated_by": "alice@laptop",
            "created_at": "2026-11-28T12:00:00.000Z",
            "memory_mb": round(spec.memory_gb * 1024),
            "cpu_mhz": round(spec.cpu * FALLBACK_MHZ_PER_VCPU),
            "disk_mb": round(spec.ephemeral_storage_gb * 1024),
            "log_file_size_mb": max(10, round(spec.ephemeral_storage_gb * 1024) // 40),
        }
    )
    assert from_hcl == sent


def test_hcl_defaults_are_tapits_defaults():
    config = AppConfig(image_repository="app")
    spec = build_spec("true", {}, config, "x")
    sent = build_job(task_id="00000000", spec=spec, config=config, driver="docker", namespace="default", created_at="")
    from_hcl = hcl_to_api_job({"task_id": "00000000", "command": "true", "image": "app:latest", "initiated_by": "x"})
    assert from_hcl["TaskGroups"][0]["Tasks"][0]["Resources"] == sent["TaskGroups"][0]["Tasks"][0]["Resources"]
    assert from_hcl["TaskGroups"][0]["EphemeralDisk"] == sent["TaskGroups"][0]["EphemeralDisk"]
    assert from_hcl["TaskGroups"][0]["Tasks"][0]["KillTimeout"] == sent["TaskGroups"][0]["Tasks"][0]["KillTimeout"]
