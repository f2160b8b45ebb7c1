"""The variables table of the state store and its writes (nomad/state/state_store_variables.go).

In memory, each namespace's variables are held sorted by path (Nomad's memdb `id` index is
(Namespace, Path)), so that a list under a prefix, or the page after a next_token, starts with a
bisection rather than a scan: the audit trail keeps a variable per task, and its first page must
cost the same with 100,000 of them as with 1,000.  Only the metadata is held there, which is all
a list answers; the items are read from the file when a variable itself is read.

On disk the table is one SQLite database (state/variables.db, 0600 like every file of the agent):
each write is one transaction, committed before the write is answered, so a variable a client was
told is written survives the agent being killed the moment after.  Nomad encrypts the items with
its keyring; here they are plain, in a file only the agent's user can read.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sortedcontainers import SortedDict

from tapit.paths import open_private

from ..structs.variables import ALL_NAMESPACES, metadata

log = logging.getLogger("tapit.agent")

SCHEMA = """
CREATE TABLE IF NOT EXISTS variables (
    namespace TEXT NOT NULL,
    path TEXT NOT NULL,
    lock TEXT,
    create_index INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    modify_index INTEGER NOT NULL,
    modify_time INTEGER NOT NULL,
    items TEXT NOT NULL,
    UNIQUE (namespace, path)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
COLUMNS = "namespace, path, lock, create_index, create_time, modify_index, modify_time"
# The index of the table's last change (Nomad's index table row for "variables"), kept with the
# rows it describes so that it is never behind them, deletes included.
TABLE_INDEX = "TableIndex"


class VariableTable:
    def __init__(self, path: Path):
        self.path = path
        self.namespaces: dict[str, SortedDict] = {}  # namespace -> path -> metadata
        self.table_index = 0
        self.skipped: list[str] = []
        # Opened once there is something to read or write: an agent that never holds a variable
        # keeps no database.
        self.db: sqlite3.Connection | None = None
        if path.exists():
            try:
                self.db = self._open()
                self._load(self.db)
            except sqlite3.DatabaseError as exc:
                self._set_aside(exc)

    def _set_aside(self, exc: Exception) -> None:
        """A file this agent cannot read (torn by a full disk, not a database) is kept under
        another name and said in the log, as the store does with job files it cannot load."""
        aside = self.path.with_name(f"{self.path.name}.unloadable")
        log.warning("skipped %s, which could not be loaded (%s); kept as %s", self.path, exc, aside.name)
        self.skipped.append(str(self.path))
        if self.db is not None:
            self.db.close()
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.db, self.namespaces, self.table_index = None, {}, 0

    def _database(self) -> sqlite3.Connection:
        if self.db is None:
            self.db = self._open()
        return self.db

    def _open(self) -> sqlite3.Connection:
        # Made 0600 before SQLite opens it; SQLite gives its -wal and -shm files the same mode.
        os.close(open_private(self.path, os.O_RDWR))
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        # A commit is in the WAL before it returns: it survives the process, not a power cut
        # (as the store's other files, written without fsync).
        db.execute("PRAGMA synchronous=NORMAL")
        # A deleted variable leaves none of its bytes in the file (SQLite otherwise only marks the
        # pages free): `tapit delete task` removes its trail record, and nothing of it may be left.
        db.execute("PRAGMA secure_delete=ON")
        db.executescript(SCHEMA)
        return db

    def _load(self, db: sqlite3.Connection) -> None:
        by_namespace: dict[str, dict[str, dict]] = {}
        for row in db.execute(f"SELECT {COLUMNS} FROM variables"):
            meta = _row_metadata(row)
            by_namespace.setdefault(meta["Namespace"], {})[meta["Path"]] = meta
        self.namespaces = {ns: SortedDict(paths) for ns, paths in by_namespace.items()}
        row = db.execute("SELECT value FROM meta WHERE key = ?", (TABLE_INDEX,)).fetchone()
        self.table_index = row[0] if row else 0

    # --- reads -----------------------------------------------------------------------------

    def get(self, namespace: str, path: str) -> dict | None:
        paths = self.namespaces.get(namespace)
        return paths.get(path) if paths is not None else None

    def items(self, meta: dict) -> dict:
        row = (
            self._database()
            .execute("SELECT items FROM variables WHERE namespace = ? AND path = ?", (meta["Namespace"], meta["Path"]))
            .fetchone()
        )
        return json.loads(row[0]) if row else {}

    def all(self) -> Iterator[dict]:
        for namespace in sorted(self.namespaces):
            yield from self.namespaces[namespace].values()

    def page(
        self,
        namespace: str,
        prefix: str,
        next_token: str,
        per_page: int,
        reverse: bool,
        selected: Callable[[dict], bool] | None,
    ) -> tuple[list[dict], str]:
        """One page of the variables under `prefix`, in (Namespace, Path) order, and the token of
        the page after it ("" at the end): nomad/state/paginator's Paginator over the id index, with
        NamespaceIDTokenizer ("<namespace>.<path>").

        Until the first variable is taken, those whose token falls before next_token (after it,
        under `reverse`, which turns the comparison and not the order) are skipped.  Within one
        namespace the tokens grow with the paths, so that run is found by bisection: the paths at
        or after next_token's path, or all or none of them when next_token is of another namespace.
        The filter is applied after the token, and per_page counts what it kept; a negative
        per_page takes nothing and hands the first variable's token back, as Nomad's does."""
        out: list[dict] = []
        found = not next_token
        namespaces = sorted(self.namespaces) if namespace == ALL_NAMESPACES else [namespace]
        for ns in namespaces:
            paths = self.namespaces.get(ns)
            if paths is None:
                continue
            lead = f"{ns}."
            start = prefix
            if not found and not reverse:
                if next_token.startswith(lead):
                    start = max(prefix, next_token[len(lead) :])
                elif lead < next_token:
                    continue  # every token of this namespace is before next_token
            for path in paths.irange(minimum=start):
                if not path.startswith(prefix):
                    break
                if not found and reverse and lead + path > next_token:
                    continue
                meta = paths[path]
                if selected is not None and not selected(meta):
                    continue
                found = True
                if per_page and len(out) + 1 > per_page:
                    return out, lead + path
                out.append(meta)
        return out, ""

    # --- writes: one SQLite transaction each, then memory --------------------------------------

    def put(self, meta: dict, items: dict | None, index: int) -> None:
        """Insert or replace the variable; with items None only its metadata changes."""
        lock = json.dumps(meta["Lock"]) if "Lock" in meta else None
        key = (meta["Namespace"], meta["Path"])
        fields = (lock, meta["CreateIndex"], meta["CreateTime"], meta["ModifyIndex"], meta["ModifyTime"])
        db = self._database()
        with db:
            if items is None:
                db.execute(
                    "UPDATE variables SET lock = ?, create_index = ?, create_time = ?, modify_index = ?,"
                    " modify_time = ? WHERE namespace = ? AND path = ?",
                    (*fields, *key),
                )
            else:
                db.execute(
                    f"INSERT OR REPLACE INTO variables ({COLUMNS}, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, *fields, json.dumps(items, ensure_ascii=False)),
                )
            self._set_table_index(db, index)
        self.namespaces.setdefault(meta["Namespace"], SortedDict())[meta["Path"]] = meta
        self.table_index = index

    def delete(self, meta: dict, index: int) -> None:
        db = self._database()
        with db:
            db.execute("DELETE FROM variables WHERE namespace = ? AND path = ?", (meta["Namespace"], meta["Path"]))
            self._set_table_index(db, index)
        # The WAL still holds the pages as they were before: fold it into the file and empty it.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        paths = self.namespaces[meta["Namespace"]]
        del paths[meta["Path"]]
        if not paths:
            del self.namespaces[meta["Namespace"]]
        self.table_index = index

    @staticmethod
    def _set_table_index(db: sqlite3.Connection, index: int) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (TABLE_INDEX, index))


