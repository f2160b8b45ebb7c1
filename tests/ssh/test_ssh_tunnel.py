"""SSH bastions: the real `tapit` CLI reaching the real embedded agent through a real SSH server
(tests/ssh/sshd.py) on a name only the bastion can resolve, so nothing can go around the tunnel."""

import asyncio
import json
import subprocess
import sys
import time

import asyncssh
import pytest

from sshd import Bastion
from tapit.agent import daemon

CLUSTER_NAME = "nomad.internal"  # resolvable by the bastion only
SLEEPER = {
    "ID": "tunnel-exec",
    "Name": "tunnel-exec",
    "Type": "batch",
    "TaskGroups": [
        {
            "Name": "main",
            "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [
                {
                    "Name": "main",
                    "Driver": "raw_exec",
                    "Config": {"command": "/bin/sleep", "args": ["30"]},
                    "Resources": {"CPU": 100, "MemoryMB": 64},
                    "KillTimeout": 1_000_000_000,
                }
            ],
        }
    ],
}


@pytest.fixture
def bastion(tmp_path):
    server = Bastion(tmp_path).start()
    server.hosts[CLUSTER_NAME] = "127.0.0.1"
    yield server
    server.stop()


@pytest.fixture
def ssh_user(tapit, bastion, tmp_path):
    """The tapit fixture's environment as a user whose ~/.ssh knows the bastion; the task runs
    on the embedded agent, which the user reaches as the cluster at http://nomad.internal:PORT."""
    home = bastion.user_home(tmp_path / "user")
    tapit.env.pop("SSH_AUTH_SOCK", None)  # the developer's own SSH agent stays out of it
    tapit.env["HOME"] = str(home)
    (tapit.home / "tapit.toml").write_text('driver = "raw_exec"\n')
    return home


def cluster_env(address: str, token: str, bastion: Bastion) -> dict:
    port = address.rsplit(":", 1)[1]
    scheme = address.split("://")[0]
    return {"NOMAD_ADDR": f"{scheme}://{CLUSTER_NAME}:{port}", "NOMAD_TOKEN": token, "TAPIT_SSH": bastion.target}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 3, result
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tapit: "), result.stderr
    return result.stderr[len("tapit: ") :].strip()


def test_task_created_and_waited_through_the_tunnel(tapit, ssh_user, bastion):
    agent = daemon.ensure_running()
    env = cluster_env(agent.address, agent.token, bastion)
    result = tapit("create", "task", "echo through the bastion; echo err >&2; exit 4", "--wait", env=env)
    assert (result.returncode, result.stdout) == (4, "through the bastion\n"), result.stderr
    assert "err\n" in result.stderr
    agent_port = int(agent.address.rsplit(":", 1)[1])
    assert set(bastion.forwards) == {(CLUSTER_NAME, agent_port)}
    # --ssh on the command line does the same as TAPIT_SSH; --json carries the real namespace.
    env.pop("TAPIT_SSH")
    listed = tapit("--ssh", bastion.target, "list", "tasks", "--json", env=env)
    assert [t["status"] for t in json.loads(listed.stdout)] == ["failed"], listed.stderr


def test_tls_through_the_tunnel_checks_the_real_server_name(tapit, ssh_user, bastion, https_agent, pki):
    """The certificate names only server.global.nomad: SNI and verification must use that name,
    not the tunnel's 127.0.0.1, and no NOMAD_TLS_SERVER_NAME is needed."""
    bastion.hosts["server.global.nomad"] = "127.0.0.1"
    agent = https_agent("named", client_ca=pki.ca)
    port = agent["NOMAD_ADDR"].rsplit(":", 1)[1]
    env = {
        **agent,
        "NOMAD_ADDR": f"https://server.global.nomad:{port}",
        "TAPIT_SSH": bastion.target,
        "NOMAD_CACERT": pki.ca,
        "NOMAD_CLIENT_CERT": pki.client,
        "NOMAD_CLIENT_KEY": pki.key("client"),
    }
    result = tapit("create", "task", "echo mtls via ssh", "--wait", env=env)
    assert (result.returncode, result.stdout) == (0, "mtls via ssh\n"), result.stderr


def test_host_key_mismatch_is_one_line(tapit, ssh_user, bastion):
    bastion.user_home(ssh_user, trusted_host_key=asyncssh.generate_private_key("ssh-ed25519"))
    env = cluster_env("http://x:4646", "secret-token-1234", bastion)
    message = one_line_error(tapit("list", "tasks", env=env))
    assert message.startswith(f"the SSH host key of 127.0.0.1:{bastion.port} does not match the one in ")
    assert not bastion.forwards
    (ssh_user / ".ssh" / "known_hosts").unlink()
    assert "is not in" in one_line_error(tapit("list", "tasks", env=env))


