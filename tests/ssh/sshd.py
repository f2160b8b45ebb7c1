"""A real SSH server, in process (asyncssh on its own loop and thread), standing in for a bastion:
host key and client key generated here, public-key auth only, TCP forwarding that a test can refuse."""

import asyncio
import threading
from pathlib import Path

import asyncssh


class Bastion:
    def __init__(self, directory: Path):
        self.dir = directory
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.refuse_forwarding = False
        self.forwards: list[tuple[str, int]] = []  # every direct-tcpip channel asked for
        self.hosts: dict[str, str] = {}  # names only the bastion can resolve, as on a private network
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-sshd", daemon=True)
        self._server = None

    def start(self) -> "Bastion":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        bastion = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn):
                self.conn = conn

            def begin_auth(self, username: str) -> bool:
                return True

            def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int):
                bastion.forwards.append((dest_host, dest_port))
                if bastion.refuse_forwarding:
                    raise asyncssh.ChannelOpenError(
                        asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "forwarding is not permitted here"
                    )
                if dest_host in bastion.hosts:
                    return self.conn.forward_connection(bastion.hosts[dest_host], dest_port)
                return True  # asyncssh connects to the destination itself

        self._server = await asyncssh.create_server(
            Server,
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_key.export_public_key().decode()),
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def shut():
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def target(self) -> str:
        return f"tester@127.0.0.1:{self.port}"

    def user_home(self, home: Path, trusted_host_key=None) -> Path:
        """A HOME whose ~/.ssh has the client key and a known_hosts entry for this server's host
        key (or for `trusted_host_key`, to fake a changed key)."""
        ssh = home / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (ssh / "id_ed25519").write_bytes(self.client_key.export_private_key())
        (ssh / "id_ed25519").chmod(0o600)
        key = (trusted_host_key or self.host_key).export_public_key().decode().strip()
        (ssh / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {key}\n")
        return home
