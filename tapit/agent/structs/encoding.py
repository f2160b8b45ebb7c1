"""How Nomad's JSON encoder leaves out the empty fields of the structs tagged omitempty."""

from __future__ import annotations

from .funcs import ZERO_TIME


def omit_empty(obj: dict) -> dict:
    """What go-msgpack writes for a struct whose `_struct bool` field is tagged `codec:",omitempty"`
    (Allocation, Evaluation): every top-level field whose value is empty is left out.

    codec/helper.go isEmptyValue (Nomad's JsonHandle does not set RecursiveEmptyCheck): "", 0, false,
    nil, and any string, slice or map of length 0 are empty; a struct is empty when it is a zero
    time.Time or, if comparable, equal to its zero value (DesiredTransition with only nil pointers);
    a pointer is empty only when nil, whatever it points to.  Nested structs keep all their fields.
    """
    return {key: value for key, value in obj.items() if not _empty_field(key, value)}


# Top-level fields of Allocation/Evaluation that are comparable structs rather than pointers.
_ZERO_STRUCTS = {
    "WaitUntil": ZERO_TIME,
    "DesiredTransition": dict.fromkeys(
        ("Migrate", "Reschedule", "ForceReschedule", "NoShutdownDelay", "MigrateDisablePlacement")
    ),
}


def _empty_field(key: str, value) -> bool:
    if key in _ZERO_STRUCTS:
        return value == _ZERO_STRUCTS[key]
    if value is None or value is False:
        return True
    if isinstance(value, (str, list, dict)):
        return not value
    return isinstance(value, (int, float)) and value == 0
