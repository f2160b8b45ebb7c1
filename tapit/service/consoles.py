"""Interactive consoles: a keep-alive task to exec into, its lifetime, and its audit trail.

No terminal I/O here, so the CLI (`tapit run`) and the TUI's terminal pane share it:

    console = start_console(service, spec, progress=print)      # blocking: placement
    try:
        async with console.session(tty=True, rows=24, cols=80, term="xterm",
                                   on_notice=show) as session:
            await session.send_stdin(b"ls\\r")
            await session.resize(40, 120)
            async for event in session:                          # Output..., then Exited
                ...
    finally:
        record = console.close()                                 # blocking: stop + purge + record
    code = console.exit_status()

How a console ends, whatever happens to its client. The job's task is not the user's command
but a keep-alive shell (Convox's pattern) that lives until the earlier of two deadlines:
- the hard one, `max_hours` (else `console_max_hours`), which it enforces itself and which
  is also the group's `max_run_duration` and tapit's own deadline in the task record;
- an idle deadline, kept in `$NOMAD_ALLOC_DIR/tapit-console-idle-deadline` as node-clock epoch
  seconds. The client moves it to "now + idle timeout" by running a one-line exec in the
  allocation while the session is active (at most every tenth of the timeout). Only the live
  client can do that, so a SIGKILLed client, a dead laptop or a cut network all leave a
  deadline that passes, and the keep-alive exits: no console outlives its client by more
  than the idle timeout, on the embedded agent and on any real Nomad cluster alike, with no
  reaper process to run. Only `sh`, `date`, `cat`, `mv` and `sleep` are needed in the image.
Active means input or output in the last idle timeout (Heroku's rule) on a TTY, and simply a
live client without one (a pipe has nobody to warn). The client ends a silent session itself
just before the keep-alive would, after a one-line warning `idle_warning_s` ahead, so the user
always learns why; any keystroke extends it.

When a session ends (the program exits, the user disconnects, a signal, a lost connection) the
caller calls `close()`, which purges the job and writes the record: exit code, times, why it
ended, and the transcript (`logs/<id>/console.cast`, asciicast v2, output only) with the raw
output archived as the task's stdout/stderr so `tapit show logs` prints it like any task's.
"""

from __future__ import annotations

import asyncio
import math
import shlex
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime, timezone

from tapit.errors import OPERATOR_POLICY, RuntimeUnavailable, TapitError, nomad_errors
from tapit.model import TaskRecord, now_iso, parse_iso
from tapit.nomad.errors import PERMISSION_DENIED, ExecError
from tapit.nomad.session_events import Exited, Output  # a session's events, as the CLI and the TUI read them
from tapit.params import TaskSpec
from tapit.service.placement import POLL_S, await_placement
from tapit.service.tasks import TaskService
from tapit.transcript import CAST_NAME, Transcript
from tapit.translate.jobspec import TASK_NAME
from tapit.translate.status import observe

Progress = Callable[[str], None]
Notice = Callable[[str], None]

IDLE_FILE = "tapit-console-idle-deadline"
MIN_IDLE_S = 3
WATCH_TICK_S = 1.0
# Exit codes for a console that tapit ended rather than the program itself.
EXIT_TIMED_OUT = 124  # idle or max_hours, as coreutils `timeout`
EXIT_DISCONNECTED = 255  # `~.`, as ssh


class ConsoleError(TapitError):
    """The console could not start or the session broke; one line for the user."""


def _console_error(exc: ExecError, namespace: str) -> ConsoleError:
    """An exec session that Nomad refused or that broke, as the console's error in one line.

    Nomad refuses an exec with the same "Permission denied" for a token without alloc-exec (and
    alloc-node-exec where the driver has no filesystem isolation) and for a client started with
    disable_remote_exec (client/alloc_endpoint.go execImpl), so the line names both."""
    if PERMISSION_DENIED not in str(exc):
        return ConsoleError(str(exc))
    return ConsoleError(
        f'Nomad refused the console (Permission denied): the token needs capability "alloc-exec" in '
        f'namespace "{namespace}" (and "alloc-node-exec" for a raw_exec task), as tapit\'s {OPERATOR_POLICY} '
        "grants; or the node's Nomad client sets disable_remote_exec, which no token overrides"
    )


@contextmanager
def exec_errors(namespace: str) -> Iterator[None]:
    """An exec session into a task of `namespace` that Nomad refused or that broke: ConsoleError."""
    try:
        yield
    except ExecError as exc:
        raise _console_error(exc, namespace) from None


