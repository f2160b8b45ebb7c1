"""The audit trail the cluster keeps: task records in Nomad Variables (tapit/trail/records.py says
the layout), written by every CLI, TUI and archivist with check-and-set, so none of them ever
overwrites what another has learnt.

    trail = Trail(cluster.client)          # namespace -> NomadClient
    stored = trail.write(record)           # read, merge, write with cas; again on a conflict
    record = trail.read("3f2a9c01", "default")
    pointers, token = trail.recent(50, namespace="default")   # newest first
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tapit.errors import TapitError, nomad_errors
from tapit.model import TaskRecord
from tapit.nomad.errors import NomadNotFound, NomadRefused
from tapit.trail import records

if TYPE_CHECKING:
    from tapit.nomad.client import NomadClient
    from tapit.nomad.variables import Variable

# Each conflict hands back the variable as it is now, so a retry costs one write; only writers
# racing on the same task this often would exhaust it.
MAX_ATTEMPTS = 20


class TrailRefused(TapitError):
    """The cluster answers, but will not keep the trail: a token without the variables
    capabilities, or a Nomad that has no variables (before 1.4). Tasks still run; the trail is
    then only this machine's history."""


@dataclass(frozen=True)
class Pointer:
    """One entry of the newest-first list: the task, and the namespace its record is in."""

    namespace: str
    task_id: str


class Trail:
    def __init__(self, client: Callable[[str | None], NomadClient]):
        self._client = client

    def write(self, record: TaskRecord) -> TaskRecord:
        """Merge `record` into the cluster's record of the task (creating it, and its place in the
        newest-first list, if there is none yet); the record as stored, merged."""
        merged = self._merge_in(record, create=True)
        assert merged is not None
        return merged

    def update(self, record: TaskRecord) -> TaskRecord | None:
        """Merge `record` into the cluster's record of the task if it has one (None if not): a
        writer that read the record earlier never puts back one that `delete task` removed since."""
        return self._merge_in(record, create=False)

    def _merge_in(self, record: TaskRecord, create: bool) -> TaskRecord | None:
        from tapit.nomad.variables import VariableConflict  # loaded with the client already

        variables = self._client(record.nomad_namespace).variables
        path = records.record_path(record.id)
        with _trail_errors():
            current = variables.get(path)
            for _ in range(MAX_ATTEMPTS):
                if current is None and not create:
                    return None
                if current is None:
                    self._point(record)
                    merged = record
                else:
                    merged = records.merge(_record(current, record.nomad_namespace), record)
                items = records.to_items(merged)
                if current is not None and items == current.items:
                    return merged
                try:
                    variables.put(path, items, cas=current.modify_index if current else 0)
                    return merged
                except VariableConflict as conflict:
                    current = conflict.current
        raise TapitError(f"the trail's record {path} kept changing under {MAX_ATTEMPTS} writes; try again")

    def read(self, task_id: str, namespace: str | None = None) -> TaskRecord | None:
        """The cluster's record of the task, None when it has none."""
        if not records.valid_task_id(task_id):
            return None
        client = self._client(namespace)
        with _trail_errors():
            variable = client.variables.get(records.record_path(task_id))
        return None if variable is None else _record(variable, namespace or client.settings.namespace)

    def recent(self, limit: int, next_token: str = "", namespace: str | None = None) -> tuple[list[Pointer], str]:
        """The newest `limit` tasks (namespace "*": each namespace's newest, namespace by namespace,
        as Nomad lists them), and the token of the page after them ("" after the last)."""
        client = self._client(None if namespace == "*" else namespace)
        with _trail_errors():
            page, token = client.variables.list(
                records.RECENT_PREFIX, per_page=limit, next_token=next_token, namespace=namespace
            )
        pointers = []
        for meta in page:
            task_id = records.task_id_of_recent(meta.path)
            if task_id is not None:
                pointers.append(Pointer(meta.namespace, task_id))
        return pointers, token

    def delete(self, record: TaskRecord) -> None:
        """Remove the task's record and its place in the list (the record first: a pointer
        without a record names nothing, and a list skips it)."""
        variables = self._client(record.nomad_namespace).variables
        with _trail_errors():
            variables.delete(records.record_path(record.id))
            if pointer := _recent_path(record):
                variables.delete(pointer)

    def _point(self, record: TaskRecord) -> None:
        """Its place in the newest-first list, written once, before the record it points to, so
        that no record is ever missing from the list."""
        from tapit.nomad.variables import VariableConflict

        pointer = _recent_path(record)
        if pointer is None:
            return
        try:
            self._client(record.nomad_namespace).variables.put(pointer, records.recent_items(record.id), cas=0)
        except VariableConflict:
            pass  # another writer put it there first


@contextmanager
def _trail_errors() -> Iterator[None]:
    """Nomad's refusals of the variables become TrailRefused; an unreachable Nomad stays
    RuntimeUnavailable (exit 3), as for any other call."""
    with nomad_errors():
        try:
            yield
        except (NomadRefused, NomadNotFound) as exc:
            if exc.status not in (403, 404, 501):
                raise
            raise TrailRefused(f"the cluster does not keep tapit's trail: {exc}") from None


def _recent_path(record: TaskRecord) -> str | None:
    """None for a record without a creation time (a job an older tapit started, whose Meta lacks
    it): it has no place in the newest-first list, and is found by its id alone."""
    try:
        return records.recent_path(record.id, record.created_at)
    except ValueError:
        return None


def _record(variable: Variable, namespace: str) -> TaskRecord:
    record = records.from_items(variable.items)
    record.nomad_namespace = variable.meta.namespace or namespace
    return record
