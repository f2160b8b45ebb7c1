"""Request bodies decoded as Nomad decodes them: Go's encoding/json (v1, which Nomad's Go 1.26
toolchain builds; JSONv2 becomes the default only with Go 1.27) reading into Nomad's api structs.

command/agent/http.go decodeBody runs `json.NewDecoder(req.Body).Decode(&out)` and the handlers
answer any error with CodedError(400, err.Error()), so a malformed body gets Go's own words:

- the Decoder reads the first JSON value and ignores what follows it (stream.go readValue); a
  body of only whitespace is "EOF", one that stops inside the value "unexpected EOF", a syntax
  error is scanner.go's "invalid character ..." and nesting past maxNestingDepth (10000) is
  "invalid character '[' exceeded max depth";
- a value that does not fit its Go type is an UnmarshalTypeError (decode.go), the first one in
  document order: "json: cannot unmarshal <what> into Go struct field <Struct>.<path> of type
  <type>", where <Struct> is the innermost struct holding the field and <path> the JSON names of
  every struct field from the root; numbers that do not fit a Go int, uint or float64 (1e400,
  1.5 for an int, -1 for a uint64) name their literal ("number 1e400").

Python's C decoder takes well-formed bodies; only a body it refuses is scanned again the way Go's
scanner does, to find Go's error (or to read a valid body nested deeper than Python recurses).
"""

from __future__ import annotations

import json
import re

from tapit.gostrconv import quote

MAX_DEPTH = 10000  # scanner.go maxNestingDepth
SPACE = b" \t\r\n"


class JSONError(ValueError):
    """A body Go's Decoder refuses; str() is err.Error()."""


class Number(str):
    """A JSON number, kept as its literal: Go converts it for the field it lands in."""


class Pairs(list):
    """A JSON object as its (key, value) pairs in document order: Go visits every key, repeated
    or differing only in case, and the first misfit decides the error."""


def _refuse_constant(name: str):
    raise ValueError(name)  # NaN and Infinity are not JSON to Go


_FAST = json.JSONDecoder(object_pairs_hook=Pairs, parse_int=Number, parse_float=Number, parse_constant=_refuse_constant)


def read_value(raw: bytes):
    """The first JSON value of the body, as json.Decoder.Decode reads it."""
    body = raw.lstrip(SPACE)
    if not body:
        raise JSONError("EOF")
    try:
        return _FAST.raw_decode(body.decode("utf-8"))[0]
    except (ValueError, RecursionError):
        return _Scanner(body).value()


# --- Go's scanner, for the bodies Python refuses ------------------------------------------

_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_HEX = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789"


