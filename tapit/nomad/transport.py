"""tapit's Nomad client: REST through python-nomad, blocking queries and streams through httpx.

Both HTTP stacks get the same settings as Nomad's Go client applies (reference §1, §9): the token
as `X-Nomad-Token`, `namespace` and `region` on every request, TLS from the CA file or directory,
client certificate, skip-verify and server name, HTTP basic auth, and `unix://` addresses.
Every failure surfaces as one of three exceptions whose str() is a single line for the user.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import nomad.api
import nomad.api.client
import nomad.api.exceptions as nomad_exc
import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from tapit import __version__
from tapit.nomad.frames import FrameDecoder, LogFrame, data_frame
from tapit.nomad.settings import NomadSettings

if TYPE_CHECKING:
    import httpx

# httpx itself is imported where blocking queries and streams first need it: commands that only
# make REST calls (`list tasks`) should not pay for loading it.

# python-nomad's default 5 s would cut slow writes on a busy cluster; Go has no limit at all.
REST_TIMEOUT = (10.0, 60.0)  # (connect, read) seconds
# Log streams send a heartbeat every 1 s, the event stream every 30 s (agent write deadline 40 s):
# this much silence means the connection is dead.
LOG_READ_TIMEOUT = 60.0
EVENT_READ_TIMEOUT = 90.0
# A blocking query may last `wait` plus up to wait/16 of server jitter, plus transfer time.
BLOCKING_MARGIN = 15.0
STREAM_READ_BYTES = 1024 * 1024
# How soon a stream notices a `stop` set while its connection is quiet.
STOP_POLL = 0.2

PERMISSION_DENIED = "Permission denied"  # Go api.PermissionDeniedErrorContent
CLOSED_WITHOUT_ANSWER = "the server closed the connection without answering"


class NomadError(Exception):
    """Any failure talking to Nomad; str() is one line fit to show a user."""


class NomadUnreachable(NomadError):
    """No HTTP answer: refused, unresolvable, TLS failure, timeout, bad address or TLS files."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"cannot reach Nomad at {address}: {reason}")
        self.address = address
        self.reason = reason


class NomadRefused(NomadError):
    """Nomad answered with an error status. `reason` is its plain-text body (reference §1.2)."""

    def __init__(self, address: str, status: int, reason: str, capability: str | None = None):
        message = f"Nomad at {address} refused the request (HTTP {status}): {_one_line(reason) or 'no reason given'}"
        if status == 403 and capability and PERMISSION_DENIED in reason:
            message += f" (the token needs {capability})"
        super().__init__(message)
        self.address = address
        self.status = status
        self.reason = reason
        self.capability = capability


class NomadNotFound(NomadError):
    """A looked-up object (job, allocation, evaluation, log) does not exist: HTTP 404."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"Nomad at {address}: {_one_line(reason) or 'not found'}")
        self.address = address
        self.status = 404
        self.reason = reason


def _one_line(text: str) -> str:
    # Nomad's multierror bodies span lines ("1 error occurred:\n\t* ..."); a user sees one line.
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# Address and TLS


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
    """Go api.ConfigureTLS: the CA file, else every file under the CA directory, else the system
    roots. ValueError names the file that could not be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def load(what: str, path: str, loader: Callable[[], None]) -> None:
        try:
            loader()
        except (OSError, ValueError) as exc:
            if isinstance(exc, ssl.SSLError):
                detail = _ssl_text(exc)
            else:
                detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(str(exc))
            raise ValueError(f"cannot load the {what} {path}: {detail}") from None

    if settings.ca_cert:
        load("CA file", settings.ca_cert, lambda: context.load_verify_locations(cafile=settings.ca_cert))
    elif settings.ca_path:
        if not os.path.isdir(settings.ca_path):
            raise ValueError(f"the CA directory {settings.ca_path} does not exist")
        # Go (go-rootcerts) reads every file in the tree; OpenSSL's capath needs hash-named links.
        for root, _, files in sorted(os.walk(settings.ca_path)):
            for path in sorted(os.path.join(root, name) for name in files):
                load("CA file", path, lambda: context.load_verify_locations(cafile=path))
    else:
        context.load_default_certs()
    if settings.client_cert or settings.client_key:
        if not (settings.client_cert and settings.client_key):
            raise ValueError("both a client certificate and a client key must be given")
        load(
            "client certificate or key",
            settings.client_cert,
            lambda: context.load_cert_chain(settings.client_cert, settings.client_key),
        )
    if settings.skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# ---------------------------------------------------------------------------------------------
