"""What every struct of the agent shares: IDs (Nomad's helper/uuid), go-multierror's format, and
Go's time as Nomad's structs carry it: time.Time as RFC3339Nano, time.Duration as integer
nanoseconds, rendered as time.Duration.String() in messages and read as time.ParseDuration reads it.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"
SECOND = 1_000_000_000
HOUR = 3600 * SECOND


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


def multierror(errors: list[str]) -> str:
    """hashicorp/go-multierror's ListFormatFunc."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


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


# time.ParseDuration's units, in nanoseconds (µ is U+00B5 and μ U+03BC: Go takes both).
UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": SECOND,
    "m": 60 * SECOND,
    "h": HOUR,
}
_LEADING_DIGITS = re.compile(r"[0-9]*")
_UNIT = re.compile(r"[^0-9.]*")


def time_quote(text: str) -> str:
    """The time package's own quote (time/format.go), which its errors use: not strconv.Quote,
    every byte of a non-ASCII or control character is a \\x escape."""
    out = ['"']
    for ch in text:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    return "".join(out) + '"'


def parse_duration_ns(text: str) -> int:
    """time.ParseDuration, in nanoseconds, with its error texts (time/format.go)."""
    invalid = ValueError(f"time: invalid duration {time_quote(text)}")
    s, neg = text, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or s[0].isascii() and s[0].isdigit()):
            raise invalid
        digits = _LEADING_DIGITS.match(s).group()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        whole = int(digits or "0")
        if whole > 1 << 63:  # leadingInt's overflow
            raise invalid
        s = s[len(digits) :]
        fraction, scale, post = 0, 1, False
        if s[:1] == ".":
            s = s[1:]
            decimals = _LEADING_DIGITS.match(s).group()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
            post = bool(decimals)
            for d in decimals:  # leadingFraction: digits past int64's reach are read and dropped
                if fraction > ((1 << 63) - 1) // 10 or fraction * 10 + int(d) > 1 << 63:
                    break
                fraction, scale = fraction * 10 + int(d), scale * 10
            s = s[len(decimals) :]
        if not digits and not post:
            raise invalid
        unit = _UNIT.match(s).group()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
        if not unit:
            raise ValueError(f"time: missing unit in duration {time_quote(text)}")
        s = s[len(unit) :]
        if unit not in UNIT_NS:
            raise ValueError(f"time: unknown unit {time_quote(unit)} in duration {time_quote(text)}")
        size = UNIT_NS[unit]
        if whole > (1 << 63) // size:
            raise invalid
        value = whole * size
        if fraction:
            value += int(float(fraction) * (float(size) / scale))
            if value > 1 << 63:
                raise invalid
        total += value
        if total > 1 << 63:
            raise invalid
    if neg:
        return -total
    if total > (1 << 63) - 1:
        raise invalid
    return total


def parse_duration(text: str) -> float:
    """time.ParseDuration, in seconds."""
    return parse_duration_ns(text) / SECOND
