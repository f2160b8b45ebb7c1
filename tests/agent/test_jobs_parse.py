"""/v1/jobs/parse against command/agent/job_endpoint.go JobsParseRequest (jobspec2.ParseWithConfig,
then api.Job.Canonicalize when asked): tapit's own jobs/*.hcl parsed by the agent equal, field by
field, the JSON tapit submits for them, and register; the answer's keys are api.Job's (api/jobs.go
type Job: no json tags, so every field is encoded, nil pointers as null); errors are 400s worded as
the handler words them."""

from pathlib import Path

import httpx

import pytest

from tapit.config import FALLBACK_MHZ_PER_VCPU, AppConfig
from tapit.params import build_spec
from tapit.translate.jobspec import build_job

JOBS = Path(__file__).parents[2] / "jobs"
CREATED = "2026-11-28T12:00:00.000Z"
# api/jobs.go type Job, in its order.
API_JOB_FIELDS = (
    "Region Namespace ID Name Type Priority AllAtOnce Datacenters NodePool Constraints Affinities TaskGroups Update "
    "Multiregion Spreads Periodic ParameterizedJob Reschedule Migrate Meta UI Stop ParentID Dispatched "
    "DispatchIdempotencyToken Payload ConsulNamespace VaultNamespace NomadTokenID Status StatusDescription Stable "
    "Version SubmitTime CreateIndex ModifyIndex JobModifyIndex VersionTag"
).split()


def hcl_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sent_and_variables():
    config = AppConfig(image_repository="registry.example.com/app")
    spec = build_spec("rake db:migrate && echo 'done \"now\"'", {"memory": "2", "cpu": "1.5"}, config, "alice@laptop")
    # The job `tapit run` registers for this task on a cluster (driver docker).
    task_args = {"task_id": "1a2b3c4d", "driver": "docker", "namespace": "default", "created_at": CREATED}
    sent = build_job(spec=spec, config=config, **task_args)
    task = sent["TaskGroups"][0]["Tasks"][0]
    variables = {
        "task_id": "1a2b3c4d",
        "command": spec.command,
        "image": task["Config"]["image"],
        "initiated_by": "alice@laptop",
        "created_at": CREATED,
        "tapit_version": sent["Meta"]["tapit_version"],
        "memory_mb": round(spec.memory_gb * 1024),
        "cpu_mhz": round(spec.cpu * FALLBACK_MHZ_PER_VCPU),
        "disk_mb": round(spec.ephemeral_storage_gb * 1024),
        "log_file_size_mb": task["LogConfig"]["MaxFileSizeMB"],
        "kill_timeout": f"{task['KillTimeout'] // 10**9}s",
    }
    text = "\n".join(f"{k} = {hcl_string(v) if isinstance(v, str) else v}" for k, v in variables.items())
    return sent, text


