"""`tapit run 'command'`: an interactive console on Nomad, and `show logs --replay` of its transcript.

The terminal side of a console (tapit.service.consoles holds the rest). With a terminal on stdin the
local terminal goes raw and everything, Ctrl-C and Ctrl-D included, goes to the remote program;
`~.` at the start of a line disconnects, as in ssh and `nomad alloc exec`. Without one, stdin
and stdout are plain pipes. tapit exits with the remote program's exit code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import termios
import threading
import time
import tty as ttymode

from tapit.commands import task_service
from tapit.commands.usage import form
from tapit.errors import UsageError
from tapit.params import CONSOLE_KEYS, build_spec, parse_assignments

TILDE, DOT = ord("~"), ord(".")
NEWLINES = (ord("\r"), ord("\n"))
STDIN_READ = 4096
# A replay shortens longer pauses to this, as asciinema's idle_time_limit does.
REPLAY_MAX_PAUSE_S = 2.0


class Hangup(BaseException):
    """SIGHUP or SIGTERM while the console is being placed: clean up, then exit 128+signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def run_command(words: list[str]) -> int:
    if not words:
        raise UsageError(f"the command is missing; use {form('run')}")
    command, assignments = words[0], words[1:]
    values = parse_assignments(assignments, CONSOLE_KEYS)
    from tapit.service import default_initiator
    from tapit.service.consoles import start_console

    service = task_service()
    spec = build_spec(command, values, service.config, default_initiator())
    tty = sys.stdin.isatty()
    previous = {sig: signal.signal(sig, _raise_hangup) for sig in (signal.SIGHUP, signal.SIGTERM)}
    try:
        console = start_console(service, spec, progress=_progress)
    except Hangup as exc:
        return 128 + exc.signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    try:
        asyncio.run(_attach(console, tty))
    except Exception as exc:  # ConsoleError and the like: reported in one line once the record is written
        console.error = console.error or str(exc)
    finally:
        record = console.close()
    if console.error or console.end_reason:
        lead = "\n" if tty else ""
        print(f"{lead}tapit: console {record.id}: {record.reason}", file=sys.stderr)
    return console.exit_status()


def run_shell(task_id: str) -> int:
    """The TUI's `E`: a shell in a running task's allocation, on this terminal, until it exits or `~.`."""
    from tapit.service.shells import open_shell

    shell = open_shell(task_service(), task_id)
    tty = sys.stdin.isatty()
    _progress(f"shell in task {shell.record.id} (allocation {(shell.record.nomad_alloc_id or '')[:8]}); ~. disconnects")
    asyncio.run(_attach(shell, tty))  # ConsoleError: the caller prints its one line
    if shell.end_reason:
        print(f"{chr(10) if tty else ''}tapit: shell in task {shell.record.id}: {shell.end_reason}", file=sys.stderr)
    return shell.exit_status()


def _raise_hangup(signum, frame) -> None:
    raise Hangup(signum)


def _progress(message: str) -> None:
    from tapit.translate.status import QUEUED_PREFIX

    # Progress is for a terminal; why a console waits (queued) is said in a pipe too.
    if sys.stderr.isatty() or message.startswith(QUEUED_PREFIX):
        print(f"tapit: {message}", file=sys.stderr, flush=True)


async def _attach(console, tty: bool) -> None:
    loop = asyncio.get_running_loop()
    size = os.get_terminal_size(sys.stdin.fileno()) if tty else os.terminal_size((80, 24))
    out = sys.stdout.fileno()
    async with console.session(
        tty=tty,
        rows=size.lines,
        cols=size.columns,
        term=os.environ.get("TERM"),
        on_notice=lambda text: _notice(out, text, tty),
    ) as session:
        sends: asyncio.Queue = asyncio.Queue()
        ends = set()  # strong references to end() tasks started from signal handlers

        def end(reason: str, code: int) -> None:
            task = loop.create_task(session.end(reason, code))
            ends.add(task)
            task.add_done_callback(ends.discard)

        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):  # from kill: raw keys raise none
            loop.add_signal_handler(sig, end, f"ended: tapit got {signal.Signals(sig).name}", 128 + sig)
        sender = asyncio.create_task(_send_all(sends))
        try:
            if tty:
                with _raw(sys.stdin.fileno()):
                    _read_terminal(loop, session, sends, end)

                    def resized() -> None:
                        size = os.get_terminal_size(sys.stdin.fileno())  # now, not when the send runs
                        sends.put_nowait(lambda: session.resize(size.lines, size.columns))

                    loop.add_signal_handler(signal.SIGWINCH, resized)
                    try:
                        await _print_output(session, out)
                    finally:
                        loop.remove_reader(sys.stdin.fileno())
            else:
                _read_pipe(loop, session, sends)
                await _print_output(session, out)
        finally:
            sender.cancel()


