"""The server's Variables endpoint (nomad/variables_endpoint.go: Apply, Read, RenewLock; List is
the variables table's page, state/variables.py) and the TTL timers of variable locks
(nomad/locks.go).

The agent's one token is a management token: every variable operation is allowed
(acl.AllowVariableOperation), a conflict is answered with the conflicting variable's items
(canRead), and locks are shown (IsManagement) in reads, lists and writes alike.

Errors are err.Error() of Nomad's RPC errors (RPCError): a coded one reads "RPC Error:: <code>,<text>",
and http.go's wrap answers its code with what follows the first comma, so an error Apply codes
around an already coded one (its canonicalizeAndValidate does that to every validation error) is
answered with the inner prefix still on it: "RPC Error:: 400,invalid path ...".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .state.variables import STATE_OPS, ApplyStateResponse
from .structs import now_ns
from .structs import variables as vars_structs
from .structs.errors import RPCError, coded
from .structs.funcs import SECOND, multierror

if TYPE_CHECKING:
    from .state.store import Store

log = logging.getLogger("tapit.agent")

EVENT_TYPE = "VariableUpdated"  # state/events.go: VarApplyStateRequestType
WRITE_OPS = ("set", "cas", "lock-acquire", "lock-release")  # Apply encrypts these, and dates them


# variables_endpoint.go's errors.
ERR_VAR_NOT_FOUND = coded(404, "variable doesn't exist")
ERR_LOCK_NOT_FOUND = coded(409, "variable doesn't hold a lock")
ERR_VAR_IS_LOCKED = coded(409, "attempting to modify locked variable")
ERR_MISSING_LOCK_INFO = coded(400, "missing lock information")
ERR_LOCK_ON_VAR_CREATION = coded(400, "variable should not contain lock definition")
ERR_ITEMS_ON_RELEASE = coded(400, "lock release operation doesn't take variable items")


@dataclass
class ApplyResponse:
    """structs.VariablesApplyResponse, as the HTTP handlers read it: the written variable
    (Output, None after a delete) or the conflicting one, and the write's raft index."""

    index: int
    output: dict | None = None
    conflict: dict | None = None


def canonicalize_and_validate(op: str, var: dict) -> str | None:
    """canonicalizeAndValidate: err.Error() of what it refuses, or None.  It codes the errors of
    Validate and ValidateForLock; ValidatePath's, for a release, it returns as they are."""
    try:
        if op == "lock-acquire":
            if var.get("Lock") is None:  # the defaults are wanted
                var["Lock"] = {"ID": "", "TTL": 0, "LockDelay": 0}
            vars_structs.canonicalize(var)
            vars_structs.validate_for_lock(var)
        elif op in ("set", "cas"):
            lock = var.get("Lock")
            if lock is not None and (lock["LockDelay"] or lock["TTL"]):
                return coded(400, ERR_LOCK_ON_VAR_CREATION)
            vars_structs.canonicalize(var)
            vars_structs.validate(var)
        elif op == "lock-release":
            if var.get("Lock") is None or not var["Lock"]["ID"]:
                return ERR_MISSING_LOCK_INFO
            if var.get("Items") is not None:  # even {}: only a body without Items has nil ones
                return ERR_ITEMS_ON_RELEASE
            vars_structs.validate_path(var["Path"])
    except vars_structs.VariableError as exc:
        return str(exc) if op == "lock-release" else coded(400, str(exc))
    return None


