"""The client's errors: every failure talking to Nomad is a NomadError whose str() is one line.

Standard library only, so that tapit/errors.py can map these without loading an HTTP stack.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

PERMISSION_DENIED = "Permission denied"  # api/api.go PermissionDeniedErrorContent
CLOSED_WITHOUT_ANSWER = "the server closed the connection without answering"
CLOSED_MID_ANSWER = "the server closed the connection in the middle of a response"
UNRESOLVABLE = "cannot resolve the host name"
# failure_reason's words for a request nothing answered (and the system's, errno.h's strerror).
NO_ANSWER = frozenset(
    {
        "connection refused",
        "timed out",
        CLOSED_WITHOUT_ANSWER,
        CLOSED_MID_ANSWER,
        "Network is unreachable",
        "No route to host",
        "Host is unreachable",
        "Connection reset by peer",
    }
)


class NomadError(Exception):
    """Any failure talking to Nomad; str() is one line fit to show a user."""


class NomadUnreachable(NomadError):
    """No HTTP answer: refused, unresolvable, TLS failure, timeout, bad address or TLS files."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"cannot reach Nomad at {address}: {reason}")
        self.address = address
        self.reason = reason

    @property
    def no_answer(self) -> bool:
        """Nothing answered (the network, or nothing listening), as opposed to a TLS or address
        problem that is the caller's to fix: a reader may then fall back to what it has kept."""
        return self.reason in NO_ANSWER or self.reason.startswith(UNRESOLVABLE)


class NomadRefused(NomadError):
    """Nomad answered with an error status. `reason` is its plain-text body: command/agent/http.go
    wrap writes the error string itself, never JSON."""

    def __init__(self, address: str, status: int, reason: str, capability: str | None = None):
        message = f"Nomad at {address} refused the request (HTTP {status}): {one_line(reason) or 'no reason given'}"
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
        super().__init__(f"Nomad at {address}: {one_line(reason) or 'not found'}")
        self.address = address
        self.status = 404
        self.reason = reason


class ExecError(NomadError):
    """An exec session could not be opened or broke before the command exited."""


def one_line(text: str) -> str:
    # Nomad's multierror bodies span lines ("1 error occurred:\n\t* ..."); a user sees one line.
    return " ".join(text.split())


def failure_reason(exc: BaseException) -> str:
    """A short cause for a transport failure. requests and httpx wrap the OSError or SSLError
    several levels deep (causes, contexts, `.reason`, args), so search the whole chain."""
    import http.client  # here: a command answered from the history never imports these
    import socket
    import ssl

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
        text = ssl_text(err)
        if "CERTIFICATE_REQUIRED" in (err.reason or ""):
            text += " (the server requires a client certificate: NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY)"
        return f"TLS handshake failed: {text}"
    if first(ConnectionRefusedError):
        return "connection refused"
    if first(http.client.RemoteDisconnected) or "disconnected without sending a response" in str(exc):
        return CLOSED_WITHOUT_ANSWER
    if first(http.client.IncompleteRead) or "peer closed connection" in str(exc):
        return CLOSED_MID_ANSWER
    if err := first(socket.gaierror):
        return f"{UNRESOLVABLE} ({err.strerror})"
    # The HTTP stacks' own timeouts, from whichever of them is loaded.
    timeouts = tuple(
        getattr(sys.modules.get(module), name, TimeoutError)
        for module, name in (("requests", "Timeout"), ("httpx", "TimeoutException"))
    )
    if first((TimeoutError, *timeouts)):
        return "timed out"
    # requests' exceptions are OSErrors too, without strerror: look for the system error.
    if system := next((e for e in chain if isinstance(e, OSError) and e.strerror), None):
        return str(system.strerror)
    return one_line(str(exc)) or type(exc).__name__


def ssl_text(err: ssl.SSLError) -> str:
    # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:1000)" -> the words
    text = str(err.args[1] if len(err.args) > 1 else err)
    return text.split("] ", 1)[-1].split(" (_ssl.c", 1)[0]
