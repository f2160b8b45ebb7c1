"""The embedded agent serving HTTPS, and the real `tapit` CLI reaching it with Nomad's TLS variables:
server TLS, mutual TLS, a wrong CA, an expired certificate and a wrong server name."""

import subprocess

import pytest


@pytest.fixture(autouse=True)
def host_processes(tapit):
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')  # the agent runs host processes


def refused(result: subprocess.CompletedProcess, address: str) -> str:
    """The single error line of a run that could not reach the agent (exit 3)."""
    assert result.returncode == 3, result
    assert result.stderr.count("\n") == 1, result.stderr
    prefix = f"tapit: cannot reach Nomad at {address}: "
    assert result.stderr.startswith(prefix), result.stderr
    return result.stderr[len(prefix) :].strip()


def test_server_tls(tapit, https_agent, pki):
    env = https_agent() | {"NOMAD_CACERT": pki.ca}
    result = tapit("create", "task", "echo over https", "--wait", env=env)
    assert (result.returncode, result.stdout) == (0, "over https\n"), result.stderr
    assert "over https" in tapit("list", "tasks", env=env).stdout
    # A CA directory, read as Go does (every file in it), works the same.
    env = env | {"NOMAD_CACERT": "", "NOMAD_CAPATH": pki.ca_dir}
    assert tapit("list", "tasks", env=env).returncode == 0


def test_mutual_tls(tapit, https_agent, pki):
    env = https_agent(client_ca=pki.ca) | {"NOMAD_CACERT": pki.ca}
    with_cert = env | {"NOMAD_CLIENT_CERT": pki.client, "NOMAD_CLIENT_KEY": pki.key("client")}
    result = tapit("create", "task", "echo mutual", "--wait", env=with_cert)
    assert (result.returncode, result.stdout) == (0, "mutual\n"), result.stderr
    reason = refused(tapit("list", "tasks", env=env), env["NOMAD_ADDR"])
    assert "client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY" in reason


def test_wrong_ca(tapit, https_agent, pki):
    env = https_agent() | {"NOMAD_CACERT": pki.wrong_ca}
    reason = refused(tapit("list", "tasks", env=env), env["NOMAD_ADDR"])
    assert reason.startswith("TLS certificate verification failed: ") and "issuer" in reason


def test_no_ca_means_system_roots_which_do_not_know_a_private_ca(tapit, https_agent):
    env = https_agent()
    assert refused(tapit("list", "tasks", env=env), env["NOMAD_ADDR"]).startswith(
        "TLS certificate verification failed: "
    )
    # ...unless verification is switched off explicitly.
    assert tapit("list", "tasks", env=env | {"NOMAD_SKIP_VERIFY": "true"}).returncode == 0


def test_expired_certificate(tapit, https_agent, pki):
    env = https_agent("expired") | {"NOMAD_CACERT": pki.ca}
    reason = refused(tapit("list", "tasks", env=env), env["NOMAD_ADDR"])
    assert reason == "TLS certificate verification failed: certificate has expired"


def test_server_name(tapit, https_agent, pki):
    env = https_agent("named") | {"NOMAD_CACERT": pki.ca}  # certificate for server.global.nomad only
    reason = refused(tapit("list", "tasks", env=env), env["NOMAD_ADDR"])
    assert reason.startswith("TLS certificate verification failed: ") and "127.0.0.1" in reason
    named = env | {"NOMAD_TLS_SERVER_NAME": "server.global.nomad"}
    result = tapit("create", "task", "echo named", "--wait", env=named)
    assert (result.returncode, result.stdout) == (0, "named\n"), result.stderr
    other = env | {"NOMAD_TLS_SERVER_NAME": "other.global.nomad"}
    assert "other.global.nomad" in refused(tapit("list", "tasks", env=other), env["NOMAD_ADDR"])


def test_bad_agent_tls_files_are_one_line(tapit, pki):
    result = tapit("agent", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", pki.key("server"))
    assert result.returncode == 2
    assert result.stderr == (
        "tapit: cannot load the agent certificate /nonexistent/cert.pem with key "
        f"{pki.key('server')}: No such file or directory\n"
    )
    result = tapit("agent", "--tls-cert", pki.server)
    assert result.returncode == 2 and "--tls-key" in result.stderr


def test_agent_tls_from_the_config(tapit, pki):
    (tapit.home / "tapit.toml").write_text(f'agent_tls_cert = "{pki.server}"\nagent_tls_key = "{pki.key("server")}"\n')
    process = tapit.popen("agent", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout.readline().startswith("tapit agent listening on https://")
        # A second agent for the same state is refused rather than sharing it.
        second = tapit("agent")
        assert second.returncode == 1 and "already runs at https://" in second.stderr
    finally:
        process.terminate()
        process.wait(15)
