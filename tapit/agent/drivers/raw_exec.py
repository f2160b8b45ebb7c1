"""raw_exec (drivers/rawexec): the command as a plain host process of the agent's user."""

from __future__ import annotations

from .base import Fingerprint
from .host import HostDriver


class RawExecDriver(HostDriver):
    name = "raw_exec"

    def fingerprint(self) -> Fingerprint:
        return self.healthy()


DRIVER = RawExecDriver
