"""/v1/validate/job against command/agent/job_endpoint.go ValidateJobRequest and
nomad/job_endpoint.go Job.Validate: structs.JobValidateResponse's fields (no omitempty), the
validators' errors in the reply with a 200, a missing job a 400, a method other than PUT/POST 405."""

from batch_jobs import batch_job

JOB_VALIDATE_RESPONSE = {"DriverConfigValidated", "ValidationErrors", "Error", "Warnings"}


def test_validate_answers_the_validators_errors(agent):
    resp = agent.http.post("/v1/validate/job", json={"Job": batch_job("valid", "true")})
    assert resp.status_code == 200
    assert resp.json() == {"DriverConfigValidated": True, "ValidationErrors": None, "Error": "", "Warnings": ""}
    assert agent.http.get("/v1/job/valid").status_code == 404  # nothing registered
    bad = batch_job("", "true")
    bad["Priority"] = 1000
    body = agent.http.put("/v1/validate/job", json={"Job": bad}).json()
    assert set(body) == JOB_VALIDATE_RESPONSE and body["DriverConfigValidated"] is True
    assert "Missing job ID" in body["ValidationErrors"]
    assert "job priority must be between [1, 100]" in body["ValidationErrors"]
    assert body["Error"].startswith(f"{len(body['ValidationErrors'])} errors occurred:\n\t* ")
    resp = agent.http.post("/v1/validate/job", json={})
    assert (resp.status_code, resp.text) == (400, "Job must be specified")
    assert agent.http.get("/v1/validate/job").status_code == 405
