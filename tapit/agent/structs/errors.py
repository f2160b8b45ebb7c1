"""Nomad's RPC errors (nomad/structs/errors.go): an RPC returns an error whose text is all that
crosses to the HTTP handler; a coded one (NewErrRPCCoded) carries its HTTP status in that text."""

from __future__ import annotations

RPC_CODED = "RPC Error:: "  # errRPCCodedErrorPrefix


def coded(code: int, text: str) -> str:
    """NewErrRPCCoded(code, text).Error()."""
    return f"{RPC_CODED}{code},{text}"


class RPCError(Exception):
    """An error an RPC returned; str() is its err.Error()."""
