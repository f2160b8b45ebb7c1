"""The task drivers, one module each (plugins/drivers): adding a driver is a module defining
DRIVER, a subclass of base.Driver, and its name here."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runner import Runner
    from .base import Driver

NAMES = ("raw_exec", "exec", "docker")  # the node's Drivers, in this order


def load(runner: Runner) -> dict[str, Driver]:
    return {name: importlib.import_module(f"{__name__}.{name}").DRIVER(runner) for name in NAMES}
