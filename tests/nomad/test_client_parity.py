"""Every NOMAD_* setting reaches all four ways tapit talks to Nomad alike: REST (python-nomad),
the log stream and the event stream (httpx) and the exec websocket (httpx-ws), over mutual TLS."""

import asyncio
import base64
import ssl
import threading

import pytest

from nomad_stub import ALLOC_ID, StubNomad, log_bytes
from tapit.nomad.client import NomadClient
from tapit.nomad.exec import Exited, open_exec
from tapit.nomad.settings import NomadSettings
from tapit.nomad.transport import Transport


@pytest.fixture
def mtls_stub(pki):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.named, pki.key("named"))  # names server.global.nomad only
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=pki.ca)
    server = StubNomad(ssl_context=context)
    server.sni = []
    context.sni_callback = lambda sock, name, ctx: server.sni.append(name)
    server.events = [{"Index": 11, "Events": [{"Topic": "Job", "Key": "tapit-1"}]}]
    yield server.start()
    server.stop()


def test_every_setting_reaches_rest_streams_events_and_exec(mtls_stub, pki):
    environ = {
        "NOMAD_ADDR": mtls_stub.address,
        "NOMAD_TOKEN": mtls_stub.token,
        "NOMAD_NAMESPACE": "team-a",
        "NOMAD_REGION": "eu",
        "NOMAD_CACERT": pki.ca,
        "NOMAD_CLIENT_CERT": pki.client,
        "NOMAD_CLIENT_KEY": pki.key("client"),
        "NOMAD_TLS_SERVER_NAME": "server.global.nomad",
        "NOMAD_HTTP_AUTH": "ops:pa:ss",
    }
    settings = NomadSettings.from_env(environ)
    with NomadClient(settings) as client:
        client.agent.info()
        assert b"".join(log_bytes(client, ALLOC_ID, "main", "stdout")) == b"hello\n"
        stop = threading.Event()
        for message in client.event_stream.stream(["Job"], stop=stop):
            assert message["Index"] == 11
            stop.set()

    async def exec_once():
        async with open_exec(Transport(settings), ALLOC_ID, "main", ["true"], tty=False) as session:
            return [event async for event in session]

    assert asyncio.run(exec_once()) == [Exited(0)]
    paths = [r["path"] for r in mtls_stub.requests]
    assert paths == [
        "/v1/agent/self",
        f"/v1/client/fs/logs/{ALLOC_ID}",
        "/v1/event/stream",
        f"/v1/client/allocation/{ALLOC_ID}/exec",
    ]
    basic = "Basic " + base64.b64encode(b"ops:pa:ss").decode()
    for request in mtls_stub.requests:
        query = dict(request["query"])
        assert (query.get("namespace"), query.get("region")) == ("team-a", "eu"), request["path"]
        assert request["headers"]["X-Nomad-Token"] == mtls_stub.token, request["path"]
        assert request["headers"]["Authorization"] == basic, request["path"]
    # Every connection was TLS with the client certificate (else the handshake fails) and the name.
    assert mtls_stub.sni and set(mtls_stub.sni) == {"server.global.nomad"}
