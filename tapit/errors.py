"""The errors a user can meet, each with the exit code the CLI gives it.

Everything else that escapes is a bug; the CLI still reports it in one line.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class TapitError(Exception):
    """An error with a one-line message meant for the user."""

    exit_code = 1


class UsageError(TapitError):
    """Bad input: an unknown key, a malformed or out-of-range value, a missing task.

    Raised before anything is submitted or recorded.
    """

    exit_code = 2


class TaskNotFound(UsageError):
    def __init__(self, task_id: str):
        super().__init__(f"no task {task_id!r}; `tapit list tasks` shows the tasks there are")


class RuntimeUnavailable(TapitError):
    """Nomad (or the embedded agent) could not be reached, or refused the request."""

    exit_code = 3


class Offline(RuntimeUnavailable):
    """Nomad could not be reached at all (no HTTP answer): what tapit has kept locally can still be shown."""


class Refused(TapitError):
    """A valid request that the task's current state does not allow (delete while running)."""

    exit_code = 1


class LogsGone(TapitError):
    """Nomad no longer has an allocation's logs: its client keeps no state of it (the job was
    purged and collected, or the client garbage-collected it), or the allocation is unknown."""


@contextmanager
def nomad_errors() -> Iterator[None]:
    """The one place a failure talking to Nomad becomes tapit's: one line naming the address,
    exit code 3. The service raises nothing else, so the CLI and the TUI never see the client's
    errors."""
    from tapit.nomad.errors import NomadError, NomadUnreachable  # standard library only: cheap, and only when used

    try:
        yield
    except NomadUnreachable as exc:
        raise (Offline if exc.no_answer else RuntimeUnavailable)(str(exc)) from None
    except NomadError as exc:
        raise RuntimeUnavailable(str(exc) + policy_hint(exc)) from None


# Shipped beside the job's HCL: the capabilities each of tapit's commands needs.
OPERATOR_POLICY = "jobs/operator.policy.hcl"
AUDITOR_POLICY = "jobs/auditor.policy.hcl"


def policy_hint(exc: Exception) -> str:
    """For an ACL refusal that names the capability missing: the policy that grants it."""
    if getattr(exc, "status", None) == 403 and getattr(exc, "capability", None):
        return f"; tapit's {OPERATOR_POLICY} grants what its commands need ({AUDITOR_POLICY} to only read)"
    return ""