def _row_metadata(row: tuple) -> dict:
    namespace, path, lock, create_index, create_time, modify_index, modify_time = row
    lock = json.loads(lock) if lock else None
    # One string per namespace, not one per variable (SQLite hands each row its own).
    return metadata(sys.intern(namespace), path, lock, create_index, create_time, modify_index, modify_time)


# --- the state store's variable writes (state_store_variables.go) ------------------------------


@dataclass
class ApplyStateResponse:
    """structs.VarApplyStateResponse: "ok" with the written metadata (None when nothing was
    written), "conflict" with the conflicting variable, or "error" with the error's text.  A
    conflict's items are None for the "plausible zero value" Nomad answers when there is no
    variable to show (or it may not be shown): Nomad's zero value carries no KeyID, and the
    endpoint then answers only its Namespace and Path."""

    result: str
    written: dict | None = None
    conflict: dict | None = None
    conflict_items: dict | None = None
    error: str = ""


def _ok(written: dict | None = None) -> ApplyStateResponse:
    return ApplyStateResponse("ok", written=written)


def _conflict(tx, existing: dict) -> ApplyStateResponse:
    return ApplyStateResponse("conflict", conflict=existing, conflict_items=tx.store.variables.items(existing))


def _zero_conflict(var: dict) -> ApplyStateResponse:
    return ApplyStateResponse("conflict", conflict=metadata(var["Namespace"], var["Path"]))


