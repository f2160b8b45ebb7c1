"""Reaching Nomad through an SSH bastion: a local port forward that tapit opens itself with asyncssh.

asyncssh runs on its own event loop in a background thread, and the forward listens on
127.0.0.1:<free port>. Everything else then just connects there: python-nomad's REST calls,
httpx's blocking queries and streams, and the exec websocket on the console's own loop. For an
https:// address the server name stays the real host (SNI and certificate check) and the Host
header stays the real host:port, so TLS and a virtual-host proxy behind the bastion both work.

Imported only when SSH is used (asyncssh is slow to import): `tapit --help` never pays for it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import asyncssh

from tapit.nomad.address import parse_endpoint
from tapit.nomad.settings import NomadSettings, SSHTarget

CONNECT_TIMEOUT_S = 15.0
# Notices a dead bastion link (a laptop that slept) instead of leaving the next request hanging.
KEEPALIVE_S = 30.0
LOOPBACK = "127.0.0.1"


class TunnelError(Exception):
    """The tunnel could not be opened; str() is one line for the user."""


class Tunnel:
    """One SSH connection to `target` with a local forward to `destination`: (host, port), or the
    path of a unix socket on the far side."""

    def __init__(self, target: SSHTarget, destination: tuple[str, int] | str):
        self.target = target
        self.destination = destination
        self.port = 0  # the local end, once open
        self._conn: asyncssh.SSHClientConnection | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tapit-ssh", daemon=True)

    @property
    def where(self) -> str:
        if isinstance(self.destination, str):
            return f"unix://{self.destination}"
        host, port = self.destination
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def open(self) -> Tunnel:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        except BaseException:
            self.close()
            raise
        return self

    async def _open(self) -> None:
        target = self.target
        try:
            # Unset user and port come from ~/.ssh/config, then the local user and 22, as with ssh;
            # keys from the SSH agent, then ~/.ssh/id_*; host keys from ~/.ssh/known_hosts.
            self._conn = await asyncssh.connect(
                target.host,
                port=target.port or (),
                username=target.user or (),
                connect_timeout=CONNECT_TIMEOUT_S,
                keepalive_interval=KEEPALIVE_S,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise TunnelError(self._host_key_message()) from None
        except asyncssh.KeyExchangeFailed as exc:
            raise TunnelError(f"SSH key exchange with {target} failed: {exc.reason}") from None
        except asyncssh.PermissionDenied:
            raise TunnelError(
                f"the SSH bastion {target} refused every key tried (the SSH agent's, then "
                "~/.ssh/id_*); check the user name and that your key is authorized there"
            ) from None
        except asyncssh.DisconnectError as exc:
            raise TunnelError(f"the SSH bastion {target} closed the connection: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            # asyncio's "Connect call failed ('host', port)" hides the errno's own words.
            reason = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else (str(exc) or "timed out")
            raise TunnelError(f"cannot connect to the SSH bastion {target}: {reason}") from None
        # Try the destination once now: a refused forward is then one clear line, instead of every
        # request through the listener failing with a connection closed without an answer.
        try:
            if isinstance(self.destination, str):
                _, writer = await self._conn.open_unix_connection(self.destination)
                listener = await self._conn.forward_local_port_to_path(LOOPBACK, 0, self.destination)
            else:
                _, writer = await self._conn.open_connection(*self.destination)
                listener = await self._conn.forward_local_port(LOOPBACK, 0, *self.destination)
        except asyncssh.ChannelOpenError as exc:
            raise TunnelError(
                f"the SSH bastion {target} refused to forward to {self.where}: {exc.reason or 'no reason given'}"
            ) from None
        except OSError as exc:
            raise TunnelError(f"cannot listen on {LOOPBACK} for the SSH tunnel: {exc.strerror or exc}") from None
        writer.close()
        self.port = listener.get_port()

    def _host_key_message(self) -> str:
        """asyncssh says "not trusted" whether the key is unknown or different: tell them apart,
        since a changed key may mean an attack and an unknown one just needs recording."""
        target, port = replace(self.target, user=None), self.target.port or 22
        known_hosts = Path("~/.ssh/known_hosts").expanduser()
        try:
            trusted = asyncssh.read_known_hosts(str(known_hosts)).match(target.host, "", port)[0]
        except (OSError, ValueError):
            trusted = []
        if trusted:
            return (
                f"the SSH host key of {target} does not match the one in {known_hosts}: the key changed "
                "or someone is intercepting the connection; not connecting"
            )
        return (
            f"the SSH host key of {target} is not in {known_hosts}: connect once with ssh, check "
            "the fingerprint and accept it, then retry"
        )

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None

            async def shut() -> None:
                conn.close()
                await conn.wait_closed()

            try:
                asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
            except (TimeoutError, OSError, asyncssh.Error):
                pass  # going away anyway
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()


_tunnels: dict[tuple[str, str], Tunnel] = {}
_lock = threading.Lock()


def through_ssh(settings: NomadSettings, target: SSHTarget) -> NomadSettings:
    """Settings that reach `settings.address` through `target`: the tunnel is opened now, once per
    process and destination, and closed when the process exits. TunnelError when it cannot be."""
    endpoint = parse_endpoint(settings.address)
    parts = urlsplit(endpoint.base_url)
    destination: tuple[str, int] | str
    if endpoint.socket_path:
        destination = endpoint.socket_path
    else:
        destination = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
    key = (str(target), endpoint.display)
    with _lock:
        tunnel = _tunnels.get(key)
        if tunnel is None:
            tunnel = Tunnel(target, destination).open()
            if not _tunnels:
                atexit.register(close_all)
            _tunnels[key] = tunnel
    userinfo = urlsplit(settings.address).netloc.rpartition("@")[0]  # user:pass@ stays with the URL
    local = f"{parts.scheme}://{userinfo + '@' if userinfo else ''}{LOOPBACK}:{tunnel.port}"
    server_name = settings.tls_server_name
    if parts.scheme == "https" and not server_name:
        server_name = parts.hostname  # what the certificate names, not 127.0.0.1
    return replace(
        settings, address=local, tls_server_name=server_name, tunnel_to=settings.address, tunnel_via=str(target)
    )


def close_all() -> None:
    with _lock:
        for tunnel in _tunnels.values():
            tunnel.close()
        _tunnels.clear()
