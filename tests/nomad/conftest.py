import pytest

from nomad_stub import StubNomad
from tapit.nomad.client import NomadClient
from tapit.nomad.settings import NomadSettings


@pytest.fixture
def stub():
    server = StubNomad().start()
    yield server
    server.stop()


@pytest.fixture
def client(stub):
    with NomadClient(NomadSettings(address=stub.address, token=stub.token, namespace="team-a", region="eu")) as c:
        yield c