def quote_char(c: int) -> str:
    """scanner.go quoteChar: the byte as a Go character literal."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    return "'" + quote(chr(c))[1:-1] + "'"


class _Scanner:
    """scanner.go's state machine over the bytes, iterative, building the value it accepts."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def fail(self, c: int, context: str):
        raise JSONError(f"invalid character {quote_char(c)} {context}")

    def peek(self) -> int:
        """The next byte that is not space; running out inside the value is Decoder's
        io.ErrUnexpectedEOF."""
        data, pos = self.data, self.pos
        while pos < len(data) and data[pos] in SPACE:
            pos += 1
        self.pos = pos
        if pos >= len(data):
            raise JSONError("unexpected EOF")
        return data[pos]

    def value(self):
        stack: list[tuple[list, list]] = []  # (container, [pending key]) per open object/array
        while True:
            c = self.peek()
            if c in b"{[":
                if len(stack) + 1 > MAX_DEPTH:
                    self.fail(c, "exceeded max depth")
                self.pos += 1
                container = Pairs() if c == ord("{") else []
                stack.append((container, [None]))
                close = self.peek()
                if close == (ord("}") if c == ord("{") else ord("]")):
                    self.pos += 1
                    item = stack.pop()[0]
                else:
                    if c == ord("{"):
                        stack[-1][1][0] = self.key(close)
                    continue
            else:
                item = self.scalar(c)
            # The value is complete: hand it to its container, then read what follows it.
            while True:
                if not stack:
                    return item
                container, key = stack[-1]
                if isinstance(container, Pairs):
                    container.append((key[0], item))
                else:
                    container.append(item)
                c = self.peek()
                self.pos += 1
                if isinstance(container, Pairs):
                    if c == ord(","):
                        key[0] = self.key(self.peek())
                        break
                    if c != ord("}"):
                        self.fail(c, "after object key:value pair")
                elif c == ord(","):
                    break
                elif c != ord("]"):
                    self.fail(c, "after array element")
                item = stack.pop()[0]

    def key(self, c: int) -> str:
        if c != ord('"'):
            self.fail(c, "looking for beginning of object key string")
        key = self.string()
        c = self.peek()
        if c != ord(":"):
            self.fail(c, "after object key")
        self.pos += 1
        return key

    def scalar(self, c: int):
        if c == ord('"'):
            return self.string()
        if c == ord("-") or c in _DIGITS:
            return self.number()
        for word, value in ((b"true", True), (b"false", False), (b"null", None)):
            if c == word[0]:
                for expected in word[1:]:
                    self.pos += 1
                    got = self.byte()
                    if got != expected:
                        self.fail(got, f"in literal {word.decode()} (expecting {quote_char(expected)})")
                self.pos += 1
                return value
        self.fail(c, "looking for beginning of value")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise JSONError("unexpected EOF")
        return self.data[self.pos]

    def string(self) -> str:
        data, start = self.data, self.pos
        self.pos += 1
        while True:
            self.pos = _STRING_RUN.match(data, self.pos).end()  # type: ignore[union-attr]  # the pattern matches the empty string: always a match
            c = self.byte()
            self.pos += 1
            if c == ord('"'):
                break
            if c < 0x20:
                self.fail(c, "in string literal")
            # a backslash
            c = self.byte()
            self.pos += 1
            if c == ord("u"):
                for _ in range(4):
                    c = self.byte()
                    if c not in _HEX:
                        self.fail(c, "in \\u hexadecimal character escape")
                    self.pos += 1
            elif c not in b'bfnrt\\/"':
                self.fail(c, "in string escape code")
        # Go's unquote turns bytes that are not UTF-8 into U+FFFD; the escapes are JSON's own.
        return json.loads(data[start : self.pos].decode("utf-8", "replace"))

    def number(self) -> Number:
        data, start = self.data, self.pos
        if self.byte() == ord("-"):
            self.pos += 1
            if self.byte() not in _DIGITS:
                self.fail(self.byte(), "in numeric literal")
        self.pos += 1 if data[self.pos] == ord("0") else self._digits()
        if self.pos < len(data) and data[self.pos] == ord("."):
            self.pos += 1
            if self.byte() not in _DIGITS:
                self.fail(self.byte(), "after decimal point in numeric literal")
            self.pos += self._digits()
        if self.pos < len(data) and data[self.pos] in b"eE":
            self.pos += 1
            if self.byte() in b"+-":
                self.pos += 1
            if self.byte() not in _DIGITS:
                self.fail(self.byte(), "in exponent of numeric literal")
            self.pos += self._digits()
        return Number(data[start : self.pos].decode())

    def _digits(self) -> int:
        data, end = self.data, self.pos
        while end < len(data) and data[end] in _DIGITS:
            end += 1
        return end - self.pos


# --- Go types, and decoding a value into one ----------------------------------------------


class GoType:
    """A Go type as decode.go sees it; `name` is reflect.Type.String(). A pointer decodes as
    what it points to (null leaves it nil), so pointers need no type of their own here."""

    def __init__(self, name: str):
        self.name = name

    def decode(self, value, ctx: "_Context"):
        """The value as this type holds it; each kind of type decodes its own way."""
        raise NotImplementedError


def kind(value) -> str:
    """The JSON value as UnmarshalTypeError.Value names it."""
    if isinstance(value, Number):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Pairs):
        return "object"
    return "array"


class _Context:
    """decodeState.errorContext: the struct being filled and the field path from the root."""

    def __init__(self):
        self.struct = ""
        self.path: list[str] = []

    def misfit(self, what: str, go_type: GoType):
        if self.path:
            raise JSONError(
                f"json: cannot unmarshal {what} into Go struct field {self.struct}.{'.'.join(self.path)} "
                f"of type {go_type.name}"
            )
        raise JSONError(f"json: cannot unmarshal {what} into Go value of type {go_type.name}")


class _String(GoType):
    def decode(self, value, ctx):
        if value is None or (isinstance(value, str) and not isinstance(value, Number)):
            return _valid_text(value)
        ctx.misfit(kind(value), self)


class _Bool(GoType):
    def decode(self, value, ctx):
        if value is None or isinstance(value, bool):
            return value
        ctx.misfit(kind(value), self)


class Int(GoType):
    """Go's signed (or, with signed=False, unsigned) integers: strconv.ParseInt/ParseUint of the
    literal, then the type's range."""

    def __init__(self, name: str, bits: int, signed: bool = True):
        super().__init__(name)
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1 if signed else bits)) - 1
        self.pattern = re.compile(r"-?[0-9]+" if signed else r"[0-9]+")

    def decode(self, value, ctx):
        if value is None:
            return None
        if not isinstance(value, Number):
            ctx.misfit(kind(value), self)
        if not self.pattern.fullmatch(value) or not self.low <= int(value) <= self.high:
            ctx.misfit(f"number {value}", self)
        return int(value)