def idle_timeout_s(service: TaskService) -> int:
    return max(MIN_IDLE_S, round(service.config.console_idle_timeout_s))


def _write_deadline(idle_s: int) -> str:
    # Written to a temporary file and renamed, so the keep-alive never reads a half-written number.
    return f'f="$NOMAD_ALLOC_DIR/{IDLE_FILE}"; echo $(( $(date +%s) + {idle_s} )) > "$f.$$" && mv -f "$f.$$" "$f"'


def keepalive_argv(idle_s: int, max_hours: float) -> list[str]:
    """The console task: sleep until the idle deadline (re-read on waking) or the hard deadline."""
    script = f"""{_write_deadline(idle_s)}
end=$(( $(date +%s) + {math.ceil(max_hours * 3600)} ))
while :; do
  now=$(date +%s)
  left=$(( $(cat "$f") - now ))
  [ $(( end - now )) -lt "$left" ] && left=$(( end - now ))
  [ "$left" -gt 0 ] || break
  sleep "$left"
done
echo "tapit: console ended: no active session for {idle_s}s, or max_hours reached" >&2
"""
    return ["/bin/sh", "-c", script]


def start_console(service: TaskService, spec: TaskSpec, progress: Progress = lambda message: None) -> "Console":
    """Register the console's job and wait until its task runs, reporting progress.

    ConsoleError when Nomad cannot place or start it; the job is purged and the record says why.
    Blocking (REST calls); the TUI runs it in a worker thread.
    """
    max_hours = spec.max_hours or service.config.console_max_hours
    spec = replace(spec, max_hours=max_hours)
    record = service.create(spec, kind="console", argv=keepalive_argv(idle_timeout_s(service), max_hours))
    console = Console(service, record)
    try:
        console.alloc_id = _until_running(service, record, progress)
    except ConsoleError as exc:
        console.abandon("failed", str(exc))
        raise
    except BaseException as exc:  # Ctrl-C, a signal, Nomad unreachable: leave nothing behind
        console.abandon("stopped", f"cancelled while starting ({type(exc).__name__})")
        raise
    return console


def _until_running(service: TaskService, record: TaskRecord, progress: Progress) -> str:
    progress("waiting for placement…")
    # Queued (no room yet) it keeps waiting, as Nomad does; Ctrl-C cancels the console.
    alloc = await_placement(service, record, threading.Event(), progress)
    if alloc is None:
        reason = (record.reason or record.status).removeprefix("not placed: ")
        raise ConsoleError(f"console {record.id} could not be placed: {reason}")
    progress(f"placed on node {alloc.get('NodeName') or alloc.get('NodeID', '?')[:8]}")
    progress("starting…")
    alloc_index = 0
    with nomad_errors():
        while alloc.get("ClientStatus") == "pending":
            alloc, alloc_index = service._nomad(record).allocations.info(alloc["ID"], index=alloc_index, wait=POLL_S)
    if alloc.get("ClientStatus") != "running":
        seen = observe([alloc], [])
        raise ConsoleError(f"console {record.id} did not start: {seen.reason or alloc.get('ClientStatus')}")
    service._apply(record, {"status": "running", "nomad_alloc_id": alloc["ID"], "node_name": alloc.get("NodeName")})
    return alloc["ID"]