def assert_sent_fields_equal(sent, parsed, where="Job"):
    """Every field tapit sends is in the parsed job with the same value; the rest are unset."""
    for key, value in sent.items():
        if isinstance(value, dict) and key not in ("Meta", "Config", "Env"):
            assert_sent_fields_equal(value, parsed[key], f"{where}.{key}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert len(parsed[key]) == len(value), f"{where}.{key}"
            for i, (s, p) in enumerate(zip(value, parsed[key])):
                assert_sent_fields_equal(s, p, f"{where}.{key}[{i}]")
        else:
            assert parsed[key] == value, f"{where}.{key}"


def test_tapit_task_hcl_parses_to_the_json_tapit_sends_and_registers(agent):
    sent, variables = sent_and_variables()
    hcl = (JOBS / "tapit-task.nomad.hcl").read_text()
    resp = agent.http.post("/v1/jobs/parse", json={"JobHCL": hcl, "Variables": variables})
    assert resp.status_code == 200, resp.text
    parsed = resp.json()
    assert list(parsed) == API_JOB_FIELDS
    assert_sent_fields_equal(sent, parsed)
    group = parsed["TaskGroups"][0]
    assert group["Update"] is None and parsed["Priority"] == 50 and group["Tasks"][0]["Vault"] is None
    canonical = agent.http.put("/v1/jobs/parse", json={"JobHCL": hcl, "Variables": variables, "Canonicalize": True})
    assert canonical.status_code == 200, canonical.text
    canonical = canonical.json()
    assert canonical["Region"] == "global" and canonical["NodePool"] == "default"
    assert (
        canonical["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"]
        == sent["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"]
    )
    assert_sent_fields_equal(sent, canonical)
    # It registers as the JSON tapit sends does, to the same job.
    registered = agent.http.put("/v1/jobs", json={"Job": parsed})
    assert registered.status_code == 200, registered.text
    stored = agent.http.get(f"/v1/job/{sent['ID']}").json()
    try:
        assert_sent_fields_equal(sent, stored)
    finally:
        agent.http.delete(f"/v1/job/{sent['ID']}", params={"purge": "true"})


def test_archivist_hcl_parses_with_its_template_and_identity(agent):
    hcl = (JOBS / "tapit-archivist.nomad.hcl").read_text()
    variables = 'image = "registry.example.com/tapit:0.1.0"\nlog_store = "file:///shared/logs"\n'
    resp = agent.http.post("/v1/jobs/parse", json={"JobHCL": hcl, "Variables": variables})
    assert resp.status_code == 200, resp.text
    job = resp.json()
    assert (job["ID"], job["Name"], job["Type"], job["Datacenters"]) == ("tapit-archivist",) * 2 + ("service", ["*"])
    task = job["TaskGroups"][0]["Tasks"][0]
    # A runtime interpolation stays as text (jobspec2 types.config.go EvalContext UndefinedVariable).
    assert task["Env"] == {
        "NOMAD_ADDR": "unix://${NOMAD_SECRETS_DIR}/api.sock",
        "TAPIT_LOG_STORE": "file:///shared/logs",
    }
    (template,) = task["Templates"]
    assert template["DestPath"] == "${NOMAD_SECRETS_DIR}/cloud.env" and template["Envvars"] is True
    assert template["EmbeddedTmpl"].startswith('{{- with nomadVar "nomad/jobs/tapit-archivist" -}}\n')
    # parse_job.go normalizeJob: the unnamed identity is the task's default one.
    assert task["Identity"] == {"Env": True} and task["Identities"] == []
    assert task["KillTimeout"] == 20 * 10**9 and job["TaskGroups"][0]["RestartPolicy"]["Mode"] == "delay"
    registered = agent.http.put("/v1/jobs", json={"Job": job})
    assert registered.status_code == 200, registered.text
    agent.http.delete("/v1/job/tapit-archivist", params={"purge": "true"})


AFFINITY_AND_SPREAD = """
job "placed" {
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = -30
  }
  spread {
    attribute = "${node.datacenter}"
    target "dc1" {
      percent = 70
    }
    target "dc2" {
      percent = 30
    }
  }
  group "g" {
    affinity {
      attribute = "${meta.rack}"
      operator  = "set_contains_any"
      value     = "r1,r2"
    }
    spread {
      attribute = "${meta.rack}"
      weight    = 20
    }
    task "t" {
      driver = "raw_exec"
      affinity {
        attribute = "${attr.kernel.name}"
        value     = "linux"
      }
    }
  }
}
"""


def test_affinities_and_spreads_parse_to_their_api_structs_weighted_50_when_canonicalized(agent):
    """api/tasks.go Affinity (hcl attribute/value/operator/weight) and Spread (attribute, weight,
    target blocks labelled by their Value) on the job, its groups and (affinities) its tasks;
    Affinity.Canonicalize and Spread.Canonicalize give a missing weight 50."""
    resp = agent.http.post("/v1/jobs/parse", json={"JobHCL": AFFINITY_AND_SPREAD})
    assert resp.status_code == 200, resp.text
    job = resp.json()
    group, task = job["TaskGroups"][0], job["TaskGroups"][0]["Tasks"][0]
    assert job["Affinities"] == [{"LTarget": "${node.datacenter}", "RTarget": "dc1", "Operand": "", "Weight": -30}]
    targets = [{"Value": "dc1", "Percent": 70}, {"Value": "dc2", "Percent": 30}]
    assert job["Spreads"] == [{"Attribute": "${node.datacenter}", "Weight": None, "SpreadTarget": targets}]
    assert group["Affinities"][0]["Operand"] == "set_contains_any" and group["Affinities"][0]["Weight"] is None
    assert group["Spreads"] == [{"Attribute": "${meta.rack}", "Weight": 20, "SpreadTarget": None}]
    assert task["Affinities"][0]["RTarget"] == "linux"
    # api.Task's fields of a value type, unset: Go's zero values, not null (api/tasks.go Task).
    assert [task[k] for k in ("User", "Leader", "ShutdownDelay", "KillSignal", "Kind")] == ["", False, 0, "", ""]
    assert task["KillTimeout"] is None  # a *time.Duration

    body = {"JobHCL": AFFINITY_AND_SPREAD, "Canonicalize": True}
    canonical = agent.http.post("/v1/jobs/parse", json=body).json()
    group, task = canonical["TaskGroups"][0], canonical["TaskGroups"][0]["Tasks"][0]
    weights = [canonical["Affinities"][0]["Weight"], canonical["Spreads"][0]["Weight"]]
    weights += [group["Affinities"][0]["Weight"], group["Spreads"][0]["Weight"], task["Affinities"][0]["Weight"]]
    assert weights == [-30, 50, 50, 20, 50]


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "Job spec is empty"),
        (
            {"JobHCL": 'job "x" {\n  vault {\n    role = "a"\n  }\n}\n'},
            'Failed to parse job: input.hcl: Unsupported block type; The agent does not parse "vault" blocks (job).',
        ),
        (
            {"JobHCL": 'job "x" {\n  name = @\n}\n'},
            "Failed to parse job: input.hcl:2,10-11: Invalid HCL; Unexpected token",
        ),
        (
            {"JobHCL": 'job "x" {\n}\n', "Variables": "v = @\n"},
            "Failed to parse job: unable to parse var content: input.hcl:1,5-6: Invalid HCL; Unexpected token",
        ),
        (
            {"JobHCL": 'job "x" {\n  bogus {\n  }\n}\n'},
            'Failed to parse job: input.hcl: Unsupported block type; Blocks of type "bogus" are not expected here.',
        ),
        (
            {"JobHCL": 'job "x" {\n  bogus = 1\n}\n'},
            'Failed to parse job: input.hcl: Unsupported argument; An argument named "bogus" is not expected here.',
        ),
        (
            {"JobHCL": 'variable "v" {\n  type = string\n}\njob "x" {\n  name = var.v\n}\n'},
            'Failed to parse job: input.hcl: Unset variable "v"; A used variable must be set or have a default value',
        ),
    ],
)
def test_errors_are_400s_in_nomads_words(agent, body, text):
    resp = agent.http.post("/v1/jobs/parse", json=body)
    assert resp.status_code == 400 and resp.text.startswith(text), resp.text


def test_parse_only_answers_writes(agent):
    assert agent.http.get("/v1/jobs/parse").status_code == 405


def test_parse_needs_parse_job_or_submit_job_in_the_querys_namespace(agent):
    rules = 'namespace "default" { capabilities = ["parse-job"] }'
    assert agent.http.put("/v1/acl/policy/parser", json={"Name": "parser", "Rules": rules}).status_code == 200
    token = agent.http.post("/v1/acl/token", json={"Name": "parser", "Type": "client", "Policies": ["parser"]}).json()
    parser = httpx.Client(base_url=agent.address, headers={"X-Nomad-Token": token["SecretID"]}, timeout=15)
    body = {"JobHCL": 'job "x" {\n  type = "batch"\n}\n'}
    with parser:
        allowed = parser.post("/v1/jobs/parse", json=body)
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["ID"] == "x"
        # parseNamespace reads the query, not the body: another namespace is refused.
        denied = parser.post("/v1/jobs/parse", params={"namespace": "other"}, json=body)
        assert (denied.status_code, denied.text) == (403, "Permission denied")