FLOAT64_NAME = "float64"


def _float64(value: Number, ctx: _Context):
    """strconv.ParseFloat(s, 64): out of range is an error (underflow is not)."""
    number = float(value)
    if number in (float("inf"), float("-inf")):
        ctx.misfit(f"number {value}", _Any(FLOAT64_NAME))
    # Integral values stay ints so that they are written back as Go writes a whole float64.
    return int(number) if number.is_integer() and abs(number) < 1e21 else number


class _Any(GoType):
    """interface{}: JSON's own types; every number a float64."""

    def decode(self, value, ctx):
        if isinstance(value, Number):
            return _float64(value, ctx)
        if isinstance(value, str):
            return _valid_text(value)
        if isinstance(value, Pairs):
            return {key: self.decode(item, ctx) for key, item in value}
        if isinstance(value, list):
            return [self.decode(item, ctx) for item in value]
        return value


class Slice(GoType):
    """[]T from a JSON array."""

    def __init__(self, name: str, elem: GoType):
        super().__init__(name)
        self.elem = elem

    def fits(self, value) -> bool:
        return isinstance(value, list) and not isinstance(value, Pairs)

    def build(self, value, ctx):
        return [self.elem.decode(item, ctx) for item in value]

    def decode(self, value, ctx):
        if value is None:
            return None
        if not self.fits(value):
            ctx.misfit(kind(value), self)
        return self.build(value, ctx)


class _Bytes(Slice):
    """[]byte: a base64 string (kept as sent, as Nomad writes it back) or an array of bytes."""

    def decode(self, value, ctx):
        if isinstance(value, str) and not isinstance(value, Number):
            return value
        return super().decode(value, ctx)


class Map(Slice):
    """map[string]T from a JSON object: keys as sent; decode.go does not add a key to the
    error's field path."""

    def fits(self, value) -> bool:
        return isinstance(value, Pairs)

    def build(self, value, ctx):
        return {key: self.elem.decode(item, ctx) for key, item in value}


class Struct(GoType):
    """A struct: keys matched to fields exactly, else case-insensitively (ASCII folding; Go also
    folds the Kelvin and long-s signs), unknown keys ignored. `promoted` maps the fields of an
    embedded struct to its name, which decode.go puts in the error path. Fields left None are
    not modelled here: any JSON object is accepted for them and kept as sent."""

    def __init__(self, name: str, fields: dict[str, GoType] | None, promoted: dict[str, str] | None = None):
        super().__init__(name)
        self.short = name.rpartition(".")[2]
        self.fields = fields
        self.promoted = promoted or {}
        self.folded = {key.lower(): key for key in fields or ()}

    def decode(self, value, ctx):
        if value is None:
            return None
        if not isinstance(value, Pairs):
            ctx.misfit(kind(value), self)
        if self.fields is None:
            return _Any("").decode(value, ctx)
        out = {}
        for key, item in value:
            name = key if key in self.fields else self.folded.get(key.lower())
            if name is None:
                continue
            outer_struct, depth = ctx.struct, len(ctx.path)
            if name in self.promoted:
                ctx.path.append(self.promoted[name])
            ctx.path.append(name)
            ctx.struct = self.short
            out[name] = self.fields[name].decode(item, ctx)
            ctx.struct = outer_struct
            del ctx.path[depth:]
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(text: str | None) -> str | None:
    """Go's unquote turns a \\u escape of a lone surrogate into U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if text and not text.isascii() else text


def decode(raw: bytes, target: GoType):
    """`json.NewDecoder(body).Decode(&target)`: the value as Python data shaped by the Go type
    (dicts keyed by Go field names, only the fields sent; null is None), or JSONError."""
    value = read_value(raw)
    if value is None:  # null sets the interface holding the request to nil: every field zero
        return {}
    return target.decode(value, _Context())


STRING = _String("string")
BOOL = _Bool("bool")
INT = Int("int", 64)
INT8 = Int("int8", 8)
INT64 = Int("int64", 64)
UINT8 = Int("uint8", 8, signed=False)
UINT64 = Int("uint64", 64, signed=False)
DURATION = Int("time.Duration", 64)
ANY = _Any("interface {}")
BYTES = _Bytes("[]uint8", UINT8)
STRINGS = Slice("[]string", STRING)
STRING_MAP = Map("map[string]string", STRING)
