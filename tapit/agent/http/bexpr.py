"""The subset of go-bexpr that list endpoints' `filter=` accepts here:
`Selector == "v"`, `Selector != "v"`, `"v" in Selector`, joined by `and`/`or`, with parentheses,
where a selector is `Field`, `A.B`, or `Meta["key"]`.  Anything else is a 400, as in Nomad."""

from __future__ import annotations

import re

TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>==|!=|\(|\)|\[|\]|\.)|(?P<word>[A-Za-z_][\w-]*))')


class FilterError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.lastgroup is None:  # each alternative takes one character at least
            raise FilterError(f"failed to read filter expression: unexpected input at position {pos}: {text[pos:]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        out.append((kind, value[1:-1].encode().decode("unicode_escape") if kind == "str" else value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (value and token[1] != value):
            raise FilterError(f"failed to read filter expression: unexpected {token[1] if token else 'end'!r}")
        self.pos += 1
        return token[1]

    def parse(self):
        node = self.expr()
        if self.peek() is not None:
            raise FilterError(f"failed to read filter expression: unexpected {self.peek()[1]!r}")
        return node

    def expr(self):
        return self._chain("or", self.term, any)

    def term(self):
        return self._chain("and", self.factor, all)

    def _chain(self, keyword: str, operand, combine):
        """operand (keyword operand)*, left to right, evaluated with short-circuit combine."""
        parts = [operand()]
        while self.peek() == ("word", keyword):
            self.take()
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        return lambda o: combine(part(o) for part in parts)

    def factor(self):
        if self.peek() == ("op", "("):
            self.take()
            node = self.expr()
            self.take("op", ")")
            return node
        if self.peek() and self.peek()[0] == "str":
            value = self.take()
            self.take("word", "in")
            path = self.selector()
            return lambda o: value in (_lookup(o, path) or ())
        path = self.selector()
        op = self.take("op")
        if op not in ("==", "!="):
            raise FilterError(f"failed to read filter expression: unsupported operator {op!r}")
        value = self.take("str")
        if op == "==":
            return lambda o: _text(_lookup(o, path)) == value
        return lambda o: _text(_lookup(o, path)) != value

    def selector(self) -> list[str]:
        path = [self.take("word")]
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take() == ".":
                path.append(self.take("word"))
            else:
                path.append(self.take("str"))
                self.take("op", "]")
        return path


def _lookup(obj, path: list[str]):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def compile_filter(text: str):
    """A predicate over full objects (Nomad evaluates filters on the full Job, not the stub)."""
    return _Parser(text).parse()
