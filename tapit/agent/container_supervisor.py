"""Container supervisor: supervisor.py's counterpart for the docker driver.

The agent creates and starts the task's container; this process then owns it: it copies the
container's stdout and stderr into the same rotated log files (Nomad's docklog), stops the
container on request or at its deadline (kill signal, then SIGKILL after the kill timeout:
taskHandle.Kill), records how it ended, and removes it (the docker driver's gc.container default).

It speaks supervisor.py's protocol with the agent (one "started"/"error" line on stdout, the
STATUS file, SIGTERM for a graceful stop, SIGUSR1 for SIGKILL now), so the agent watches,
reattaches to and reports both kinds alike.  Run as `python -I -m tapit.agent.container_supervisor SPEC`.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import sys
import time

import aiodocker
from aiodocker.containers import DockerContainer
from aiodocker.multiplexed import MultiplexedResult

from tapit.agent.supervisor import LogFile, announce, now_ns, proc_start, write_status

DRAIN_GRACE_S = 1.0  # for the log copies to reach the end of the container's output


class ContainerSupervisor:
    def __init__(self, spec: dict):
        self.spec = spec
        self.status: dict = {"sup_pid": os.getpid(), "sup_start": proc_start(os.getpid())}
        self.container: DockerContainer | None = None  # set once the engine is reached (run)
        self.exited = asyncio.Event()
        self.stopping: asyncio.Task | None = None

    def write_status(self) -> None:
        write_status(self.spec["status"], self.status)

    async def copy_logs(self, container: DockerContainer, stream: str, log: LogFile) -> None:
        """One stream of the container's (multiplexed) output, followed to its end."""
        async with container.docker._query(
            f"containers/{container.id}/logs", params={stream: "1", "follow": "1"}
        ) as response:
            async for chunk in MultiplexedResult(response, raw=self.spec["tty"]):
                log.write(chunk)

    async def kill(self, sig: str) -> None:
        # Stop requests that come before the container is in hand wait in run's `early`.
        assert self.container is not None, "kill before the container is in hand"
        try:
            await self.container.kill(signal=sig)
        except aiodocker.DockerError:
            pass  # already stopped or gone: the wait below sees it

    def request_stop(self, reason: str) -> None:
        if self.exited.is_set() or self.stopping:
            return
        self.status.update(kill_reason=reason, kill_started=now_ns())
        self.write_status()
        self.stopping = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        await self.kill(self.spec["kill_signal"])
        try:
            await asyncio.wait_for(self.exited.wait(), self.spec["kill_timeout"])
        except TimeoutError:
            self.status["killed"] = 1
            await self.kill("SIGKILL")

    def kill_now(self, reason: str) -> None:
        """SIGKILL at once: "hard" (the agent stopped with --kill-tasks) or "disk" (outgrown)."""
        self.status.setdefault("kill_reason", reason)
        asyncio.get_running_loop().create_task(self.kill("SIGKILL"))

    async def run(self) -> None:
        spec = self.spec
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        # Until the container is in hand a stop request can only be remembered.
        early: list[str] = []
        loop.add_signal_handler(signal.SIGTERM, early.append, "request")
        loop.add_signal_handler(signal.SIGUSR1, early.append, "hard")
        loop.add_signal_handler(signal.SIGUSR2, early.append, "disk")
        self.write_status()  # alive and able to take a stop: see supervisor.py
        docker = aiodocker.Docker(url=spec["engine"], api_version=spec["api_version"])
        try:
            self.container = container = docker.containers.container(spec["name"])
            info = await container.show()
        except Exception as exc:  # the engine's refusal, whatever it is, ends the task here
            message = " ".join(str(exc).split()) or type(exc).__name__
            self.status.update(error=message, finished=now_ns())
            self.write_status()
            announce(f"error {message}")
            await docker.close()
            return
        self.status.update(pid=info["State"]["Pid"], started=now_ns())
        self.write_status()
        announce(f"started {info['State']['Pid']}")
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "request")
        loop.add_signal_handler(signal.SIGUSR1, self.kill_now, "hard")
        loop.add_signal_handler(signal.SIGUSR2, self.kill_now, "disk")
        for reason in early:
            self.request_stop(reason) if reason == "request" else self.kill_now(reason)
        if spec["deadline"]:
            loop.call_later(max(0.0, spec["deadline"] - time.time()), self.request_stop, "deadline")
        logs = {stream: LogFile(spec[stream], spec["max_bytes"], spec["max_files"]) for stream in ("stdout", "stderr")}
        copies = [loop.create_task(self.copy_logs(container, stream, log)) for stream, log in logs.items()]
        result = await container.wait()
        self.exited.set()
        info = await container.show()
        await asyncio.wait(copies, timeout=DRAIN_GRACE_S)
        for copy in copies:
            copy.cancel()
        try:
            await container.delete(force=True)
        except aiodocker.DockerError:
            pass
        # handle.run: the exit code from the wait, OOMKilled from the inspect, never a signal.
        self.status.update(
            exit_code=result.get("StatusCode", info["State"]["ExitCode"]),
            signal=0,
            oom=int(bool(info["State"].get("OOMKilled"))),
            finished=now_ns(),
        )
        if dropped := sum(log.dropped for log in logs.values()):
            self.status["log_dropped"] = dropped
        self.write_status()
        await docker.close()


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        spec = marshal.load(f)
    asyncio.run(ContainerSupervisor(spec).run())


if __name__ == "__main__":
    main()
