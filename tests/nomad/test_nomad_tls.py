"""TLS and mTLS, for python-nomad's REST calls and httpx's streams alike, against a real HTTPS server
(tests/nomad/nomad_stub.py, a stand-in for the embedded agent) with certificates made here."""

import ssl

import pytest

from nomad_stub import ALLOC_ID, StubNomad, log_bytes
from tapit.nomad.client import NomadClient
from tapit.nomad.errors import NomadUnreachable
from tapit.nomad.settings import NomadSettings


def server_context(pki, cert: str, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(getattr(pki, cert), pki.key(cert))
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=pki.ca)
    return context


@pytest.fixture
def https_stub(pki):
    servers = []

    def start(cert: str = "server", require_client_cert: bool = False) -> StubNomad:
        context = server_context(pki, cert, require_client_cert)
        server = StubNomad(ssl_context=context)
        server.sni = []
        context.sni_callback = lambda sock, name, ctx: server.sni.append(name)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def use(server: StubNomad, **tls) -> None:
    """A REST call through python-nomad, a blocking query and a log stream through httpx."""
    with NomadClient(NomadSettings(address=server.address, token=server.token, **tls)) as c:
        assert c.agent.info()["member"]["Name"] == "stub"
        assert c.allocations.info(ALLOC_ID, index=0)[0]["ID"] == ALLOC_ID
        assert b"".join(log_bytes(c, ALLOC_ID, "main", "stdout")) == b"hello\n"


def refused(server: StubNomad, **tls) -> list[str]:
    """The one-line errors of the REST call and of the stream; both must be NomadUnreachable."""
    messages = []
    with NomadClient(NomadSettings(address=server.address, token=server.token, **tls)) as c:
        for call in (c.agent.info, lambda: list(log_bytes(c, ALLOC_ID, "main", "stdout"))):
            with pytest.raises(NomadUnreachable) as caught:
                call()
            assert str(caught.value).startswith(f"cannot reach Nomad at {server.address}: ")
            assert "\n" not in str(caught.value) and server.token not in str(caught.value)
            messages.append(caught.value.reason)
    return messages


def test_server_tls_with_ca_file(pki, https_stub):
    use(https_stub(), ca_cert=pki.ca)


def test_server_tls_with_ca_directory(pki, https_stub):
    use(https_stub(), ca_path=pki.ca_dir)


def test_wrong_ca_is_a_clear_verification_error(pki, https_stub):
    for reason in refused(https_stub(), ca_cert=pki.wrong_ca):
        assert reason.startswith("TLS certificate verification failed: ")
        assert "issuer" in reason


def test_system_roots_do_not_trust_a_private_ca(https_stub):
    for reason in refused(https_stub()):
        assert reason.startswith("TLS certificate verification failed: ")


def test_skip_verify_accepts_any_certificate(pki, https_stub):
    use(https_stub(), ca_cert=pki.wrong_ca, skip_verify=True)


def test_expired_certificate(pki, https_stub):
    for reason in refused(https_stub("expired"), ca_cert=pki.ca):
        assert reason == "TLS certificate verification failed: certificate has expired"


def test_mutual_tls(pki, https_stub):
    server = https_stub(require_client_cert=True)
    use(server, ca_cert=pki.ca, client_cert=pki.client, client_key=pki.key("client"))
    for reason in refused(server, ca_cert=pki.ca):
        # Python's TLS 1.3 server hangs up without an alert; Go's sends "certificate required".
        assert reason in (
            "the server closed the connection without answering (if it requires a client "
            "certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)",
            "TLS handshake failed: tlsv13 alert certificate required (the server requires "
            "a client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)",
        )


def test_tls_server_name_sets_sni_and_the_verified_name(pki, https_stub):
    server = https_stub("named")  # a certificate for server.global.nomad only, not 127.0.0.1
    for reason in refused(server, ca_cert=pki.ca):
        assert reason.startswith("TLS certificate verification failed: ")
        assert "127.0.0.1" in reason
    server.sni.clear()
    use(server, ca_cert=pki.ca, tls_server_name="server.global.nomad")
    assert server.sni and set(server.sni) == {"server.global.nomad"}
    for reason in refused(server, ca_cert=pki.ca, tls_server_name="other.global.nomad"):
        assert "other.global.nomad" in reason


def test_https_to_a_plain_http_server(stub):
    address = stub.address.replace("http://", "https://")
    with NomadClient(NomadSettings(address=address, token=stub.token, skip_verify=True)) as c:
        with pytest.raises(NomadUnreachable, match="TLS handshake failed"):
            c.agent.info()


def test_unreadable_tls_files_fail_at_construction(pki, tmp_path):
    address = "https://127.0.0.1:4646"
    cases = {
        "cannot load the CA file /nonexistent/ca.pem: No such file or directory": dict(ca_cert="/nonexistent/ca.pem"),
        "the CA directory /nonexistent does not exist": dict(ca_path="/nonexistent"),
        "both a client certificate and a client key must be given": dict(client_cert=pki.client),
        f"cannot load the client certificate or key {pki.client}": dict(client_cert=pki.client, client_key=pki.ca),
    }
    for message, tls in cases.items():
        with pytest.raises(NomadUnreachable) as caught:
            NomadClient(NomadSettings(address=address, **tls))
        assert str(caught.value).startswith(f"cannot reach Nomad at {address}: {message}")
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(NomadUnreachable, match=f"cannot load the CA file {not_pem}"):
        NomadClient(NomadSettings(address=address, ca_cert=str(not_pem)))
