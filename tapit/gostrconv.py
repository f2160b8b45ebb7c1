"""Go's strconv.ParseBool, which Nomad uses for boolean query parameters and NOMAD_* variables.

Shared by the client (reading NOMAD_SKIP_VERIFY) and the embedded agent
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
