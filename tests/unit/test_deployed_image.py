"""image_from_job: during a deployment the image that runs, not the job's newest version, is inherited."""

from tapit.config import AppConfig
from tapit.nomad.settings import NomadSettings
from tapit.service import Connection, TaskService


def docker_job(image: str) -> dict:
    return {"TaskGroups": [{"Tasks": [{"Driver": "docker", "Config": {"image": image}}]}]}


class DeployingNomad:
    """Version 7 (app:new) is being rolled out; only allocations of version 6 (app:old) run."""

    def job_allocations(self, job_id):
        return [
            {"ID": "a-old", "ClientStatus": "running", "JobVersion": 6},
            {"ID": "a-new", "ClientStatus": "pending", "JobVersion": 7},
        ]

    def get_allocation(self, alloc_id):
        return {"ID": alloc_id, "Job": docker_job("app:old" if alloc_id == "a-old" else "app:new")}

    def get_job(self, job_id):
        return docker_job("app:new")


def test_image_of_the_running_allocation_wins(tmp_path):
    service = TaskService(
        None,
        AppConfig(image_from_job="web"),
        lambda: Connection(NomadSettings(address="http://nomad:4646"), embedded=False),
    )
    service._client = DeployingNomad()
    assert service.deployed_image("web") == "app:old"
