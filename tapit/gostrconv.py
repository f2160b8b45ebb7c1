"""Go's strconv: ParseBool, which Nomad uses for boolean query parameters and NOMAD_* variables,
and Quote, which Nomad's messages use for the values they name (%q).

ParseBool is shared by the client (reading NOMAD_SKIP_VERIFY) and the embedded agent
(parsing `purge`, `follow`, ...), so both accept exactly Go's spellings.
"""

GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool:
    """Exactly Go's spellings; anything else a ValueError with Go's own text."""
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\"}


def quote(text: str) -> str:
    """strconv.Quote: printable runes as they are (Go's IsPrint and Python's isprintable agree:
    letters, marks, numbers, punctuation, symbols and the ASCII space), the rest escaped."""
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'