def is_locked(lock: dict | None, var: dict) -> bool:
    """isLocked: the variable holds a lock and the request does not carry its ID."""
    return lock is not None and (var.get("Lock") is None or var["Lock"]["ID"] != lock["ID"])


def var_set(tx, var: dict) -> ApplyStateResponse:
    """varSetTxn.  `var` is the request's variable: its metadata fields, Lock in MarshalJSON's
    form or None, Items, and CreateTime/ModifyTime set by the endpoint.  Its Equal shortcut is
    not here: Nomad compares the encrypted data, whose nonce differs on every write, and a
    ModifyTime that is new on every apply, so it never finds an unchanged variable."""
    table = tx.store.variables
    existing = table.get(var["Namespace"], var["Path"])
    if existing is not None:
        if is_locked(existing.get("Lock"), var):
            return _zero_conflict(var)
        create_index, create_time = existing["CreateIndex"], existing["CreateTime"]
    else:
        create_index, create_time = tx.index, var["CreateTime"]
    meta = metadata(
        var["Namespace"], var["Path"], var.get("Lock"), create_index, create_time, tx.index, var["ModifyTime"]
    )
    tx.put_variable(meta, var.get("Items") or {})
    return _ok(meta)


def var_set_cas(tx, var: dict) -> ApplyStateResponse:
    """varSetCASTxn: ModifyIndex 0 creates only; any other must be the variable's ModifyIndex."""
    existing = tx.store.variables.get(var["Namespace"], var["Path"])
    if var["ModifyIndex"] == 0 and existing is not None:
        return _conflict(tx, existing)
    if var["ModifyIndex"] != 0 and existing is None:
        return _zero_conflict(var)
    if existing is not None and var["ModifyIndex"] != existing["ModifyIndex"]:
        return _conflict(tx, existing)
    return var_set(tx, var)


def var_delete(tx, var: dict) -> ApplyStateResponse:
    """svDeleteTxn: deleting what does not exist succeeds; a locked variable is not deleted."""
    existing = tx.store.variables.get(var["Namespace"], var["Path"])
    if existing is None:
        return _ok()
    if is_locked(existing.get("Lock"), var):
        return _zero_conflict(existing)
    tx.delete_variable(existing)
    return _ok()


def var_delete_cas(tx, var: dict) -> ApplyStateResponse:
    """svDeleteCASTxn: cas=0 deletes only what does not exist (a no-op); any other index must be
    the variable's ModifyIndex, and a variable that is gone is a conflict with its zero value."""
    existing = tx.store.variables.get(var["Namespace"], var["Path"])
    if var["ModifyIndex"] == 0 and existing is None:
        return _ok()
    if var["ModifyIndex"] != 0 and existing is None:
        return _zero_conflict(var)
    if var["ModifyIndex"] == 0 or var["ModifyIndex"] != existing["ModifyIndex"]:
        return _conflict(tx, existing)
    return var_delete(tx, var)


def var_lock_acquire(tx, var: dict) -> ApplyStateResponse:
    """VarLockAcquire: a variable another lock holds is a conflict; any other is overwritten,
    items included, with the new lock."""
    existing = tx.store.variables.get(var["Namespace"], var["Path"])
    if existing is not None and is_locked(existing.get("Lock"), var):
        return _zero_conflict(existing)
    return var_set(tx, var)


def var_lock_release(tx, var: dict) -> ApplyStateResponse:
    """VarLockRelease: the lock is removed and the items kept; ModifyTime stays what it was.  A
    request without a lock (the TTL timer's own release) releases whatever lock is held."""
    existing = tx.store.variables.get(var["Namespace"], var["Path"])
    if existing is None:
        return ApplyStateResponse("error", error="variable doesn't exist")
    lock = existing.get("Lock")
    if lock is None or not lock["ID"]:
        return ApplyStateResponse("error", error="variable doesn't hold a lock")
    if var.get("Lock") is not None and lock["ID"] != var["Lock"]["ID"]:
        return _zero_conflict(existing)
    updated = {key: value for key, value in existing.items() if key != "Lock"}
    updated["ModifyIndex"] = tx.index
    tx.put_variable(updated, None)
    return _ok(updated)


STATE_OPS = {
    "set": var_set,
    "cas": var_set_cas,
    "delete": var_delete,
    "delete-cas": var_delete_cas,
    "lock-acquire": var_lock_acquire,
    "lock-release": var_lock_release,
}
