"""Lifecycle of the embedded agent: start it in the background (once, even when many tapit
processes ask at the same time), find it, stop it, or run it in the foreground.

Imported by the CLI on every invocation, so it imports nothing heavy at module level: aiohttp
and the server are only imported by serve_foreground().
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

from tapit.paths import PRIVATE_FILE, agent_dir, open_private, write_private

START_TIMEOUT = 30.0  # includes the docker driver's first fingerprint (engine.FINGERPRINT_TIMEOUT_S)
# The node attribute saying that the agent runs its own archivist (tapit/service/archivist_notice.py).
ARCHIVIST_ATTRIBUTE = "tapit.archivist"
STOP_TIMEOUT = 10.0


@dataclass
class AgentInfo:
    address: str  # "http://127.0.0.1:PORT"
    token: str
    pid: int


class AgentStartError(RuntimeError):
    pass


def token() -> str:
    """The agent's ACL token, created on first use; only the owner may read it."""
    path = agent_dir() / "token"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = str(uuid.uuid4())
    tmp = path.with_name(f".token.{os.getpid()}.tmp")  # one per process: several may race here
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    try:
        os.link(tmp, path)  # first writer wins
    except FileExistsError:
        pass
    os.unlink(tmp)
    return path.read_text().strip()


def _answers(address: str, secret: str, timeout: float = 1.0) -> bool:
    scheme, _, hostport = address.partition("://")
    host, port = hostport.rsplit(":", 1)
    if scheme == "https":
        # An agent serving TLS (`tapit agent --tls-cert ...`) may require a client certificate
        # this process does not have: that it accepts connections on its recorded port is enough.
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
            return True
        except OSError:
            return False
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/v1/agent/self", headers={"X-Nomad-Token": secret})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status() -> AgentInfo | None:
    """The background agent of this agent_dir(), if one runs and answers."""
    try:
        record = json.loads((agent_dir() / "agent.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(record["pid"]):
        return None
    secret = token()
    if not _answers(record["address"], secret):
        return None
    return AgentInfo(record["address"], secret, record["pid"])


def ensure_running() -> AgentInfo:
    info = status()
    if info:
        return info
    # Imported only to start the agent: filelock is slow to import, and every command pays for it.
    from filelock import FileLock

    directory = agent_dir()
    with FileLock(str(directory / "agent.lock"), mode=PRIVATE_FILE):
        info = status()  # another process may have started it while we waited for the lock
        if info:
            return info
        (directory / "agent.json").unlink(missing_ok=True)
        log_path = directory / "agent.log"
        env = agent_environment(os.environ)
        with os.fdopen(open_private(log_path, os.O_WRONLY | os.O_APPEND), "ab") as log, open(os.devnull, "rb") as null:
            start_offset = log.seek(0, os.SEEK_END)  # what this start writes comes after it
            proc = subprocess.Popen(
                [sys.executable, "-m", "tapit.agent.daemon"],
                stdin=null,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            info = status()
            if info:
                return info
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            why = f"it did not answer within {START_TIMEOUT:g} s"
        else:
            why = f"it exited with code {proc.returncode}"
        said = _last_line(log_path, start_offset)
        raise AgentStartError(
            f"the embedded agent did not start: {why}" + (f": {said}" if said else f", and wrote nothing to {log_path}")
        )


# What the background agent keeps of the environment of whichever shell happened to start it:
# tasks inherit the agent's environment (as under Nomad's raw_exec), so they should not depend on
# that shell's prompt, virtualenv or secrets — a cluster's NOMAD_TOKEN least of all.
# DOCKER_HOST and DOCKER_CONFIG stay: where the docker driver's engine listens, and where the
# user's registry logins are.
_KEPT_VARIABLES = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
}


def agent_environment(environ) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in _KEPT_VARIABLES or k.startswith(("LC_", "TAPIT_"))}


def _last_line(path: Path, offset: int) -> str:
    """The last line the log gained past `offset`, "" when it gained none: an earlier start's
    lines say nothing about this one."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _live_supervisors() -> list[int]:
    """Supervisor pids recorded under run/ that still run (checked against their start time)."""
    from tapit.agent import procfacts

    pids = []
    for path in (agent_dir() / "run").glob("*.status"):
        fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        if "finished" in fields or "sup_pid" not in fields:
            continue
        pid = int(fields["sup_pid"])
        if procfacts.same_process(pid, int(fields["sup_start"])):
            pids.append(pid)
    return pids


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    from tapit.agent import procfacts

    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if procfacts.running(p)]
        time.sleep(0.02)
    return pids


def stop(kill_tasks: bool = False) -> bool:
    """Stop the background agent; with kill_tasks also SIGKILL every task's process tree."""
    stopped = False
    try:
        record = json.loads((agent_dir() / "agent.json").read_text())
    except (FileNotFoundError, ValueError):
        record = None
    if record and _alive(record["pid"]):
        os.kill(record["pid"], signal.SIGTERM)
        if _wait_gone([record["pid"]], STOP_TIMEOUT):
            os.kill(record["pid"], signal.SIGKILL)
            _wait_gone([record["pid"]], STOP_TIMEOUT)
        stopped = True
    if kill_tasks:
        supervisors = _live_supervisors()
        for pid in supervisors:
            os.kill(pid, signal.SIGUSR1)  # the supervisor SIGKILLs its task tree and exits
        for pid in _wait_gone(supervisors, STOP_TIMEOUT):
            os.kill(pid, signal.SIGKILL)
        stopped = stopped or bool(supervisors)
        _release_disks()
    pool = agent_dir() / "disks" / "pool"
    if pool.is_dir() and any(pool.iterdir()):
        from tapit.agent.diskpool import FilesystemPool

        FilesystemPool(pool.parent).clear()  # made ready by an agent that did not stop on its own
    return stopped


def _release_disks() -> None:
    """The tasks' size-limited filesystems outlive the agent, as their tasks do; once those are
    killed, they are released as the agent releases them when it sees a task end: logs kept."""
    from tapit.agent.disk import Filesystem

    directory = agent_dir()
    for image in (directory / "disks").glob("*.img"):
        Filesystem(image, directory / "allocs" / image.stem).release()


@dataclass(frozen=True)
class TLSFiles:
    cert: str
    key: str
    client_ca: str | None = None  # set: every client must present a certificate signed by it


def server_ssl_context(tls: TLSFiles) -> ssl.SSLContext:
    """The agent's HTTPS context; ValueError names the file that could not be loaded."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the agent certificate {tls.cert} with key {tls.key}: {_why(exc)}") from None
    if tls.client_ca:
        try:
            context.load_verify_locations(cafile=tls.client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load the client CA {tls.client_ca}: {_why(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _why(exc: Exception) -> str:
    import ssl

    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def serve_foreground(
    host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None, disable_remote_exec: bool = False
) -> None:
    """Run the agent in this process until SIGINT or SIGTERM; HTTPS when given a TLS context."""
    import asyncio
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_serve(host, port, tls, disable_remote_exec))


async def _serve(host: str, port: int, tls: ssl.SSLContext | None = None, disable_remote_exec: bool = False) -> None:
    import asyncio

    from aiohttp import web

    from tapit.agent.agent import Agent

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the embedded agent listens on loopback only")
    directory = agent_dir()
    agent = Agent(directory, token())
    agent.disable_remote_exec = disable_remote_exec
    runner = web.AppRunner(agent.app(), shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    bound_port = runner.addresses[0][1]
    address = f"{'https' if tls else 'http'}://{host}:{bound_port}"
    agent.set_address(address)
    archivist = _archivist(address, directory)  # its files exist before anyone finds the agent
    if archivist is not None:
        agent.node.attributes[ARCHIVIST_ATTRIBUTE] = "running"
    await agent.runner.fingerprint_drivers()
    agent.runner.reattach()
    agent.variables.restore_lock_timers()
    write_private(directory / "agent.json", json.dumps({"address": address, "pid": os.getpid()}).encode())
    print(f"tapit agent listening on {address}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    keeper = asyncio.create_task(archivist.run()) if archivist else None
    try:
        await done.wait()
    finally:
        if archivist is not None:
            await archivist.stop()
        if keeper is not None:
            keeper.cancel()
        try:
            record = json.loads((directory / "agent.json").read_text())
            if record["pid"] == os.getpid():
                (directory / "agent.json").unlink()
        except (FileNotFoundError, ValueError):
            pass
        await runner.cleanup()
        agent.runner.close()
        agent.store.flush()


def _archivist(address: str, directory: Path):
    """The agent's own archivist (tapit/agent/archivist_child.py), unless switched off. Over plain
    HTTP only: an agent serving HTTPS may want client certificates the child does not have."""
    from tapit.agent.archivist_child import ArchivistChild, wanted

    if not wanted() or not address.startswith("http://"):
        return None
    return ArchivistChild(address, token(), directory, agent_environment(os.environ))


if __name__ == "__main__":
    from tapit.config import load_config

    serve_foreground(disable_remote_exec=load_config().agent_disable_remote_exec)
