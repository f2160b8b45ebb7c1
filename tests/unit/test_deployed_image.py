"""image_from_job: during a deployment the image that runs, not the job's newest version, is inherited."""

from tapit.config import AppConfig
from tapit.nomad.settings import NomadSettings
from tapit.service import Connection, TaskService


def docker_job(image: str) -> dict:
    return {"TaskGroups": [{"Tasks": [{"Driver": "docker", "Config": {"image": image}}]}]}


class DeployingJobs:
    """Version 7 (app:new) is being rolled out; only allocations of version 6 (app:old) run."""

    def allocations(self, job_id):
        return [
            {"ID": "a-old", "ClientStatus": "running", "JobVersion": 6},
            {"ID": "a-new", "ClientStatus": "pending", "JobVersion": 7},
        ]

    def info(self, job_id):
        return docker_job("app:new")


class DeployingAllocations:
    def info(self, alloc_id):
        return {"ID": alloc_id, "Job": docker_job("app:old" if alloc_id == "a-old" else "app:new")}


class DeployingNomad:
    """A NomadClient's resources, as far as image_from_job reads them (the client itself is
    tested against a real HTTP server in tests/nomad)."""

    jobs = DeployingJobs()
    allocations = DeployingAllocations()


def test_image_of_the_running_allocation_wins(tmp_path):
    service = TaskService(
        None,
        AppConfig(image_from_job="web"),
        lambda: Connection(NomadSettings(address="http://nomad:4646")),
    )
    service.cluster._clients["default"] = DeployingNomad()
    assert service.deployed_image("web") == "app:old"
