"""The archivist's deployment files read as Nomad reads them (python-hcl2 for the HCL)."""

from pathlib import Path

import hcl2

from tapit.trail import records

JOBS = Path(__file__).parents[2] / "jobs"
# acl/policy.go NamespaceCapability* (the fine-grained job ones since Nomad 2.0).
NAMESPACE_CAPABILITIES = {
    "deny", "list-jobs", "parse-job", "read-job", "submit-job", "dispatch-job", "read-logs", "read-fs",
    "alloc-exec", "alloc-node-exec", "alloc-lifecycle", "csi-mount-volume", "csi-write-volume",
    "csi-register-plugin", "csi-list-volume", "csi-read-volume", "list-scaling-policies",
    "read-scaling-policy", "read-job-scaling", "scale-job", "submit-recommendation", "host-volume-create",
    "host-volume-register", "host-volume-read", "host-volume-write", "host-volume-delete",
    "register-job", "revert-job", "deregister-job", "purge-job", "evaluate-job", "plan-job",
}  # fmt: skip
VARIABLE_CAPABILITIES = {"list", "read", "write", "destroy", "deny"}  # acl/policy.go VariablesCapability*


def load(name: str):
    """The file as plain values: python-hcl2 keeps HCL's quotes and adds bookkeeping keys."""

    def plain(value):
        if isinstance(value, dict):
            return {plain(k): plain(v) for k, v in value.items() if not k.startswith("__")}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        return value

    return plain(hcl2.load((JOBS / name).open()))


def test_the_job_runs_the_archivist_with_its_workload_identity():
    doc = load("tapit-archivist.nomad.hcl")
    job = doc["job"][0]["tapit-archivist"]
    assert job["type"] == "service"
    task = job["group"][0]["archivist"]["task"][0]["archivist"]
    assert task["config"][0]["args"] == ["archivist"]
    assert task["identity"][0]["env"] is True
    assert set(task["env"][0]) == {"NOMAD_ADDR", "TAPIT_LOG_STORE"}


def test_the_policy_grants_what_the_archivist_does_and_nothing_unknown():
    doc = load("tapit-archivist.policy.hcl")
    namespace = doc["namespace"][0]["*"]
    assert set(namespace["capabilities"]) <= NAMESPACE_CAPABILITIES
    assert {"list-jobs", "read-job", "read-logs"} <= set(namespace["capabilities"])
    path = namespace["variables"][0]["path"][0]
    ((spec, rules),) = path.items()
    assert set(rules["capabilities"]) == {"list", "read", "write"} <= VARIABLE_CAPABILITIES
    prefix = spec.removesuffix("*")
    assert records.record_path("1a2b3c4d").startswith(prefix) and records.RECENT_PREFIX.startswith(prefix)


def test_the_image_runs_the_archivist():
    dockerfile = (JOBS.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tapit"]' in dockerfile and 'CMD ["archivist"]' in dockerfile
