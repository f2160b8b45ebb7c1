"""tapit's Nomad client: one object per cluster and namespace, one attribute per resource, as
Nomad's api/api.go Client (client.Jobs(), client.Allocations(), ...).

    with NomadClient(NomadSettings.from_env(os.environ)) as nomad:
        nomad.jobs.register(job)
        allocs, index = nomad.jobs.allocations(job_id, index=index, wait=10)   # a blocking query
        for frame in nomad.alloc_fs.logs(alloc_id, "task", "stdout", follow=True, stop=stop): ...

Reads that Nomad can block take `index` and `wait` (api/api.go QueryOptions WaitIndex,
WaitTime) and then answer with the index to wait on next. Every failure is a NomadError
(tapit/nomad/errors.py) whose str() is one line; generators raise theirs at the first next().
"""

from __future__ import annotations

from typing import Self

from tapit.nomad.agent import Agent
from tapit.nomad.allocations import Allocations
from tapit.nomad.evaluations import Evaluations
from tapit.nomad.events import EventStream
from tapit.nomad.jobs import Jobs
from tapit.nomad.logs import AllocFS
from tapit.nomad.namespaces import Namespaces
from tapit.nomad.nodes import Nodes
from tapit.nomad.settings import NomadSettings
from tapit.nomad.transport import Transport
from tapit.nomad.variables import Variables


class NomadClient:
    """One Nomad cluster, as described by `settings`. Construction raises NomadUnreachable for
    an unusable address or unreadable TLS files."""

    def __init__(self, settings: NomadSettings):
        self.settings = settings
        self.transport = Transport(settings)
        self.jobs = Jobs(self.transport)
        self.allocations = Allocations(self.transport)
        self.evaluations = Evaluations(self.transport)
        self.nodes = Nodes(self.transport)
        self.agent = Agent(self.transport)
        self.alloc_fs = AllocFS(self.transport)
        self.event_stream = EventStream(self.transport)
        self.namespaces = Namespaces(self.transport)
        self.variables = Variables(self.transport)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
