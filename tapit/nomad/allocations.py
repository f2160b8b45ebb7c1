"""Allocations: read one (blocking if asked), its resource usage, and exec into its tasks
(api/allocations.go, command/agent/alloc_endpoint.go)."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, overload

import nomad.api
import nomad.api.client

from tapit.nomad.transport import Indexed, Transport, path_id

if TYPE_CHECKING:
    from tapit.nomad.exec import ExecSession


class Allocations:
    def __init__(self, transport: Transport):
        self._t = transport
        self._allocation = transport.python_nomad(nomad.api.Allocation)
        self._allocations = transport.python_nomad(nomad.api.Allocations)
        self._client_allocation = transport.python_nomad(nomad.api.client.allocation)

    def list(self, namespace: str | None = None, job_ids: Iterable[str] = ()) -> builtins.list[dict]:
        """Every allocation's AllocListStub in the namespace ("*": every one the token may read), in
        one request; with `job_ids`, those of these jobs only (a `filter`, which Nomad evaluates on
        each Allocation: nomad/state/paginator/paginator.go). The stub is the one a job's
        allocations answer (nomad/structs/alloc.go Allocation.Stub), TaskStates included unless
        asked otherwise (NewAllocStubFields keeps them "for backward compatibility"); with no
        per_page, nomad/alloc_endpoint.go List pages nothing."""
        ns = namespace or self._t.settings.namespace
        # A go-bexpr string is double-quoted with backslash escapes, as JSON writes one.
        where = " or ".join(f"JobID == {json.dumps(job_id)}" for job_id in job_ids) or None
        return self._t.rest(
            lambda: self._allocations.get_allocations(namespace=ns, filter_=where), self._t.needs("read-job", ns)
        )

    @overload
    def info(self, alloc_id: str) -> dict: ...
    @overload
    def info(self, alloc_id: str, *, index: int, wait: float | None = None) -> Indexed[dict]: ...
    def info(self, alloc_id: str, *, index: int | None = None, wait: float | None = None):
        """The allocation; given `index`, a blocking query that answers once it changes past it,
        or after `wait` seconds, with the index to wait on next."""
        if index is not None:
            return self._t.blocking(f"/v1/allocation/{path_id(alloc_id)}", index, wait, self._t.needs("read-job"))
        return self._t.rest(
            lambda: self._allocation.get_allocation(path_id(alloc_id)), self._t.needs("read-job"), lookup=True
        )

    def stats(self, alloc_id: str) -> dict:
        """The AllocResourceUsage its node reports now (GET /v1/client/allocation/:id/stats)."""
        return self._t.rest(
            lambda: self._client_allocation.read_allocation_stats(path_id(alloc_id)),
            self._t.needs("read-job"),
            lookup=True,
        )

    def exec(
        self, alloc_id: str, task: str, command: builtins.list[str], tty: bool
    ) -> AbstractAsyncContextManager[ExecSession]:
        """`command` in the allocation's task over a websocket (tapit/nomad/exec.py open_exec)."""
        from tapit.nomad.exec import open_exec  # httpx-ws and wsproto: only for consoles

        return open_exec(self._t, alloc_id, task, command, tty)