# requests adapters for python-nomad


class _TLSAdapter(requests.adapters.HTTPAdapter):
    """Uses tapit's SSLContext and server name instead of python-nomad's per-call verify/cert,
    which cannot express a CA directory read as Go does, nor a TLS server name."""

    def __init__(self, context: ssl.SSLContext, server_name: str | None):
        self._tls = {"ssl_context": context}
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
# Transport failures


def failure_reason(exc: BaseException) -> str:
    """A short cause for a transport failure. requests and httpx wrap the OSError or SSLError
    several levels deep (causes, contexts, `.reason`, args), so search the whole chain."""
    chain, todo, seen = [], [exc], set()
    while todo:
        err = todo.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        chain.append(err)
        linked = (err.__cause__, err.__context__, getattr(err, "reason", None), *err.args)
        todo.extend(e for e in linked if isinstance(e, BaseException))

    def first(kind):
        return next((e for e in chain if isinstance(e, kind)), None)

    if err := first(ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {err.verify_message}"
    if err := first(ssl.SSLError):
        text = _ssl_text(err)
        if "CERTIFICATE_REQUIRED" in (err.reason or ""):
            text += " (the server requires a client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)"
        return f"TLS handshake failed: {text}"
    if first(ConnectionRefusedError):
        return "connection refused"
    if first(http.client.RemoteDisconnected) or "disconnected without sending a response" in str(exc):
        return CLOSED_WITHOUT_ANSWER
    if first(http.client.IncompleteRead) or "peer closed connection" in str(exc):
        return "the server closed the connection in the middle of a response"
    if err := first(socket.gaierror):
        return f"cannot resolve the host name ({err.strerror})"
    httpx_timeout = getattr(sys.modules.get("httpx"), "TimeoutException", TimeoutError)
    if first(TimeoutError) or first(requests.Timeout) or first(httpx_timeout):
        return "timed out"
    # requests' exceptions are OSErrors too, without strerror: look for the system error.
    if err := next((e for e in chain if isinstance(e, OSError) and e.strerror), None):
        return err.strerror
    return _one_line(str(exc)) or type(exc).__name__


def _ssl_text(err: ssl.SSLError) -> str:
    # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:1000)" -> the words
    text = str(err.args[1] if len(err.args) > 1 else err)
    return text.split("] ", 1)[-1].split(" (_ssl.c", 1)[0]


def _go_bool(value: bool) -> str:
    return "true" if value else "false"  # strconv.FormatBool, as the Go client sends


def _path_id(value: str) -> str:
    return quote(value, safe="")  # Go url.PathEscape: an ID never changes the path


def _is_set(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _until_stopped(items: Iterator, stop: threading.Event | None) -> Iterator:
    """A stream's items until it ends or `stop` is set; a connection broken by the stop is no error."""
    import httpx

    try:
        for item in items:
            yield item
            if _is_set(stop):
                return
    except httpx.HTTPError:
        if not _is_set(stop):
            raise


@contextmanager
def _interrupt_on(stop: threading.Event | None, response: httpx.Response) -> Iterator[None]:
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
# The client


class NomadClient:
    """One Nomad cluster, as described by `settings`.

    Construction raises NomadUnreachable for an unusable address or unreadable TLS files.
    The generators (stream_logs, events) raise their errors at the first next().
    """

    def __init__(self, settings: NomadSettings):
        self.settings = settings
        self._endpoint = parse_endpoint(settings.address)
        self._address = display_address(settings)
        self._auth = self._endpoint.url_auth or settings.basic_auth
        self._ssl: ssl.SSLContext | None = None
        if self._endpoint.base_url.startswith("https:"):
            try:
                self._ssl = ssl_context(settings)
            except ValueError as exc:
                raise NomadUnreachable(self._address, str(exc)) from None
        if settings.skip_verify:
            # Asked for explicitly, as with Nomad's CLI, which does not nag on every request either.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._session = self._requests_session()
        rest = dict(
            address=self._endpoint.base_url,
            namespace=settings.namespace,
            region=settings.region,
            token=settings.token,
            timeout=REST_TIMEOUT,
            verify=not settings.skip_verify,  # python-nomad defaults to False; the adapter enforces it anyway
            session=self._session,
        )
        # nomad.api classes directly, not nomad.Nomad: Nomad() fills unset values (token, region,
        # namespace, client cert) from os.environ, which would override explicit settings.
        self._jobs = nomad.api.Jobs(**rest)
        self._job = nomad.api.Job(**rest)
        self._allocation = nomad.api.Allocation(**rest)
        self._evaluation = nomad.api.Evaluation(**rest)
        self._agent = nomad.api.Agent(**rest)
        self._nodes = nomad.api.Nodes(**rest)
        self._node = nomad.api.Node(**rest)
        self._client_allocation = nomad.api.client.allocation(**rest)
        self._http_client: httpx.Client | None = None
        self._http_lock = threading.Lock()

    def _requests_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = f"tapit/{__version__}"
        session.auth = self._auth
        if host := tunnelled_host(self.settings):
            session.headers["Host"] = host
        if self._endpoint.socket_path:
            session.trust_env = False  # proxies mean nothing on a unix socket
            session.mount("http://", _UnixSocketAdapter(self._endpoint.socket_path))
        elif self._ssl is not None:
            session.mount("https://", _TLSAdapter(self._ssl, self.settings.tls_server_name))
        return session

    @property
    def http(self) -> httpx.Client:
        """The httpx client (created on first use): base URL, token, namespace and region
        parameters, TLS and auth all set, for streams, blocking queries and websockets."""
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

        headers = {"User-Agent": f"tapit/{__version__}"}
        if self.settings.token:
            headers["X-Nomad-Token"] = self.settings.token
        if host := tunnelled_host(self.settings):
            headers["Host"] = host
        params = {"namespace": self.settings.namespace}
        if self.settings.region:
            params["region"] = self.settings.region
        hooks = {}
        if server_name := self.settings.tls_server_name:

            def set_server_name(request: httpx.Request) -> None:
                request.extensions["sni_hostname"] = server_name  # SNI and certificate name

            hooks["request"] = [set_server_name]
        socket_path = self._endpoint.socket_path
        return httpx.Client(
            base_url=self._endpoint.base_url,
            headers=headers,
            params=params,
            auth=self._auth,
            # An http:// address never negotiates TLS; False just skips loading CA roots.
            verify=self._ssl if self._ssl is not None else False,
            transport=httpx.HTTPTransport(uds=socket_path) if socket_path else None,
            trust_env=not socket_path,
            timeout=httpx.Timeout(REST_TIMEOUT[1], connect=REST_TIMEOUT[0]),
            event_hooks=hooks,
        )

    def close(self) -> None:
        self._session.close()
        with self._http_lock:
            if self._http_client is not None:
                self._http_client.close()
                self._http_client = None

    def __enter__(self) -> "NomadClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- errors ----------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        token = self.settings.token
        return text.replace(token, "<token>") if token else text

    def _unreachable(self, exc: BaseException) -> NomadUnreachable:
        reason = failure_reason(exc)
        if reason == CLOSED_WITHOUT_ANSWER and self._ssl is not None and not self.settings.client_cert:
            # What a TLS 1.3 server that wants a client certificate may do instead of sending an alert.
            reason += " (if it requires a client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)"
        return NomadUnreachable(self._address, self._scrub(reason))

    def _http_failure(self, status: int, body: str, capability: str | None, lookup: bool) -> NomadError:
        reason = self._scrub(body.strip())
        if status == 404 and lookup:
            return NomadNotFound(self._address, reason)
        return NomadRefused(self._address, status, reason, capability)

    def _protocol_error(self, what: str) -> NomadError:
        return NomadError(f"Nomad at {self._address} sent {what}")

    def _needs(self, capability: str, namespace: str | None = None) -> str:
        return f'capability "{capability}" in namespace "{namespace or self.settings.namespace}"'

    # -- REST via python-nomad --------------------------------------------------------------------

    def _rest(self, call: Callable[[], Any], capability: str, lookup: bool = False) -> Any:
        try:
            return call()
        except nomad_exc.BaseNomadException as exc:
            answer = exc.nomad_resp
            if isinstance(answer, requests.Response):
                raise self._http_failure(answer.status_code, answer.text, capability, lookup) from None
            raise self._unreachable(answer) from None
        except requests.exceptions.JSONDecodeError:
            raise self._protocol_error("a response that is not JSON") from None
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None

    def register_job(self, job: dict) -> dict:
        """POST /v1/jobs {"Job": job}; the JobRegisterResponse (EvalID, JobModifyIndex, Warnings...)."""
        return self._rest(lambda: self._jobs.register_job({"Job": job}), self._needs("submit-job"))

    def get_job(self, job_id: str) -> dict | None:
        try:
            return self._rest(lambda: self._job.get_job(_path_id(job_id)), self._needs("read-job"), lookup=True)
        except NomadNotFound:
            return None

    def list_jobs(self, prefix: str, namespace: str | None = None) -> list[dict]:
        """JobListStubs with Meta; namespace "*" lists every namespace the token can read."""
        ns = namespace or self.settings.namespace
        return self._rest(
            lambda: self._jobs.get_jobs(prefix=prefix or None, namespace=ns, meta=True),
            self._needs("list-jobs", ns),
        )

    def job_allocations(self, job_id: str) -> list[dict]:
        return self._rest(lambda: self._job.get_allocations(_path_id(job_id)), self._needs("read-job"), lookup=True)

    def job_evaluations(self, job_id: str) -> list[dict]:
        return self._rest(lambda: self._job.get_evaluations(_path_id(job_id)), self._needs("read-job"), lookup=True)

    def get_allocation(self, alloc_id: str) -> dict:
        return self._rest(
            lambda: self._allocation.get_allocation(_path_id(alloc_id)), self._needs("read-job"), lookup=True
        )

    def get_evaluation(self, eval_id: str) -> dict:
        # python-nomad adds no namespace on /v1/evaluation; the Go client sends it on every call.
        return self._rest(
            lambda: self._evaluation.request(_path_id(eval_id), method="get", params=self._ns_param()).json(),
            self._needs("read-job"),
            lookup=True,
        )

    def deregister_job(self, job_id: str, purge: bool = False) -> dict:
        """DELETE /v1/job/:id; an unknown job is not an error (EvalID "")."""
        needs = '"submit-job" or "purge-job"' if purge else '"submit-job" or "deregister-job"'
        return self._rest(
            # Like Go, send purge only when set (python-nomad would send "False").
            lambda: self._job.deregister_job(_path_id(job_id), purge=True if purge else None),
            f'capability {needs} in namespace "{self.settings.namespace}"',
        )

    def agent_self(self) -> dict:
        return self._rest(
            lambda: self._agent.request("self", method="get", params=self._ns_param()).json(), 'agent policy "read"'
        )

    def list_nodes(self) -> list[dict]:
        return self._rest(lambda: self._nodes.get_nodes(), 'node policy "read"')

    def get_node(self, node_id: str) -> dict:
        return self._rest(lambda: self._node.get_node(_path_id(node_id)), 'node policy "read"', lookup=True)

    def alloc_stats(self, alloc_id: str) -> dict:
        return self._rest(
            lambda: self._client_allocation.read_allocation_stats(_path_id(alloc_id)),
            self._needs("read-job"),
            lookup=True,
        )

    def _ns_param(self) -> dict:
        return {"namespace": self.settings.namespace}

    # -- blocking queries and streams via httpx ---------------------------------------------------

    def _get(self, path: str, params: dict, timeout: httpx.Timeout, capability: str, lookup: bool) -> httpx.Response:
        import httpx

        try:
            response = self.http.get(path, params=params, timeout=timeout)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if not response.is_success:
            raise self._http_failure(response.status_code, response.text, capability, lookup)
        return response

    @contextmanager
    def _stream(
        self, path: str, params, read_timeout: float, capability: str, lookup: bool
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
                    raise self._http_failure(response.status_code, response.text, capability, lookup)
                yield response
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _blocking(self, path: str, index: int, wait: float) -> tuple[Any, int]:
        import httpx

        params = {"index": str(index), "wait": f"{int(wait * 1000)}ms"}  # Go durToMsec
        timeout = httpx.Timeout(wait + wait / 16 + BLOCKING_MARGIN, connect=REST_TIMEOUT[0])
        response = self._get(path, params, timeout, self._needs("read-job"), lookup=True)
        try:
            new_index = int(response.headers["X-Nomad-Index"])
            return response.json(), new_index
        except (KeyError, ValueError):
            raise self._protocol_error("a blocking-query answer without a valid X-Nomad-Index or JSON body") from None

    def wait_job_allocations(self, job_id: str, index: int, wait: float = 60) -> tuple[list[dict], int]:
        """The job's allocations once their index passes `index`, or after `wait` seconds."""
        return self._blocking(f"/v1/job/{_path_id(job_id)}/allocations", index, wait)

    def wait_allocation(self, alloc_id: str, index: int, wait: float = 60) -> tuple[dict, int]:
        """The allocation once its index passes `index`, or after `wait` seconds."""
        return self._blocking(f"/v1/allocation/{_path_id(alloc_id)}", index, wait)

    def log_frames(
        self,
        alloc_id: str,
        task: str,
        log_type: str,
        follow: bool = False,
        offset: int = 0,
        origin: str = "start",
        stop: threading.Event | None = None,
    ) -> Iterator[LogFrame]:
        """The task's log as data frames, each naming the rotated file its bytes come from and
        where in it they end (heartbeats and file events dropped).

        `offset` counts over the rotated files still on disk, from the oldest (origin "start") or
        back from the newest ("end"): client/fs_endpoint.go findClosest. Nomad never ends a
        followed stream when the task dies: the caller sets `stop`, and the generator then
        returns after yielding what had arrived. It also returns when Nomad closes the stream.
        """
        params = {
            "task": task,
            "type": log_type,
            "follow": _go_bool(follow),
            "offset": str(offset),
            "origin": origin,
            "plain": "false",
        }
        path = f"/v1/client/fs/logs/{_path_id(alloc_id)}"
        decoder = FrameDecoder()
        with self._stream(path, params, LOG_READ_TIMEOUT, self._needs("read-logs"), lookup=True) as response:
            with _interrupt_on(stop, response):
                for chunk in _until_stopped(response.iter_bytes(), stop):
                    try:
                        frames = [data_frame(f) for f in decoder.feed(chunk)]
                    except ValueError as exc:
                        raise self._protocol_error(f"a malformed log stream ({exc})") from None
                    yield from (f for f in frames if f is not None)
        if decoder.pending and not _is_set(stop):
            raise self._protocol_error("a log stream that ended in the middle of a frame")

    def stream_logs(self, alloc_id: str, task: str, log_type: str, **options) -> Iterator[bytes]:
        """The task's log bytes as they arrive: the data of log_frames (same options)."""
        return (frame.data for frame in self.log_frames(alloc_id, task, log_type, **options))

    def events(self, topics: list[str], index: int = 0, stop: threading.Event | None = None) -> Iterator[dict]:
        """Event stream messages {"Index": n, "Events": [...]} from `index` on; topics such as
        "Job" or "Allocation:<job id>". Heartbeats are dropped. Returns when `stop` is set or
        the stream ends."""
        params = [("index", str(index))] + [("topic", topic) for topic in topics]
        job_topics = {"Job", "Allocation", "Evaluation", "Deployment"}
        capability = self._needs("read-job") if all(t.split(":")[0] in job_topics for t in topics) else None
        with self._stream("/v1/event/stream", params, EVENT_READ_TIMEOUT, capability, lookup=False) as response:
            with _interrupt_on(stop, response):
                for line in _until_stopped(response.iter_lines(), stop):
                    if not line.strip():
                        continue
                    try:
                        message = json.loads(line)
                    except ValueError:
                        message = None
                    if not isinstance(message, dict):
                        raise self._protocol_error("a malformed event stream line")
                    if message.get("Index") or message.get("Events"):  # Go Events.IsHeartbeat
                        yield message