def test_refused_forward_is_one_line(tapit, ssh_user, bastion):
    bastion.refuse_forwarding = True
    env = cluster_env("http://x:4646", "secret-token-1234", bastion)
    message = one_line_error(tapit("list", "tasks", env=env))
    assert message == (
        f"the SSH bastion {bastion.target} refused to forward to {CLUSTER_NAME}:4646: forwarding is not permitted here"
    )


def test_unknown_key_and_unreachable_bastion(tapit, ssh_user, bastion):
    env = cluster_env("http://x:4646", "secret-token-1234", bastion)
    (ssh_user / ".ssh" / "id_ed25519").write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    assert "refused every key tried" in one_line_error(tapit("list", "tasks", env=env))
    env["TAPIT_SSH"] = "tester@127.0.0.1:1"
    assert one_line_error(tapit("list", "tasks", env=env)) == (
        "cannot connect to the SSH bastion tester@127.0.0.1:1: Connection refused"
    )


def test_ssh_needs_nomad_addr_and_none_turns_it_off(tapit, ssh_user, bastion):
    result = tapit("--ssh", bastion.target, "list", "tasks")
    assert result.returncode == 2 and "NOMAD_ADDR is not set" in result.stderr
    (tapit.home / "tapit.toml").write_text(f'driver = "raw_exec"\nssh = "{bastion.target}"\n')
    # An ssh in the app's file is the cluster's route: the embedded agent is still used without NOMAD_ADDR.
    assert tapit("list", "tasks").returncode == 0
    agent = daemon.ensure_running()
    # The agent was started in that app's directory; its archivist reaches it directly all the same.
    said = tapit.home / "agent" / "archivist.log"
    deadline = time.monotonic() + 30
    while "keeping the trail of" not in (said.read_text() if said.exists() else ""):
        assert time.monotonic() < deadline, said.read_text() if said.exists() else "no archivist log"
        time.sleep(0.1)
    assert f"keeping the trail of {agent.address};" in said.read_text()
    direct = {"NOMAD_ADDR": agent.address, "NOMAD_TOKEN": agent.token, "TAPIT_SSH": "none"}
    assert tapit("list", "tasks", env=direct).returncode == 0
    assert not bastion.forwards


def test_exec_and_event_stream_through_the_tunnel(tapit_home, bastion, tmp_path, monkeypatch):
    """The console's websocket and the event stream use the tunnel as REST does (in process)."""
    from tapit.nomad.client import NomadClient
    from tapit.nomad.exec import Exited, Output, open_exec
    from tapit.nomad.settings import NomadSettings, parse_ssh_target
    from tapit.nomad.transport import Transport
    from tapit.nomad.tunnel import close_all, through_ssh

    monkeypatch.setenv("HOME", str(bastion.user_home(tmp_path / "user")))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    agent = daemon.ensure_running()
    direct = NomadSettings(address=agent.address, token=agent.token)
    settings = through_ssh(
        NomadSettings(address=cluster_env(agent.address, "", bastion)["NOMAD_ADDR"], token=agent.token),
        parse_ssh_target(bastion.target),
    )
    try:
        with NomadClient(direct) as nomad:
            nomad.jobs.register(SLEEPER)
        with NomadClient(settings) as nomad:
            # index 1: replay what the agent's buffer holds, the registration included.
            events = nomad.event_stream.stream(["Job:tunnel-exec"], index=1)
            assert next(events)["Events"][0]["Key"] == "tunnel-exec"
            events.close()
            alloc_id = None
            for _ in range(100):
                allocs = nomad.jobs.allocations("tunnel-exec")
                if allocs and allocs[0]["ClientStatus"] == "running":
                    alloc_id = allocs[0]["ID"]
                    break
                asyncio.run(asyncio.sleep(0.05))
            assert alloc_id

        async def exec_echo() -> list:
            seen = []
            async with open_exec(
                Transport(settings), alloc_id, "main", ["/bin/echo", "hello via ssh"], tty=False
            ) as session:
                async for event in session:
                    seen.append(event)
            return seen

        events = asyncio.run(exec_echo())
        assert events == [Output("stdout", b"hello via ssh\n"), Exited(0)]
    finally:
        close_all()


def test_help_does_not_import_asyncssh(tapit):
    probe = "import sys; from tapit.cli import main; main(['--help']); sys.exit('asyncssh' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], env=tapit.env, capture_output=True, text=True)
    assert result.returncode == 0, "tapit --help imported asyncssh"
