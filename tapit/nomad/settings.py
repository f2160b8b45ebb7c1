"""How to reach a Nomad cluster: address, token, namespace, region, TLS, HTTP auth, SSH bastion.

Pure data: nothing here touches the network or the filesystem. `from_env` reads the same
environment variables, with the same meaning, as Nomad's own CLI (Go `api.DefaultConfig`).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tapit.gostrconv import parse_bool

DEFAULT_ADDRESS = "http://127.0.0.1:4646"  # Go api.DefaultConfig


@dataclass(frozen=True)
class NomadSettings:
    address: str
    # Secrets stay out of repr()/str(), so logging a settings object never leaks them.
    token: str | None = field(default=None, repr=False)
    namespace: str = "default"
    region: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    tls_server_name: str | None = None
    http_auth: str | None = field(default=None, repr=False)  # "user[:pass]"
    # Set when `address` is the local end of an SSH tunnel (tapit.nomad.tunnel): the address it
    # leads to, for the Host header and for messages, and the bastion it goes through.
    tunnel_to: str | None = None
    tunnel_via: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], default_address: str | None = None) -> "NomadSettings":
        """Settings from NOMAD_* variables; an empty variable counts as unset, as in Go.

        `default_address` replaces Nomad's default address when NOMAD_ADDR is unset (tapit's
        embedded agent). An unparsable NOMAD_SKIP_VERIFY is ignored, as Nomad's CLI does.
        """

        def get(name: str) -> str | None:
            return environ.get(name) or None

        skip_verify = False
        if raw := get("NOMAD_SKIP_VERIFY"):
            try:
                skip_verify = parse_bool(raw)
            except ValueError:
                pass
        return cls(
            address=get("NOMAD_ADDR") or default_address or DEFAULT_ADDRESS,
            token=get("NOMAD_TOKEN"),
            namespace=get("NOMAD_NAMESPACE") or "default",
            region=get("NOMAD_REGION"),
            ca_cert=get("NOMAD_CACERT"),
            ca_path=get("NOMAD_CAPATH"),
            client_cert=get("NOMAD_CLIENT_CERT"),
            client_key=get("NOMAD_CLIENT_KEY"),
            skip_verify=skip_verify,
            tls_server_name=get("NOMAD_TLS_SERVER_NAME"),
            http_auth=get("NOMAD_HTTP_AUTH"),
        )

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """NOMAD_HTTP_AUTH split as Go does: at the first ':', the password may be empty."""
        if not self.http_auth:
            return None
        user, _, password = self.http_auth.partition(":")
        return user, password


# [user@]host[:port], the host a name, an IPv4 address or a bracketed IPv6 address.
_SSH_TARGET = re.compile(r"(?:(?P<user>[^@\s:]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@\s:\[\]]+)(?::(?P<port>\d{1,5}))?")


@dataclass(frozen=True)
class SSHTarget:
    user: str | None  # None: from ~/.ssh/config, else the local user, as ssh does
    host: str
    port: int | None  # None: from ~/.ssh/config, else 22

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port else "")


def parse_ssh_target(text: str) -> SSHTarget:
    """`[user@]host[:port]`; ValueError says what is wrong."""
    match = _SSH_TARGET.fullmatch(text.strip())
    port = int(match["port"]) if match and match["port"] else None
    if not match or port is not None and not 0 < port < 65536:
        raise ValueError(f"{text!r} is not [user@]host[:port], e.g. deploy@bastion.example.com:22")
    return SSHTarget(match["user"], match["host"].strip("[]"), port)
