"""Variables: read, list, write with check-and-set, delete (api/variables.go,
command/agent/variable_endpoint.go).

A write given `cas` succeeds only if the variable's ModifyIndex is `cas` (0: only if there is
none); otherwise Nomad answers 409 with the variable as it is now (nomad/state/
state_store_variables.go varSetCASTxn), which VariableConflict carries so the caller can merge
and try again without another read. The transport's requests session, not python-nomad's
variables API, which neither pages (per_page, next_token) nor hands back X-Nomad-NextToken; and
not httpx, which `list tasks` would then have to import.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import requests

from tapit.nomad.errors import NomadError
from tapit.nomad.transport import REST_TIMEOUT, Transport

# api/variables.go: the path goes in the URL as it is (it may hold "/"); its characters are all
# URL-safe (nomad/structs/variables.go validVariablePath).
VAR = "/v1/var/"
VARS = "/v1/vars"


@dataclass(frozen=True)
class VariableMeta:
    """structs.VariableMetadata, what a list answers."""

    namespace: str
    path: str
    create_index: int
    modify_index: int


@dataclass(frozen=True)
class Variable:
    """structs.VariableDecrypted: the metadata and the items."""

    meta: VariableMeta
    items: dict[str, str]

    @property
    def modify_index(self) -> int:
        return self.meta.modify_index


class VariableConflict(NomadError):
    """A check-and-set write or delete lost: `current` is the variable as Nomad has it now, None
    when there is none (Nomad then answers a zero value without items)."""

    def __init__(self, address: str, path: str, current: Variable | None):
        super().__init__(f"Nomad at {address}: the variable {path} changed since it was read (check-and-set conflict)")
        self.path = path
        self.current = current


def _meta(data: dict) -> VariableMeta:
    return VariableMeta(
        namespace=data.get("Namespace") or "",
        path=data.get("Path") or "",
        create_index=int(data.get("CreateIndex") or 0),
        modify_index=int(data.get("ModifyIndex") or 0),
    )


def _variable(data: dict) -> Variable:
    return Variable(_meta(data), {str(k): str(v) for k, v in (data.get("Items") or {}).items()})


class Variables:
    def __init__(self, transport: Transport):
        self._t = transport

    def get(self, path: str) -> Variable | None:
        """The variable, or None when there is none."""
        response = self._send("GET", VAR + path, "read", path)
        return None if response is None else _variable(self._json(response))

    def list(
        self, prefix: str, per_page: int = 0, next_token: str = "", namespace: str | None = None
    ) -> tuple[builtins.list[VariableMeta], str]:
        """One page of the variables under `prefix`, in (Namespace, Path) order, and the token of
        the next page ("" after the last). Metadata only: a list never carries items."""
        params: dict[str, str] = {"prefix": prefix}
        if per_page:
            params["per_page"] = str(per_page)
        if next_token:
            params["next_token"] = next_token
        if namespace:
            params["namespace"] = namespace
        response = self._send("GET", VARS, "list", prefix + "*", params)
        if response is None:  # an agent without the endpoint: nothing is stored there
            return [], ""
        return [_meta(d) for d in self._json(response) or ()], response.headers.get("X-Nomad-NextToken", "")

    def put(self, path: str, items: dict[str, str], cas: int | None = None) -> Variable:
        """Write the items; with `cas`, only over ModifyIndex `cas` (0: only a new variable)."""
        params = {} if cas is None else {"cas": str(cas)}
        body = {"Path": path, "Items": items}
        response = self._send("PUT", VAR + path, "write", path, params, body)
        if response is None:
            raise self._t.http_failure(404, "variables are not served here", self._needs("write", path), lookup=True)
        return _variable(self._json(response))

    def delete(self, path: str, cas: int | None = None) -> None:
        """Delete it (nothing to delete is no error); with `cas`, only at ModifyIndex `cas`."""
        params = {} if cas is None else {"cas": str(cas)}
        self._send("DELETE", VAR + path, "destroy", path, params)

    def _send(
        self, method: str, url: str, capability: str, path: str, params: dict | None = None, body: Any = None
    ) -> Any:
        """The answer; None for a 404; a 409 raises VariableConflict with the current variable."""
        try:
            response = self._t.session.request(
                method, self._t.endpoint.base_url + url, params=params, json=body, timeout=REST_TIMEOUT
            )
        except requests.RequestException as exc:
            raise self._t.unreachable(exc) from None
        if response.status_code == 404:
            return None
        if response.status_code == 409:
            data = self._json(response)
            raise VariableConflict(self._t.address, path, _variable(data) if data.get("Items") else None)
        if not response.ok:
            raise self._t.http_failure(response.status_code, response.text, self._needs(capability, path), False)
        return response

    def _json(self, response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise self._t.protocol_error("a variables answer that is not JSON") from None

    def _needs(self, capability: str, path: str) -> str:
        """The ACL a 403 names (acl/policy.go: a namespace's variables block grants capabilities by path)."""
        return f'variables capability "{capability}" on path "{path}" in namespace "{self._t.settings.namespace}"'
