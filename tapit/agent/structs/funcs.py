"""What every struct of the agent shares: IDs (Nomad's helper/uuid) and Go's time as Nomad's
structs carry it: time.Time as RFC3339Nano, time.Duration as integer nanoseconds, rendered as
time.Duration.String() in messages and read as time.ParseDuration reads it.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"
SECOND = 1_000_000_000
HOUR = 3600 * SECOND
DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def now_ns() -> int:
    return time.time_ns()


def new_id() -> str:
    return str(uuid.uuid4())


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano: trailing zeros of the fraction trimmed; 0 is Go's zero time."""
    if not ns:
        return ZERO_TIME
    secs, frac = divmod(ns, SECOND)
    stamp = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(), used in Nomad's human messages ("5s", "1m30s", "500ms")."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < SECOND:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _trim(ns / size) + unit
    hours, rest = divmod(ns, HOUR)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = _trim(rest / SECOND) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def parse_duration(text: str) -> float:
    """time.ParseDuration, in seconds."""
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total
