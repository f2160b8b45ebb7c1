"""One module per group of CLI commands; each imports its dependencies lazily."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tapit.service import TaskService


def task_service() -> TaskService:
    """The service as every command uses it: what it says while a step takes long goes to stderr."""
    from tapit.service import TaskService

    return TaskService.from_environment(
        on_notice=lambda message: print(f"tapit: {message}", file=sys.stderr, flush=True)
    )
