"""Which Nomad tapit talks to: NOMAD_ADDR (through an SSH bastion if one is configured), or the
embedded agent, started on first use; and the clients for it, one per namespace."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from tapit.config import AppConfig
from tapit.errors import RuntimeUnavailable, UsageError, nomad_errors
from tapit.nomad.settings import NomadSettings, parse_ssh_target

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient


# What the embedded agent reports as its build in /v1/agent/self (tapit/agent/http/agent.py).
EMBEDDED_VERSION_METADATA = "tapit"


@dataclass(frozen=True)
class Connection:
    settings: NomadSettings
    # tapit started (or found) its embedded agent itself, rather than following NOMAD_ADDR.
    started_agent: bool = False

    @cached_property
    def embedded(self) -> bool:
        """Whether this is tapit's embedded agent, which runs tasks on the host by default: the
        one tapit started, or one NOMAD_ADDR names (`eval "$(tapit agent env)"`), recognised by
        what it reports about itself. Asked once, and only by what depends on it (create)."""
        return self.started_agent or reports_embedded(self.settings)


def reports_embedded(settings: NomadSettings) -> bool:
    """Whether the agent at the address says it is tapit's (its VersionMetadata). A Nomad whose token
    may not read the agent (`agent:read`) is taken for a cluster, and so is one that does not
    answer: the submission then fails, and is recorded failing, as any other would."""
    from tapit.nomad.client import NomadClient
    from tapit.nomad.errors import NomadError

    try:
        with NomadClient(settings) as nomad:
            version = (nomad.agent.info().get("config") or {}).get("Version") or {}
    except (NomadError, ValueError):
        return False
    return version.get("VersionMetadata") == EMBEDDED_VERSION_METADATA


def resolve_connection(environ: Mapping[str, str], config: AppConfig) -> Connection:
    """NOMAD_ADDR when set, through the SSH bastion if one is configured; otherwise the embedded
    agent, started on first use."""
    if environ.get("NOMAD_ADDR"):
        settings = NomadSettings.from_env(environ)
        _check_address(settings.address)
        if config.namespace and "NOMAD_NAMESPACE" not in environ:
            settings = replace(settings, namespace=config.namespace)
        if config.ssh:
            settings = _through_ssh(settings, config.ssh)
        return Connection(settings)
    if config.ssh and config.sources.get("ssh", "").startswith("$"):
        # Asked for on the command line; an ssh in tapit.toml describes the cluster's route and
        # does not stop the same app from running on the embedded agent.
        raise UsageError("--ssh (TAPIT_SSH) reaches NOMAD_ADDR through a bastion, but NOMAD_ADDR is not set")
    from tapit.agent.daemon import AgentStartError, ensure_running

    try:
        agent = ensure_running()
    except AgentStartError as exc:
        raise RuntimeUnavailable(f"could not start the embedded agent: {exc}") from None
    settings = replace(NomadSettings.from_env(environ, default_address=agent.address), token=agent.token)
    return Connection(settings, started_agent=True)


def _check_address(address: str) -> None:
    """A NOMAD_ADDR that is no address at all is bad input, refused before anything is tried."""
    from tapit.nomad.address import parse_endpoint
    from tapit.nomad.errors import NomadUnreachable

    try:
        parse_endpoint(address)
    except NomadUnreachable as exc:
        raise UsageError(f"NOMAD_ADDR={address!r}: {exc.reason}") from None


def _through_ssh(settings: NomadSettings, ssh: str) -> NomadSettings:
    from tapit.nomad.tunnel import TunnelError, through_ssh  # imports asyncssh: only when used

    try:
        with nomad_errors():
            return through_ssh(settings, parse_ssh_target(ssh))
    except TunnelError as exc:
        raise RuntimeUnavailable(str(exc)) from None


def embedded_agent_running() -> bool:
    """Whether the embedded agent runs now (asking starts nothing)."""
    from tapit.agent.daemon import status

    return status() is not None


class Cluster:
    """The Nomad a service talks to. Resolved on first use, so that bad input is refused without
    touching Nomad; one client per namespace, since a task lives in the namespace it was created
    in whatever the namespace is now."""

    def __init__(self, connect: Callable[[], Connection]):
        self._connect = connect
        self._connection: Connection | None = None
        self._clients: dict[str, NomadClient] = {}
        self._lock = threading.Lock()  # the TUI's threads share one service

    @property
    def connection(self) -> Connection:
        with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            return self._connection

    def client(self, namespace: str | None = None) -> NomadClient:
        """The client for `namespace`, by default (or "") the connection's."""
        settings = self.connection.settings
        namespace = namespace or settings.namespace
        from tapit.nomad.client import NomadClient  # requests and python-nomad, only once Nomad is asked

        with self._lock, nomad_errors():
            if namespace not in self._clients:
                own = namespace == settings.namespace
                self._clients[namespace] = NomadClient(settings if own else replace(settings, namespace=namespace))
            return self._clients[namespace]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients = {}

    def reconnect(self) -> None:
        """Forget the connection, so the next call resolves it afresh: the embedded agent may have
        been restarted on another port (or needs starting again)."""
        self.close()
        with self._lock:
            self._connection = None


@dataclass(frozen=True)
class NodeDriver:
    """A task driver as a node reports it (nomad/structs/node.go DriverInfo)."""

    name: str
    detected: bool
    healthy: bool
    health: str  # HealthDescription
    version: str | None


def embedded_drivers(address: str, token: str) -> list[NodeDriver]:
    """The drivers the embedded agent's one node offers, as Nomad's node API reports them."""
    from tapit.nomad.client import NomadClient

    with nomad_errors(), NomadClient(NomadSettings(address=address, token=token)) as nomad:
        [stub] = nomad.nodes.list()
        node = nomad.nodes.info(stub["ID"])
    return [
        NodeDriver(
            name,
            bool(driver["Detected"]),
            bool(driver["Healthy"]),
            driver["HealthDescription"],
            (driver["Attributes"] or {}).get(f"driver.{name}.version"),
        )
        for name, driver in sorted(node["Drivers"].items())
    ]
