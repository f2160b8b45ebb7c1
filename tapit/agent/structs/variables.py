"""Variables as nomad/structs/variables.go has them: the body a write decodes into
(VariableDecrypted), the path rules and the 64 KiB limit (ValidatePath, Validate,
ValidateForLock), the lock (VariableLock: Canonicalize, Validate, MarshalJSON) and the list's
VariableMetadata.

A variable is kept here as two parts, as Nomad keeps VariableMetadata apart from the items:
its metadata, a dict in VariableMetadata's field order (Namespace, Path, Lock only when set,
CreateIndex, CreateTime, ModifyIndex, ModifyTime), which is what a list answers and what the
Variable event carries; and its items, a dict of strings.  A lock is kept as MarshalJSON writes it
(TTL and LockDelay as time.Duration strings, "15s"), since that is all anything reads of it.
"""

from __future__ import annotations
from typing import Any

import re

from tapit.gostrconv import quote

from . import gojson
from .funcs import SECOND, go_duration, multierror, new_id, parse_duration_ns
from .gojson import INT64, STRING, UINT64

MAX_VARIABLE_SIZE = 65536  # maxVariableSize
MIN_LOCK_TTL = 10 * SECOND  # minVariableLockTTL
MAX_LOCK_TTL = 24 * 3600 * SECOND  # maxVariableLockTTL
DEFAULT_LOCK_TTL = 15 * SECOND  # defaultLockTTL
DEFAULT_LOCK_DELAY = 15 * SECOND  # defaultLockDelay
# validVariablePath: RFC 3986 URL-safe characters, at most 128 of them.
VALID_PATH = re.compile(r"[a-zA-Z0-9\-_~/]{1,128}")
ALL_NAMESPACES = "*"  # structs.AllNamespacesSentinel

ERR_WILDCARD_NAMESPACE = 'can not target wildcard ("*")namespace'
ERR_QUOTA_EXHAUSTED = "variables are limited to 64KiB in total size"
ERR_NEGATIVE_DELAY_OR_TTL = "Lock delay and TTL must be positive"
ERR_INVALID_TTL = "TTL must be between 10 seconds and 24 hours"


class VariableError(ValueError):
    """An error of variables.go's validation; str() is err.Error()."""


# --- decoding a request body ----------------------------------------------------------


class _LockDuration(gojson.GoType):
    """VariableLock.UnmarshalJSON reads TTL and LockDelay as `any`: a string is parsed by
    time.ParseDuration ("" is zero), a number is nanoseconds (time.Duration(float64) truncates),
    anything else leaves the field zero."""

    def decode(self, value, ctx):
        if isinstance(value, gojson.Number):
            return int(float(value))
        if isinstance(value, str):
            if not value:
                return 0
            try:
                return parse_duration_ns(value)
            except ValueError as exc:
                raise gojson.JSONError(str(exc)) from exc
        return 0


# VariableLock.UnmarshalJSON decodes into `struct { TTL any; LockDelay any; *Alias }`, so the ID
# is Alias's.  Its errors come back through the outer decoder, whose addErrorContext names the
# outer struct and the whole field path: "VariableDecrypted.VariableMetadata.Lock.Alias.ID".
_LOCK_ALIAS = "struct { TTL interface {}; LockDelay interface {}; *structs.Alias }"
_LOCK = gojson.Struct(
    "structs.VariableDecrypted",
    {"ID": STRING, "TTL": _LockDuration("time.Duration"), "LockDelay": _LockDuration("time.Duration")},
    promoted={"ID": "Alias"},
)


class _Lock(gojson.GoType):
    def decode(self, value, ctx):
        if value is None:
            return None
        if not isinstance(value, gojson.Pairs):
            ctx.misfit(gojson.kind(value), gojson.GoType(_LOCK_ALIAS))
        lock = _LOCK.decode(value, ctx)
        return {"ID": lock.get("ID") or "", "TTL": lock.get("TTL") or 0, "LockDelay": lock.get("LockDelay") or 0}


# structs.VariableDecrypted, with VariableMetadata embedded.
VARIABLE_DECRYPTED = gojson.Struct(
    "structs.VariableDecrypted",
    {
        "Namespace": STRING,
        "Path": STRING,
        "Lock": _Lock("*structs.VariableLock"),
        "CreateIndex": UINT64,
        "CreateTime": INT64,
        "ModifyIndex": UINT64,
        "ModifyTime": INT64,
        "Items": gojson.Map("structs.VariableItems", STRING),
    },
    promoted=dict.fromkeys(
        ("Namespace", "Path", "Lock", "CreateIndex", "CreateTime", "ModifyIndex", "ModifyTime"), "VariableMetadata"
    ),
)


# --- validation -------------------------------------------------------------------------


