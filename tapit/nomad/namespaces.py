"""Namespaces: the ones a token may see (api/namespace.go List, nomad/namespace_endpoint.go
ListNamespaces, which leaves out those the token's ACL does not allow)."""

from __future__ import annotations

import builtins

import nomad.api

from tapit.nomad.transport import Transport


class Namespaces:
    def __init__(self, transport: Transport):
        self._t = transport
        self._namespaces = transport.python_nomad(nomad.api.Namespaces)

    def list(self) -> builtins.list[dict]:
        """GET /v1/namespaces: Namespace objects (Name, Description, ...)."""
        # The endpoint answers any token and filters by its ACL, so no capability is named.
        return self._t.rest(lambda: self._namespaces.get_namespaces(), "a token that may see a namespace")