class Variables:
    def __init__(self, store: Store):
        self.store = store
        # lock ID -> (timer, what its expiry does), as Server.lockTTLTimer.
        self.timers: dict[str, tuple[asyncio.TimerHandle, Callable[[], None]]] = {}

    # --- Variables.Apply ---------------------------------------------------------------------

    def apply(self, op: str, var: dict, request_namespace: str) -> ApplyResponse:
        """`var` is the decoded VariableDecrypted with its Path set; the namespace it names wins
        over the request's."""
        var["Namespace"] = var.get("Namespace") or request_namespace or "default"
        refused = canonicalize_and_validate(op, var)
        if refused is not None:
            raise RPCError(coded(400, refused))
        if op in WRITE_OPS:
            var["CreateTime"] = var["ModifyTime"] = now_ns()  # the existing variable's CreateTime wins
        request_lock = var.get("Lock")
        if request_lock is not None:
            var["Lock"] = vars_structs.lock_json(request_lock)
        # Every apply is a raft entry: a conflict or a refusal by the state store spends its index too.
        with self.store.txn(EVENT_TYPE) as tx:
            result = STATE_OPS[op](tx, var)
        reply = self._response(var, result, tx.index)
        if result.result == "ok":
            if op == "lock-acquire" and result.written is not None:
                self._create_timer(result.written)
            elif op == "lock-release":
                self._remove_timer(var["Lock"]["ID"])
        return reply

    def _response(self, var: dict, result: ApplyStateResponse, index: int) -> ApplyResponse:
        """makeVariablesApplyResponse, for a management token: the writer reads its own write,
        lock included; a conflict shows the variable it conflicts with."""
        if result.result == "ok":
            output = vars_structs.decrypted(result.written, var.get("Items")) if result.written else None
            return ApplyResponse(index, output=output)
        if result.result == "error":
            raise RPCError(result.error)
        meta = result.conflict
        assert meta is not None  # a conflict, the one result left, names what it conflicts with
        if result.conflict_items is None:
            conflict = vars_structs.metadata(meta["Namespace"], meta["Path"])
        else:
            conflict = vars_structs.decrypted(meta, result.conflict_items)
        return ApplyResponse(index, conflict=conflict)

    # --- Variables.Read -------------------------------------------------------------------------

    def read(self, namespace: str, path: str) -> tuple[dict | None, int]:
        """The variable's metadata, and the query's index: its ModifyIndex, or the table's when
        there is no such variable."""
        meta = self.store.variables.get(namespace, path)
        if meta is None:
            return None, self.store.query_index(("variables",))
        return meta, meta["ModifyIndex"]

    def decrypted(self, meta: dict) -> dict:
        """The variable as Read answers it: its metadata and its items."""
        return vars_structs.decrypted(meta, self.store.variables.items(meta))

    # --- Variables.RenewLock and the lock TTL timers (locks.go) --------------------------------

    def renew_lock(self, namespace: str, path: str, lock_id: str) -> dict:
        errors = [e for e, missing in (("missing path", not path), ("missing lock ID", not lock_id)) if missing]
        if errors:
            raise RPCError(multierror(errors))
        meta = self.store.variables.get(namespace, path)
        if meta is None:
            raise RPCError(ERR_VAR_NOT_FOUND)
        lock = meta.get("Lock")
        if lock is None:
            raise RPCError(ERR_LOCK_NOT_FOUND)
        if lock["ID"] != lock_id:
            raise RPCError(ERR_VAR_IS_LOCKED)
        # A lock whose timer has run out is in its delay: it can no longer be renewed.
        held = self.timers.get(lock_id)
        if held is None:
            raise RPCError(ERR_VAR_IS_LOCKED)
        held[0].cancel()
        self._start_timer(lock_id, vars_structs.lock_durations(lock)[0], held[1])
        return meta

    def restore_lock_timers(self) -> None:
        """restoreLockTTLTimers, as a leader establishing its leadership: every lock held gets a
        whole TTL again."""
        for meta in list(self.store.variables.all()):
            if "Lock" in meta:
                self._create_timer(meta)

    def _create_timer(self, meta: dict) -> None:
        """CreateVariableLockTTLTimer: twice the TTL (a grace for the client), then the lock delay,
        then the lock is released."""
        lock = meta["Lock"]
        if lock["ID"] in self.timers:
            log.error("attempting to recreate existing lock %s", lock["ID"])
            return
        ttl, delay = vars_structs.lock_durations(lock)
        loop = asyncio.get_running_loop()

        def expired() -> None:
            self.timers.pop(lock["ID"], None)
            loop.call_later(delay / SECOND, self._invalidate, meta)

        self._start_timer(lock["ID"], ttl, expired)

    def _start_timer(self, lock_id: str, ttl: int, expired: Callable[[], None]) -> None:
        handle = asyncio.get_running_loop().call_later(2 * ttl / SECOND, expired)
        self.timers[lock_id] = (handle, expired)

    def _remove_timer(self, lock_id: str) -> None:
        held = self.timers.pop(lock_id, None)
        if held is None:
            log.error("attempting to removed missing lock %s", lock_id)
            return
        held[0].cancel()

    def _invalidate(self, meta: dict) -> None:
        """invalidateVariableLock: a lock release without a lock ID, which releases whatever lock
        the variable holds (what the state store answers, even "variable doesn't exist", is not
        looked at)."""
        var = {"Namespace": meta["Namespace"], "Path": meta["Path"], "Lock": None}
        with self.store.txn(EVENT_TYPE) as tx:
            STATE_OPS["lock-release"](tx, var)