async def _send_all(sends: asyncio.Queue) -> None:
    """Send keystrokes, resizes and EOF one at a time, in the order they happened."""
    from tapit.service.consoles import ConsoleError

    while True:
        make = await sends.get()
        try:
            await make()
        except ConsoleError:
            return  # the connection is gone; the output side reports why


async def _print_output(session, out: int) -> None:
    from tapit.service.consoles import Output

    for_stream = {"stdout": out, "stderr": sys.stderr.fileno()}
    async for event in session:
        if isinstance(event, Output):
            _write_all(for_stream[event.stream], event.data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            time.sleep(0.001)  # the terminal is behind; never drop output
        except OSError:
            return  # the terminal is gone (SIGHUP follows): nothing left to show it on


def _notice(out: int, text: str, tty: bool) -> None:
    if tty:
        _write_all(out, f"\r\n[tapit] {text}\r\n".encode())
    else:
        print(f"tapit: {text}", file=sys.stderr, flush=True)


class EscapeFilter:
    """ssh's escapes: `~.` at the start of a line disconnects, `~~` sends one `~`, and any
    other key after `~` sends both. A line starts after Enter, and at the start of the session."""

    def __init__(self) -> None:
        self.at_line_start = True
        self.pending = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to send, and whether the user asked to disconnect."""
        out = bytearray()
        for byte in data:
            if self.pending:
                self.pending = False
                if byte == DOT:
                    return bytes(out), True
                out.append(TILDE)
                if byte == TILDE:
                    self.at_line_start = False
                    continue
            elif self.at_line_start and byte == TILDE:
                self.pending = True
                continue
            out.append(byte)
            self.at_line_start = byte in NEWLINES
        return bytes(out), False


def _read_terminal(loop, session, sends: asyncio.Queue, end) -> None:
    from tapit.service.consoles import EXIT_DISCONNECTED

    fd = sys.stdin.fileno()
    escapes = EscapeFilter()

    def on_readable() -> None:
        try:
            data = os.read(fd, STDIN_READ)
        except OSError:
            data = b""
        if not data:  # the terminal went away
            loop.remove_reader(fd)
            end("ended: the terminal closed", 129)
            return
        data, disconnect = escapes.feed(data)
        if data:
            sends.put_nowait(lambda: session.send_stdin(data))
        if disconnect:
            loop.remove_reader(fd)
            end("disconnected with ~.", EXIT_DISCONNECTED)

    loop.add_reader(fd, on_readable)


def _read_pipe(loop, session, sends: asyncio.Queue) -> None:
    """Stdin may be a file, which the event loop cannot watch: read it in a daemon thread, which
    never holds up the exit even when the remote program stops reading first."""
    fd = sys.stdin.fileno()

    def read() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if not data:
                loop.call_soon_threadsafe(sends.put_nowait, session.close_stdin)
                return
            loop.call_soon_threadsafe(sends.put_nowait, lambda data=data: session.send_stdin(data))

    threading.Thread(target=read, name="tapit-stdin", daemon=True).start()


class _raw:
    """The terminal in raw mode for the block (no echo, no line editing, no signals from keys)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self) -> None:
        self.saved = termios.tcgetattr(self.fd)
        ttymode.setraw(self.fd, termios.TCSANOW)

    def __exit__(self, *exc_info) -> None:
        try:
            # TCSANOW: TCSADRAIN would wait for whoever reads the terminal, possibly for ever.
            termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
        except termios.error:
            pass  # the terminal is gone


# --- the transcript -----------------------------------------------------------------------


def replay_transcript(service, task_id: str) -> int:
    """Play a console's transcript at its recorded pace (long pauses shortened)."""
    from tapit.transcript import CAST_NAME, read_cast

    record = service.get(task_id)
    path = service.history.log_path(record.id, CAST_NAME)
    if not path.is_file():
        raise UsageError(
            f"task {record.id} has no console transcript; "
            f"only consoles (tapit run) have one; use tapit show logs task={record.id}"
        )
    _, events = read_cast(path)
    out = sys.stdout.fileno()
    begun, recorded, elapsed = time.monotonic(), 0.0, 0.0
    for stamp, kind, text in events:
        elapsed += min(max(0.0, stamp - recorded), REPLAY_MAX_PAUSE_S)
        recorded = stamp
        delay = begun + elapsed - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if kind == "o":
            _write_all(out, text.encode())
    return 0
