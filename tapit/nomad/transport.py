"""The one way tapit reaches Nomad: settings, TLS, unix sockets, auth headers and error mapping.

Everything that decides how a request goes out is set up here once, as Nomad's Go client does in
api/api.go (NewClient, ConfigureTLS, setQueryOptions): the token as `X-Nomad-Token`, `namespace`
and `region` on every request, TLS from the CA file or directory, client certificate,
skip-verify and server name, HTTP basic auth, `unix://` addresses, and the Host header of an SSH
tunnel (tapit/nomad/tunnel.py). From that one description it builds the three HTTP stacks:
python-nomad (on a requests session) for REST, an httpx client for blocking queries and streams,
and httpx-ws clients for exec websockets (tapit/nomad/exec.py). Every failure becomes a
NomadError whose str() is one line for the user (tapit/nomad/errors.py).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote

import nomad.api.exceptions as nomad_exc
import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from tapit import __version__
from tapit.nomad.address import display_address, parse_endpoint, ssl_context, tunnelled_host
from tapit.nomad.errors import (
    CLOSED_WITHOUT_ANSWER,
    NomadError,
    NomadNotFound,
    NomadRefused,
    NomadUnreachable,
    failure_reason,
)
from tapit.nomad.settings import NomadSettings

if TYPE_CHECKING:
    import httpx

# httpx itself is imported where blocking queries and streams first need it: commands that only
# make REST calls (`list tasks`) should not pay for loading it.

# python-nomad's default 5 s would cut slow writes on a busy cluster; Go has no limit at all.
REST_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
# A blocking query may last `wait` plus up to wait/16 of server jitter (nomad/rpc.go
# blockingRPC), plus transfer time.
BLOCKING_MARGIN = 15.0
DEFAULT_WAIT_S = 300.0  # nomad/structs/structs.go DefaultBlockingRPCQueryTime, when no wait is given
STREAM_READ_BYTES = 1024 * 1024
# How soon a stream notices a `stop` set while its connection is quiet.
STOP_POLL = 0.2

T = TypeVar("T")


class Indexed(NamedTuple, Generic[T]):
    """A blocking query's answer and its X-Nomad-Index (api/api.go QueryMeta.LastIndex), the
    `index` to pass to the next one."""

    value: T
    last_index: int


# ---------------------------------------------------------------------------------------------
# requests adapters for python-nomad


class _TLSAdapter(requests.adapters.HTTPAdapter):
    """Uses tapit's SSLContext and server name instead of python-nomad's per-call verify/cert,
    which cannot express a CA directory read as Go does, nor a TLS server name."""

    def __init__(self, context: ssl.SSLContext, server_name: str | None):
        self._tls: dict[str, object] = {"ssl_context": context}
        if server_name:
            self._tls["server_hostname"] = server_name  # SNI and the name the certificate must carry
        super().__init__()

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, _ = super().build_connection_pool_key_attributes(request, False, None)
        return host_params, (dict(self._tls) if host_params["scheme"] == "https" else {})

    def cert_verify(self, conn, url, verify, cert):
        """Nothing to do: the pool's SSLContext already holds the CA, client cert and verify mode.
        (The base class would force python-nomad's verify onto the pool.)"""


class _UnixSocketConnection(urllib3.connection.HTTPConnection):
    def __init__(self, *args, socket_path: str, **kwargs):
        super().__init__(*args, **kwargs)
        self._socket_path = socket_path

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if isinstance(self.timeout, (int, float)):
            sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError as exc:
            sock.close()
            raise urllib3.exceptions.NewConnectionError(self, f"cannot connect to {self._socket_path}: {exc}") from exc
        return sock


class _UnixSocketPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _UnixSocketConnection


class _UnixSocketAdapter(requests.adapters.HTTPAdapter):
    """Sends every request over the agent's unix socket (requests has no unix:// support)."""

    def __init__(self, socket_path: str):
        super().__init__()
        self._pool = _UnixSocketPool("localhost", socket_path=socket_path)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self._pool

    def close(self) -> None:
        super().close()
        self._pool.close()


# ---------------------------------------------------------------------------------------------
# Wire helpers


def go_bool(value: bool) -> str:
    return "true" if value else "false"  # strconv.FormatBool, as the Go client sends


def path_id(value: str) -> str:
    return quote(value, safe="")  # Go url.PathEscape: an ID never changes the path


def is_set(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def until_stopped(items: Iterator, stop: threading.Event | None) -> Iterator:
    """A stream's items until it ends or `stop` is set; a connection broken by the stop is no error."""
    import httpx

    try:
        for item in items:
            yield item
            if is_set(stop):
                return
    except httpx.HTTPError:
        if not is_set(stop):
            raise


@contextmanager
def interrupt_on(stop: threading.Event | None, response: httpx.Response) -> Iterator[None]:
    """Wake a reader blocked on a quiet stream as soon as `stop` is set.

    Shutting the socket down makes its pending read return at once. Streams are sent with
    `Connection: close`, so the socket is never handed back to the pool for another request.
    """
    if stop is None:
        yield
        return
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if stop.wait(STOP_POLL):
                stream = response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    try:
                        # The plain-socket method: SSLSocket.shutdown would also drop its TLS state
                        # under the reading thread's feet.
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                    except OSError:
                        pass  # already closed: the stream has ended anyway
                return

    threading.Thread(target=watch, name="tapit-stream-stop", daemon=True).start()
    try:
        yield
    finally:
        finished.set()


# ---------------------------------------------------------------------------------------------
# The transport


class Transport:
    """How to talk to one Nomad cluster, as described by `settings`.

    Construction raises NomadUnreachable for an unusable address or unreadable TLS files.
    """

    def __init__(self, settings: NomadSettings):
        self.settings = settings
        self.endpoint = parse_endpoint(settings.address)
        self.address = display_address(settings)
        self.auth = self.endpoint.url_auth or settings.basic_auth
        self.tls: ssl.SSLContext | None = None
        if self.endpoint.base_url.startswith("https:"):
            try:
                self.tls = ssl_context(settings)
            except ValueError as exc:
                raise NomadUnreachable(self.address, str(exc)) from None
        if settings.skip_verify:
            # Asked for explicitly, as with Nomad's CLI, which does not nag on every request either.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        # What every request carries, whichever stack sends it (api/api.go newRequest, toHTTP).
        self.headers = {"User-Agent": f"tapit/{__version__}"}
        if settings.token:
            self.headers["X-Nomad-Token"] = settings.token
        if host := tunnelled_host(settings):
            self.headers["Host"] = host
        self.params = {"namespace": settings.namespace}
        if settings.region:
            self.params["region"] = settings.region
        self.session = self._requests_session()
        self._http_client: httpx.Client | None = None
        self._http_lock = threading.Lock()

    def _requests_session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.headers)
        # Session parameters go on every request: python-nomad itself adds the namespace only on
        # some endpoints (not /v1/evaluation, /v1/agent), where the Go client sends it on all.
        session.params = dict(self.params)
        session.auth = self.auth
        if self.endpoint.socket_path:
            session.trust_env = False  # proxies mean nothing on a unix socket
            session.mount("http://", _UnixSocketAdapter(self.endpoint.socket_path))
        elif self.tls is not None:
            session.mount("https://", _TLSAdapter(self.tls, self.settings.tls_server_name))
        return session

    def python_nomad(self, api_class: type[T]) -> T:
        """A python-nomad endpoint object (nomad.api.Jobs, ...) on this transport's session.

        The classes directly, not nomad.Nomad: Nomad() fills unset values (token, region,
        namespace, client cert) from os.environ, which would override explicit settings. The
        token comes from the session; namespace and region too where python-nomad leaves them
        out, but where it passes its own (None for unset) requests would drop the session's.
        """
        return api_class(  # type: ignore[call-arg]
            address=self.endpoint.base_url,
            namespace=self.settings.namespace,
            region=self.settings.region,
            timeout=REST_TIMEOUT,
            verify=not self.settings.skip_verify,  # python-nomad defaults to False; the adapter enforces it anyway
            session=self.session,
        )

    def httpx_options(self) -> dict[str, Any]:
        """What an httpx client needs to talk to this cluster, sync or async."""
        return {
            "base_url": self.endpoint.base_url,
            "headers": self.headers,
            "params": self.params,
            "auth": self.auth,
            # An http:// address never negotiates TLS; False just skips loading CA roots.
            "verify": self.tls if self.tls is not None else False,
            "trust_env": not self.endpoint.socket_path,
        }

    @property
    def sni_extensions(self) -> dict[str, str]:
        """The TLS server name for httpx requests: SNI and the name the certificate must carry."""
        name = self.settings.tls_server_name
        return {"sni_hostname": name} if name else {}

    @property
    def http(self) -> httpx.Client:
        """The httpx client (created on first use), for streams and blocking queries."""
        with self._http_lock:
            if self._http_client is None:
                self._http_client = self._new_http_client()
            return self._http_client

    def _new_http_client(self) -> httpx.Client:
        import httpcore
        import httpx

        # httpcore reads a response 64 KiB at a time, and parses each read in Python (h11): a log
        # stream of 100 MB/s is then mostly parsing overhead. Reads of up to 1 MiB halve its cost.
        httpcore.HTTP11Connection.READ_NUM_BYTES = max(STREAM_READ_BYTES, httpcore.HTTP11Connection.READ_NUM_BYTES)
        hooks = {}
        if extensions := self.sni_extensions:

            def set_server_name(request: httpx.Request) -> None:
                request.extensions.update(extensions)

            hooks["request"] = [set_server_name]
        socket_path = self.endpoint.socket_path
        return httpx.Client(
            **self.httpx_options(),
            transport=httpx.HTTPTransport(uds=socket_path) if socket_path else None,
            timeout=httpx.Timeout(REST_TIMEOUT[1], connect=REST_TIMEOUT[0]),
            event_hooks=hooks,
        )

    def close(self) -> None:
        self.session.close()
        with self._http_lock:
            if self._http_client is not None:
                self._http_client.close()
                self._http_client = None

    # -- errors ----------------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        token = self.settings.token
        return text.replace(token, "<token>") if token else text

    def unreachable(self, exc: BaseException) -> NomadUnreachable:
        reason = failure_reason(exc)
        if reason == CLOSED_WITHOUT_ANSWER and self.tls is not None and not self.settings.client_cert:
            # What a TLS 1.3 server that wants a client certificate may do instead of sending an alert.
            reason += " (if it requires a client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)"
        return NomadUnreachable(self.address, self.scrub(reason))

    def http_failure(self, status: int, body: str, capability: str | None, lookup: bool) -> NomadError:
        reason = self.scrub(body.strip())
        if status == 404 and lookup:
            return NomadNotFound(self.address, reason)
        return NomadRefused(self.address, status, reason, capability)

    def protocol_error(self, what: str) -> NomadError:
        return NomadError(f"Nomad at {self.address} sent {what}")

    def needs(self, capability: str, namespace: str | None = None) -> str:
        """The ACL a 403 names (acl/policy.go capabilities)."""
        return f'capability "{capability}" in namespace "{namespace or self.settings.namespace}"'

    # -- REST via python-nomad --------------------------------------------------------------------

    def rest(self, call: Callable[[], Any], capability: str, lookup: bool = False) -> Any:
        """python-nomad's `call()`, its failures as NomadErrors; `lookup`: a 404 is NomadNotFound."""
        try:
            return call()
        except nomad_exc.BaseNomadException as exc:
            answer = exc.nomad_resp
            if isinstance(answer, requests.Response):
                raise self.http_failure(answer.status_code, answer.text, capability, lookup) from None
            raise self.unreachable(answer) from None
        except requests.exceptions.JSONDecodeError:
            raise self.protocol_error("a response that is not JSON") from None
        except requests.RequestException as exc:
            raise self.unreachable(exc) from None

    # -- blocking queries and streams via httpx ---------------------------------------------------

    def blocking(self, path: str, index: int, wait: float | None, capability: str) -> Indexed[Any]:
        """GET `path` once its index passes `index`, or after `wait` seconds (api/api.go
        setQueryOptions: WaitIndex, WaitTime as "<n>ms"); a 404 is NomadNotFound."""
        import httpx

        params = {"index": str(index)}
        if wait is not None:
            params["wait"] = f"{int(wait * 1000)}ms"  # Go durToMsec
        longest = DEFAULT_WAIT_S if wait is None else wait
        timeout = httpx.Timeout(longest + longest / 16 + BLOCKING_MARGIN, connect=REST_TIMEOUT[0])
        try:
            response = self.http.get(path, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if not response.is_success:
            raise self.http_failure(response.status_code, response.text, capability, lookup=True)
        try:
            return Indexed(response.json(), int(response.headers["X-Nomad-Index"]))
        except (KeyError, ValueError):
            raise self.protocol_error("a blocking-query answer without a valid X-Nomad-Index or JSON body") from None

    @contextmanager
    def stream(
        self, path: str, params, read_timeout: float, capability: str | None, lookup: bool
    ) -> Iterator[httpx.Response]:
        """An open streaming GET; transport errors, then or while reading, become NomadUnreachable."""
        import httpx

        timeout = httpx.Timeout(read_timeout, connect=REST_TIMEOUT[0])
        try:
            with self.http.stream(
                "GET", path, params=params, timeout=timeout, headers={"Connection": "close"}
            ) as response:
                if not response.is_success:
                    response.read()
                    raise self.http_failure(response.status_code, response.text, capability, lookup)
                yield response
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