class Console:
    """A running console task. Open one `session()` on it, then `close()` it exactly once."""

    def __init__(self, service: TaskService, record: TaskRecord):
        self.service = service
        self.record = record
        self.alloc_id: str | None = None
        self.exited: Exited | None = None  # the program's own end
        self.end_reason: str | None = None  # set when tapit ended the session
        self.end_status = "stopped"
        self.local_exit: int | None = None
        self.error: str | None = None  # the session broke
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.closed = False

    def running_alloc(self) -> str:
        """The allocation its task runs in: start_console sets it before handing the console out."""
        assert self.alloc_id is not None, "a console is used only once start_console has it running"
        return self.alloc_id

    @property
    def cast_path(self):
        return self.service.history.log_path(self.record.id, CAST_NAME)

    @asynccontextmanager
    async def session(
        self,
        *,
        tty: bool,
        rows: int = 24,
        cols: int = 80,
        term: str | None = None,
        on_notice: Notice = lambda message: None,
    ) -> AsyncIterator["ConsoleSession"]:
        """Run the console's command in the task, with a TTY of rows x cols or with pipes.

        ConsoleError when Nomad refuses or cannot be reached.
        """
        line = self.record.command
        if tty and term:
            line = f"export TERM={shlex.quote(term)}\n{line}"  # exec'd processes get the task's env only
        if tty:
            # Ctrl-C at a terminal signals the shell too. dash (Debian's /bin/sh) then kills itself
            # with SIGINT once the program ends, even one that took the Ctrl-C and exited 0 (python
            # at its prompt). With a trap it carries on, as bash does, unless the program died of
            # the Ctrl-C (status 128 + SIGINT); the program itself gets the signal as its own,
            # since a trapped signal is reset in the programs a shell runs (POSIX "trap").
            line = f"trap 'case $? in 130) exit 130;; esac' INT\n{line}"
        history = self.service.history
        transcript = Transcript(self.cast_path, cols, rows, self.record.command, term if tty else None)
        # Unbuffered, and the transcript line-buffered: a SIGKILLed client leaves all it showed.
        raw = {
            stream: history.log_path(self.record.id, stream).open("wb", buffering=0) for stream in ("stdout", "stderr")
        }
        # The output is archived here, live; the keep-alive's own (empty) logs must never replace it.
        self.service._apply(self.record, {"logs_archived": True})
        self.started_at = now_iso()
        command = ["/bin/sh", "-c", line]
        try:
            with exec_errors(self.record.nomad_namespace):
                async with self.service._nomad(self.record).allocations.exec(
                    self.running_alloc(), TASK_NAME, command, tty
                ) as exec_session:
                    session = ConsoleSession(self, exec_session, tty, transcript, raw, on_notice)
                    if tty:
                        await exec_session.resize(rows, cols)  # before any input, as Nomad's CLI does
                    watch = asyncio.create_task(session.watch())
                    try:
                        yield session
                    finally:
                        watch.cancel()
        finally:
            self.finished_at = now_iso()
            transcript.close()
            for handle in raw.values():
                handle.close()

    def exit_status(self) -> int:
        """tapit's exit code: the program's own, else the convention for how tapit ended it."""
        if self.exited is not None:
            return self.exited.exit_code or (128 + self.exited.signal if self.exited.signal else 0)
        if self.local_exit is not None:
            return self.local_exit
        return RuntimeUnavailable.exit_code  # Nomad refused the exec or the connection broke

    def close(self) -> TaskRecord:
        """Stop and purge the job and complete the record. Blocking; safe to call twice."""
        if self.closed:
            return self.record
        changes: dict[str, object] = {
            "status": self.end_status,
            "reason": self.end_reason,
            "exit_code": None,
            "started_at": self.started_at,
            "finished_at": self.finished_at or now_iso(),
            "logs_archived": True,
        }
        if self.exited is not None:
            code = self.exit_status()
            changes.update(
                status="complete" if code == 0 else "failed",
                exit_code=code,
                reason=None if code == 0 else _exit_reason(self.exited),
            )
        elif self.error is not None:
            changes.update(status="failed", reason=self.error)
        if self.end_reason and self.exited is None and self.end_status == "stopped":
            changes["stop_requested_by"] = self.record.initiated_by
        purge_error = self._purge()
        if purge_error:
            changes["reason"] = (
                f"{changes['reason'] or 'ended'}; the job could not be purged ({purge_error}): "
                f"it ends by itself within {idle_timeout_s(self.service)}s"
            )
        return self._update(changes)

    def abandon(self, status: str, reason: str) -> TaskRecord:
        """The console never got a session: purge its job and say why in the record."""
        self._purge()
        return self._update({"status": status, "reason": reason, "finished_at": now_iso()})

    def _purge(self) -> str | None:
        try:
            self.service._stop_job(self.record, purge=True)
        except RuntimeUnavailable as exc:
            return str(exc)
        return None

    def _update(self, changes: dict) -> TaskRecord:
        changes = {k: v for k, v in changes.items() if v is not None or k == "exit_code"}
        self.record = self.service._apply(self.record, changes)
        self.closed = True
        return self.record


def _exit_reason(exited: Exited) -> str:
    if exited.oom_killed:
        return "killed: out of memory"
    if exited.signal and not exited.exit_code:
        return f"killed by signal {exited.signal}"
    return f"exited with code {exited.exit_code}"