def items_size(items: dict | None) -> int:
    """VariableItems.Size: the bytes of every key and value."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in (items or {}).items())


def validate_path(path: str) -> None:
    """ValidatePath."""
    if not path:
        raise VariableError("variable requires path")
    if not VALID_PATH.fullmatch(path):
        raise VariableError(f"invalid path {quote(path)}")
    parts = path.split("/")
    if parts[0] != "nomad":
        return
    if len(parts) == 1:
        raise VariableError(
            '"nomad" is a reserved top-level directory path, but you may write variables to "nomad/jobs", '
            '"nomad/job-templates", "nomad/sentinel", or below'
        )
    if parts[1] in ("jobs", "sentinel") or (parts[1] == "job-templates" and len(parts) == 3):
        return
    if parts[1] == "job-templates":
        raise VariableError(
            '"nomad/job-templates" is a reserved directory path, but you may write variables at the level '
            'below it, for example, "nomad/job-templates/template-name"'
        )
    raise VariableError(
        'only paths at "nomad/jobs" or "nomad/job-templates" and below are valid paths under the top-level '
        '"nomad" directory'
    )


def canonicalize_lock(lock: dict) -> None:
    """VariableLock.Canonicalize: a lock without an ID is a new one."""
    lock["ID"] = lock["ID"] or new_id()
    lock["LockDelay"] = lock["LockDelay"] or DEFAULT_LOCK_DELAY
    lock["TTL"] = lock["TTL"] or DEFAULT_LOCK_TTL


def validate_lock(lock: dict) -> None:
    """VariableLock.Validate."""
    errors = []
    if lock["LockDelay"] < 0 or lock["TTL"] < 0:
        errors.append(ERR_NEGATIVE_DELAY_OR_TTL)
    if not MIN_LOCK_TTL <= lock["TTL"] <= MAX_LOCK_TTL:
        errors.append(ERR_INVALID_TTL)
    if errors:
        raise VariableError(multierror(errors))


def canonicalize(var: dict) -> None:
    """VariableDecrypted.Canonicalize."""
    var["Namespace"] = var.get("Namespace") or "default"
    if var.get("Lock") is not None:
        canonicalize_lock(var["Lock"])


def validate(var: dict) -> None:
    """VariableDecrypted.Validate, in its order."""
    if var["Namespace"] == ALL_NAMESPACES:
        raise VariableError(ERR_WILDCARD_NAMESPACE)
    if not var.get("Items"):
        raise VariableError("empty variables are invalid")
    if items_size(var["Items"]) > MAX_VARIABLE_SIZE:
        raise VariableError(ERR_QUOTA_EXHAUSTED)
    validate_path(var["Path"])
    if var.get("Lock") is not None:
        validate_lock(var["Lock"])


def validate_for_lock(var: dict) -> None:
    """VariableDecrypted.ValidateForLock: a variable made only to hold a lock needs no items."""
    if var["Namespace"] == ALL_NAMESPACES:
        raise VariableError(multierror([ERR_WILDCARD_NAMESPACE]))
    if items_size(var.get("Items")) > MAX_VARIABLE_SIZE:
        raise VariableError(ERR_QUOTA_EXHAUSTED)
    validate_path(var["Path"])
    validate_lock(var["Lock"])


# --- what is kept and answered ------------------------------------------------------------


def lock_json(lock: dict) -> dict:
    """VariableLock.MarshalJSON: TTL and LockDelay as Duration.String(), "" when zero, then ID."""
    return {
        "TTL": go_duration(lock["TTL"]) if lock["TTL"] else "",
        "LockDelay": go_duration(lock["LockDelay"]) if lock["LockDelay"] else "",
        "ID": lock["ID"],
    }


def lock_durations(lock: dict) -> tuple[int, int]:
    """A kept lock's TTL and LockDelay back in nanoseconds."""
    return (
        parse_duration_ns(lock["TTL"]) if lock["TTL"] else 0,
        parse_duration_ns(lock["LockDelay"]) if lock["LockDelay"] else 0,
    )


def metadata(
    namespace: str,
    path: str,
    lock: dict | None = None,
    create_index: int = 0,
    create_time: int = 0,
    modify_index: int = 0,
    modify_time: int = 0,
) -> dict:
    """VariableMetadata, as its JSON: Lock is omitempty (and already in MarshalJSON's form)."""
    meta: dict[str, Any] = {"Namespace": namespace, "Path": path}
    if lock is not None:
        meta["Lock"] = lock
    meta.update(CreateIndex=create_index, CreateTime=create_time, ModifyIndex=modify_index, ModifyTime=modify_time)
    return meta


def decrypted(meta: dict, items: dict | None) -> dict:
    """VariableDecrypted as its JSON: the metadata's fields, then Items, omitempty."""
    return {**meta, "Items": items} if items else dict(meta)
