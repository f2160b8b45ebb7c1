"""Where a Nomad cluster is and how to trust it: its address, and TLS as the Go client sets it up.

Reads only the TLS files named in the settings; no network.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote, urlsplit

from tapit.nomad.errors import NomadUnreachable, one_line, ssl_text
from tapit.nomad.settings import NomadSettings


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # scheme://host:port; "http://localhost" when talking over a unix socket
    display: str  # the address without credentials, for messages
    socket_path: str | None
    url_auth: tuple[str, str] | None  # user:pass@ in the address, which Go prefers to NOMAD_HTTP_AUTH


def parse_endpoint(address: str) -> Endpoint:
    if address.startswith("unix://"):
        path = address[len("unix://") :]  # as Go does: everything after the scheme
        if not path:
            raise NomadUnreachable(address, "the unix:// address names no socket")
        return Endpoint("http://localhost", address, path, None)
    parts = urlsplit(address)
    hostport = parts.netloc.rpartition("@")[2]
    if parts.scheme not in ("http", "https") or not hostport:
        raise NomadUnreachable(
            address, "the address must look like http://host:port, https://host:port or unix:///path"
        )
    base = f"{parts.scheme}://{hostport}"
    auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    return Endpoint(base, base, None, auth)


def tunnelled_host(settings: NomadSettings) -> str | None:
    """The Host header through an SSH tunnel: the real host:port, as if connected directly."""
    if not settings.tunnel_to:
        return None
    return urlsplit(settings.tunnel_to).netloc.rpartition("@")[2] or "localhost"  # unix://: as httpx


def display_address(settings: NomadSettings) -> str:
    """The address to name in messages: the cluster the user asked for, not a tunnel's local end."""
    if settings.tunnel_to:
        return f"{parse_endpoint(settings.tunnel_to).display} (through SSH {settings.tunnel_via})"
    return parse_endpoint(settings.address).display


def ssl_context(settings: NomadSettings) -> ssl.SSLContext:
    """api/api.go ConfigureTLS: the CA file, else every file under the CA directory, else the
    system roots. ValueError names the file that could not be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def load(what: str, path: str, loader: Callable[[], None]) -> None:
        try:
            loader()
        except (OSError, ValueError) as exc:
            if isinstance(exc, ssl.SSLError):
                detail = ssl_text(exc)
            else:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(str(exc))
            raise ValueError(f"cannot load the {what} {path}: {detail}") from None

    if settings.ca_cert:
        load("CA file", settings.ca_cert, lambda: context.load_verify_locations(cafile=settings.ca_cert))
    elif settings.ca_path:
        if not os.path.isdir(settings.ca_path):
            raise ValueError(f"the CA directory {settings.ca_path} does not exist")
        # Go (go-rootcerts) reads every file in the tree; OpenSSL's capath needs hash-named links.
        for root, _, files in sorted(os.walk(settings.ca_path)):
            for path in sorted(os.path.join(root, name) for name in files):
                load("CA file", path, partial(context.load_verify_locations, cafile=path))
    else:
        context.load_default_certs()
    cert, key = settings.client_cert, settings.client_key
    if cert or key:
        if not (cert and key):
            raise ValueError("both a client certificate and a client key must be given")
        load("client certificate or key", cert, lambda: context.load_cert_chain(cert, key))
    if settings.skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
