"""docker (drivers/docker): the task as a container of a Docker or Podman engine.  The agent gets
the image (reporting a download as a task event), then creates and starts the container itself,
which is quick with the engine's client already loaded; the container supervisor, slower to
start, attaches to it afterwards.  The engine keeps the container's output from its first byte,
so nothing is lost in between."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import engine, execsession
from .. import structs as wire
from .base import NOT_AVAILABLE, SIGNAL_LOOKUP, UNDETECTED, UNHEALTHY, Driver, Fingerprint, TaskHandle

if TYPE_CHECKING:
    from aiohttp import web

    from ..allocrunner.task_runner import TaskRunner

log = logging.getLogger("tapit.agent")
CONTAINER_SUPERVISOR = "tapit.agent.container_supervisor"


class DockerDriver(Driver):
    name = "docker"
    isolated_filesystem = True

    # fingerprint.go: looked for again every period, so that an engine started (or stopped) after
    # the agent is noticed.
    fingerprint_period_s = engine.FINGERPRINT_PERIOD_S

    def __init__(self, runner) -> None:
        super().__init__(runner)
        self.engine: engine.Engine | None = None  # kept when it stops answering: unhealthy, not undetected
        self._version: asyncio.Task | None = None  # kept: a task nobody holds may be collected

    def fingerprint(self) -> Fingerprint:
        return Fingerprint(UNDETECTED, NOT_AVAILABLE)  # until an engine answers: fingerprint_again

    async def fingerprint_again(self) -> None:
        """Offer the docker driver while a Docker or Podman engine answers."""
        node = self.runner.node
        url = engine.engine_url()
        found = await engine.fingerprint(url) if url else None
        if found and (found != self.engine or not node.drivers[self.name]):
            self.engine = found
            node.set_driver(self.name, self.healthy({"driver.docker.os_type": "linux"}))
            # The release number is slow to come from Podman: fetched while the agent serves.
            self._version = asyncio.get_running_loop().create_task(self._fetch_version(found))
        elif not found and node.drivers[self.name]:
            log.warning("the container engine at %s stopped answering", self._reached.url)
            node.set_driver(self.name, Fingerprint(UNHEALTHY, "Failed to connect to docker daemon"))

    @property
    def _reached(self) -> engine.Engine:
        """The engine, for what runs only once the driver is offered (a fingerprint found one)."""
        if self.engine is None:
            raise RuntimeError("no container engine has answered")
        return self.engine

    async def _fetch_version(self, found: engine.Engine) -> None:
        try:
            self.runner.node.set_driver_attribute(self.name, "driver.docker.version", await found.version())
        except Exception:
            log.warning("the container engine at %s did not say its version", found.url)

    def task_dirs(self, alloc_dir: Path, task_name: str) -> tuple[str, str, str]:
        return engine.CONTAINER_ALLOC_DIR, engine.CONTAINER_TASK_DIR, engine.CONTAINER_SECRETS_DIR

    async def start(self, tr: TaskRunner, spec: dict, kill_signal: signal.Signals) -> list[str] | None:
        import aiodocker

        handle, alloc = tr.handle, tr.alloc
        node = self.runner.node
        task = handle.task
        image = (task["Config"] or {}).get("image")
        if not image:
            tr.fail_start("image name required for docker driver")
            return None

        def downloading(ref: str) -> None:
            tr.update(wire.driver_event("Downloading image", {"image": ref}))
            log.info("pulling %s for allocation %s", ref, handle.alloc_id)

        name = engine.container_name(task["Name"], alloc["ID"])
        spec.update(
            {
                "engine": self._reached.url,
                "api_version": self._reached.api_version,
                "name": name,
                "tty": bool((task["Config"] or {}).get("tty")),
                "kill_signal": kill_signal.name,
            }
        )
        async with self._reached.client() as docker:
            await engine.ensure_image(docker, image, downloading)
            if handle.pending_signal:  # stopped while the image came
                tr.update(wire.task_event("Killed"), state="dead", FinishedAt=wire.now_ns())
                return None
            # Known before the container exists: a crash from here on leaves a container that a
            # restarted agent finds by name and removes (destroy), never an unknown one.
            tr.persist()
            try:
                # A container of this name is the remnant of an earlier attempt that never ran.
                await docker.containers.container(name).delete(force=True)
            except aiodocker.DockerError:
                pass
            container = await docker.containers.create(
                engine.container_config(
                    alloc_id=alloc["ID"],
                    task=task,
                    env=handle.env,
                    alloc_dir=self.runner.alloc_dir(alloc["ID"]),
                    total_compute=node.total_cpu,
                ),
                name=name,
            )
            try:
                await container.start()
                pid = (await container.show())["State"]["Pid"]
            except aiodocker.DockerError:
                await container.delete(force=True)
                raise
        handle.cgroup = self.runner.cgroups.of_process(pid) if pid else None
        tr.update(wire.task_event("Started"), state="running", StartedAt=wire.now_ns())
        return [sys.executable, "-I", "-m", CONTAINER_SUPERVISOR]

    def recover(self, handle: TaskHandle, meta: dict) -> None:
        if handle.pid:
            # The engine's cgroup for the container: read for usage figures, never removed by us.
            handle.cgroup = self.runner.cgroups.of_process(handle.pid)
        super().recover(handle, meta)

    def destroy(self, handle: TaskHandle) -> None:
        """A container left behind is removed through its engine."""
        asyncio.get_running_loop().create_task(self._remove_container(handle))

    async def _remove_container(self, handle: TaskHandle) -> None:
        try:
            async with self._reached.client() as docker:
                await docker.containers.container(engine.container_name(handle.name, handle.alloc_id)).delete(
                    force=True
                )
        except Exception:  # gone already, or the engine too: nothing is left to remove here
            log.info("no container left for task %s of allocation %s", handle.name, handle.alloc_id)

    async def signal(self, handle: TaskHandle, name: str) -> None:
        """The docker driver refuses a signal it does not know (signals.Parse, which upper-cases it
        first) and signals the container (ContainerKill)."""
        if name.upper() not in SIGNAL_LOOKUP:
            valid = " ".join(f'"{s}"' for s in sorted(SIGNAL_LOOKUP))
            raise ValueError(f'failed to parse signal: invalid signal "{name}" - valid signals are [{valid}]')
        async with self._reached.client() as docker:
            await docker.containers.container(engine.container_name(handle.name, handle.alloc_id)).kill(signal=name)

    async def exec(self, ws: web.WebSocketResponse, handle: TaskHandle, argv: list[str], tty: bool) -> None:
        await execsession.run_in_container(
            ws, argv, tty, self.engine, engine.container_name(handle.name, handle.alloc_id)
        )

    def exit_message(self, code: int) -> str:
        return f"Docker container exited with non-zero exit code: {code}"


DRIVER = DockerDriver
