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

    def __call__(self, *args: str, timeout: float = 60, input: str | None = None, cwd=None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tapit", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, input=input, cwd=cwd or self.home)

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
