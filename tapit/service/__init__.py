"""tapit's one API, for the CLI and the TUI alike: tasks (tasks.py), their output (logs.py),
consoles (consoles.py), the connection to Nomad (connection.py) and the local history
(history.py). It raises only tapit's errors (tapit/errors.py) and returns tapit's types
(tapit/model.py), never Nomad's JSON."""

from tapit.service.connection import Connection, resolve_connection
from tapit.service.tasks import TaskService, default_initiator

__all__ = ["Connection", "TaskService", "default_initiator", "resolve_connection"]
