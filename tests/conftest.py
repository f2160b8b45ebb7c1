"""Shared fixtures: every test that runs tasks gets its own tapit home and its own embedded agent."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


class Tapit:
    """Runs the real `tapit` CLI in a subprocess, as a user types it in a shell."""

    def __init__(self, home: Path, env: dict):
        self.home = home
        self.env = env

    def __call__(
        self, *args: str, timeout: float = 60, input: str | None = None, cwd=None, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        """`env` adds to (or, with "", blanks) the fixture's environment for this run."""
        return subprocess.run(
            [sys.executable, "-m", "tapit", *args],
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            cwd=cwd or self.home,
        )

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tapit", *args], env=self.env, cwd=self.home, **kwargs)


@pytest.fixture
def tapit_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TAPIT_HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in list(os.environ):
        if name.startswith("NOMAD_"):
            monkeypatch.delenv(name)
    yield home
    from tapit.agent import daemon

    daemon.stop(kill_tasks=True)


@pytest.fixture
def tapit(tapit_home):
    return Tapit(tapit_home, dict(os.environ))


@pytest.fixture
def nomad_api(tapit):
    """python-nomad pointed at the embedded agent, as a cluster admin's tools would be."""
    import nomad

    from tapit.agent import daemon

    info = daemon.ensure_running()
    return nomad.Nomad(address=info.address, token=info.token, timeout=10)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A test CA with server, client, expired and wrongly named certificates (tests/certs.py)."""
    from certs import build_pki

    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_agent(tapit, pki):
    """Starts `tapit agent` in the foreground serving HTTPS with one of `pki`'s certificates;
    returns the NOMAD_ADDR and NOMAD_TOKEN a cluster user of it would have."""
    started = []

    def start(cert: str = "server", client_ca: str | None = None) -> dict:
        args = ["agent", "--tls-cert", getattr(pki, cert), "--tls-key", pki.key(cert)]
        if client_ca:
            args += ["--tls-client-ca", client_ca]
        process = tapit.popen(*args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(process)
        line = process.stdout.readline()
        assert line.startswith("tapit agent listening on https://127.0.0.1:"), line
        token = (tapit.home / "agent" / "token").read_text().strip()
        return {"NOMAD_ADDR": line.split()[-1], "NOMAD_TOKEN": token}

    yield start
    for process in started:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="session")
def container_engine(tmp_path_factory):
    """A real Docker or Podman engine with the test image in it, and a registry on loopback where
    the machine has one (tests/container_engine.py)."""
    from container_engine import (
        TEST_IMAGE,
        EngineUnderTest,
        busybox_rootfs,
        existing_engine,
        start_podman,
        start_registry,
        stop_process_group,
    )

    started = []
    registries = {}
    for private in (False, True):
        process, address = start_registry(tmp_path_factory.mktemp("registry"), private)
        if process:
            started.append(process)
            registries[private] = address
    url = existing_engine()
    try:
        if not url:
            process, url, why_not = start_podman(tmp_path_factory.mktemp("podman"), tuple(registries.values()))
            if not url:
                pytest.skip(why_not)
            started.append(process)
        engine = EngineUnderTest(url, registries.get(False), registries.get(True))
        rootfs = busybox_rootfs()
        if rootfs is None:
            pytest.skip("no static busybox to build the test image from (install busybox-static)")
        engine.remove_image(TEST_IMAGE)  # whatever a machine holds under that name is not the test's image
        engine.import_image(rootfs, TEST_IMAGE)
        yield engine
    finally:
        for process in started:
            stop_process_group(process)


@pytest.fixture
def docker_host(container_engine, monkeypatch):
    """Points this test's agent at the engine; afterwards stops the agent and its tasks, and fails
    the test if any container of a tapit task was left behind."""
    from tapit.agent import daemon

    before = {c["Id"] for c in container_engine.tapit_containers()}
    monkeypatch.setenv("DOCKER_HOST", container_engine.url)
    yield container_engine
    daemon.stop(kill_tasks=True)
    left = [c["Names"] for c in container_engine.tapit_containers() if c["Id"] not in before]
    assert not left, f"containers left behind: {left}"