class ConsoleSession:
    """The live session: what the caller sends and reads, with the idle bookkeeping and the
    transcript kept on the side. Iterate it for Output events and a final Exited; the iteration
    simply stops when tapit ended the session itself (see `Console.end_reason`)."""

    def __init__(self, console: Console, exec_session, tty: bool, transcript: Transcript, raw: dict, on_notice: Notice):
        self.console = console
        self.tty = tty
        self._exec = exec_session
        self._transcript = transcript
        self._raw = raw
        self._notice = on_notice
        self.idle_s = idle_timeout_s(console.service)
        self.idle_warning_s = min(60.0, self.idle_s / 4)
        self._refresh_every = max(1.0, self.idle_s / 10)
        self._refreshed_at = -math.inf
        self._idle_deadline = time.monotonic() + self.idle_s - 1
        self._hard_deadline = _monotonic_at(console.record.deadline_at)
        self._active = True
        self._warned = False
        self._poke = asyncio.Event()

    async def send_stdin(self, data: bytes) -> None:
        """ConsoleError once the connection is gone, as for close_stdin and resize."""
        self._activity()
        with exec_errors(self.console.record.nomad_namespace):
            await self._exec.send_stdin(data)

    async def close_stdin(self) -> None:
        with exec_errors(self.console.record.nomad_namespace):
            await self._exec.close_stdin()

    async def resize(self, rows: int, cols: int) -> None:
        self._activity()
        self._transcript.resize(rows, cols)
        with exec_errors(self.console.record.nomad_namespace):
            await self._exec.resize(rows, cols)

    async def end(self, reason: str, exit_code: int = EXIT_DISCONNECTED, status: str = "stopped") -> None:
        """End the session from this side (`~.`, a signal, a timeout); the iteration then stops."""
        console = self.console
        if console.end_reason is None and console.exited is None:
            console.end_reason, console.local_exit, console.end_status = reason, exit_code, status
        await self._exec.close()

    def __aiter__(self):
        return self._events()

    async def _events(self) -> AsyncIterator[Output | Exited]:
        try:
            async for event in self._exec:
                if isinstance(event, Output):
                    self._activity()
                    self._raw[event.stream].write(event.data)
                    self._transcript.output(event.data)
                else:
                    self.console.exited = event
                yield event
        except ExecError as exc:
            if self.console.end_reason is None:
                error = _console_error(exc, self.console.record.nomad_namespace)
                self.console.error = str(error)
                raise error from None

    def _activity(self) -> None:
        self._active = True
        if self._warned:
            self._poke.set()

    async def watch(self) -> None:
        """Keep the idle deadline moving while active; warn, then end, when it is about to pass."""
        while True:
            now = time.monotonic()
            if (self._active or not self.tty) and (self._warned or now - self._refreshed_at >= self._refresh_every):
                await self._refresh()
            now = time.monotonic()
            if now >= self._hard_deadline:
                await self.end("reached max_hours", EXIT_TIMED_OUT, "timed_out")
                return
            if now >= self._idle_deadline:
                await self.end(f"stopped after {self.idle_s}s without activity", EXIT_TIMED_OUT)
                return
            if self.tty and not self._warned and self._idle_deadline - now <= self.idle_warning_s:
                self._warned = True
                self._notice(f"idle: this console stops in {self._idle_deadline - now:.0f}s; press any key to keep it")
            self._poke.clear()
            try:
                await asyncio.wait_for(self._poke.wait(), timeout=min(WATCH_TICK_S, self._idle_deadline - now))
            except TimeoutError:
                pass

    async def _refresh(self) -> None:
        """Move the keep-alive's idle deadline with a one-line exec of its own."""
        started = time.monotonic()
        self._active = False
        console = self.console
        command = ["/bin/sh", "-c", _write_deadline(self.idle_s)]
        try:
            async with console.service._nomad(console.record).allocations.exec(
                console.running_alloc(), TASK_NAME, command, False
            ) as refresh:
                async for _ in refresh:
                    pass
        except ExecError:
            return  # the deadline stays where it was; a broken connection shows in the session itself
        self._refreshed_at = started
        # One second earlier than the node's deadline (whole seconds there), so tapit ends it first.
        self._idle_deadline = started + self.idle_s - 1
        self._warned = False


def _monotonic_at(deadline_at: str | None) -> float:
    if not deadline_at:
        return math.inf
    remaining = (parse_iso(deadline_at) - datetime.now(timezone.utc)).total_seconds()
    return time.monotonic() + remaining
