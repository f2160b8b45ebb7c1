"""The embedded agent's own archivist: `tapit archivist` run as a child process against the agent,
with the log store under its home, as a cluster runs it as a service job
(jobs/tapit-archivist.nomad.hcl). The same code, so what the archivist does is tested here.

Restarted when it dies (as Nomad restarts a service's task), and stopped with the agent, even a
SIGKILLed one (its tasks outlive it and are taken back by the next agent; its archivist must not,
or the next agent's would be its second). Off with TAPIT_AGENT_ARCHIVIST=off, for a test that runs
its own archivist instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tapit.config import LOG_STORE_ENV, SSH_ENV, SSH_OFF
from tapit.paths import open_private

SWITCH_ENV = "TAPIT_AGENT_ARCHIVIST"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESTART_S = 1.0
MAX_RESTART_S = 30.0
STOP_TIMEOUT_S = 10.0
# The archivist is the audit trail, not what a user waits on: it runs this much nicer than the
# agent, so that on a busy machine a `create --wait` reading the same log (and the task writing
# it) get the CPU first, and the archivist ships in the time left over (it resumes from the
# rotated files, which the agent keeps until the allocation is collected).
NICENESS = 10


def wanted(environ=os.environ) -> bool:
    return environ.get(SWITCH_ENV, "").lower() not in ("off", "0", "false", "no")


class ArchivistChild:
    def __init__(self, address: str, token: str, directory: Path, environment: dict[str, str]):
        self.env = environment | {
            "NOMAD_ADDR": address,
            "NOMAD_TOKEN": token,
            LOG_STORE_ENV: (directory / "logstore").as_uri(),
            # It runs beside its agent: an ssh in the tapit.toml of the directory the agent was
            # started from is the route to a cluster, and would tunnel it to this agent through
            # that bastion (or, the bastion unreachable, leave it dying at every start).
            SSH_ENV: SSH_OFF,
        }
        self.log_path = directory / "archivist.log"
        (directory / "logstore").mkdir(mode=0o700, exist_ok=True)
        os.close(open_private(self.log_path, os.O_WRONLY | os.O_APPEND))
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False

    async def run(self) -> None:
        """Start it, and start it again whenever it exits, waiting longer after each quick death."""
        delay = RESTART_S
        while not self._stopping:
            started = time.monotonic()
            with os.fdopen(open_private(self.log_path, os.O_WRONLY | os.O_APPEND), "ab") as log:
                self._proc = await asyncio.create_subprocess_exec(
                    # job_prefix= (empty): every tapit job on this agent, which every app of the
                    # home shares, not only those named by the prefix of the tapit.toml in the
                    # directory the agent happened to be started from.
                    sys.executable, "-m", "tapit", "archivist", "job_prefix=", stdin=asyncio.subprocess.DEVNULL,
                    stdout=log, stderr=log, env=self.env, start_new_session=True,
                    preexec_fn=_die_with(os.getpid()),
                )  # fmt: skip
            code = await self._proc.wait()
            if self._stopping:
                return
            delay = RESTART_S if time.monotonic() - started > MAX_RESTART_S else min(delay * 2, MAX_RESTART_S)
            _append(
                self.log_path, f"tapit agent: the archivist exited with code {code}; starting it again in {delay:g} s\n"
            )
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _append(path: Path, line: str) -> None:
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "a") as log:
        log.write(line)


def _die_with(agent_pid: int):
    """In the child before it runs: SIGTERM when the agent dies (prctl PR_SET_PDEATHSIG), and
    nothing at all if it died already; NICENESS nicer than the agent."""

    def arrange() -> None:
        import ctypes

        os.nice(NICENESS)
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != agent_pid:
            os._exit(0)

    return arrange
