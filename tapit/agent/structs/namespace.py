"""structs.Namespace (nomad/structs/structs.go): the struct a namespace request decodes into, its
Validate and SetHash, the default namespace the state store starts with (namespaceInit), and the
job submission check against a namespace's capabilities (nomad/job_endpoint_validators.go)."""

from __future__ import annotations
from typing import Any

import base64
import hashlib
import re

from tapit.gostrconv import quote

from . import gojson
from .gojson import STRING, STRING_MAP, STRINGS

DEFAULT = "default"  # structs.DefaultNamespace
DEFAULT_DESCRIPTION = "Default shared namespace"  # structs.DefaultNamespaceDescription
# structs.validNamespaceName; Go's $ is the end of the text, Python's fullmatch.
VALID_NAME = re.compile(r"^[a-zA-Z0-9-]{1,128}$")
MAX_DESCRIPTION = 256  # structs.maxNamespaceDescriptionLength

_CAPABILITIES = gojson.Struct(
    "structs.NamespaceCapabilities",
    dict.fromkeys(
        ("EnabledTaskDrivers", "DisabledTaskDrivers", "EnabledNetworkModes", "DisabledNetworkModes"), STRINGS
    ),
)
_POOLS = gojson.Struct(
    "structs.NamespaceNodePoolConfiguration", {"Default": STRING, "Allowed": STRINGS, "Denied": STRINGS}
)
_VAULT = gojson.Struct(
    "structs.NamespaceVaultConfiguration", {"Default": STRING, "Allowed": STRINGS, "Denied": STRINGS}
)
_CONSUL = gojson.Struct(
    "structs.NamespaceConsulConfiguration", {"Default": STRING, "Allowed": STRINGS, "Denied": STRINGS}
)
NAMESPACE = gojson.Struct(
    "structs.Namespace",
    {
        "Name": STRING,
        "Description": STRING,
        "Quota": STRING,
        "Capabilities": _CAPABILITIES,
        "NodePoolConfiguration": _POOLS,
        "VaultConfiguration": _VAULT,
        "ConsulConfiguration": _CONSUL,
        "Meta": STRING_MAP,
        "Hash": gojson.BYTES,
        "CreateIndex": gojson.UINT64,
        "ModifyIndex": gojson.UINT64,
        "RequiredExtraClaims": STRING_MAP,
        "OptionalExtraClaims": STRING_MAP,
    },
)
# The licensed parts CE refuses (nomad/structs/structs_ce.go).
UNLICENSED = {
    "NodePoolConfiguration": ("node pool", "Node Pools Governance is unlicensed."),
    "VaultConfiguration": ("vault", "Multi-Cluster Vault is unlicensed."),
    "ConsulConfiguration": ("consul", "Multi-Cluster Consul is unlicensed."),
}


def namespace(fields: dict) -> dict:
    """A structs.Namespace with every field, as decoded from `fields`."""
    ns: dict[str, Any] = dict.fromkeys(NAMESPACE.fields or ())
    ns.update({"Name": "", "Description": "", "Quota": "", "CreateIndex": 0, "ModifyIndex": 0})
    ns.update({k: v for k, v in fields.items() if v is not None})
    return ns


def default_namespace() -> dict:
    """namespaceInit: the default namespace, upserted at index 1."""
    ns = namespace({"Name": DEFAULT, "Description": DEFAULT_DESCRIPTION, "CreateIndex": 1, "ModifyIndex": 1})
    ns["Hash"] = set_hash(ns)
    return ns


def validate(ns: dict) -> list[str]:
    """Namespace.Validate's errors."""
    errors = []
    if not VALID_NAME.fullmatch(ns["Name"]):
        errors.append(f"invalid name {quote(ns['Name'])}. Must match regex {VALID_NAME.pattern}")
    if len(ns["Description"].encode()) > MAX_DESCRIPTION:
        errors.append(f"description longer than {MAX_DESCRIPTION}")
    for field, (what, error) in UNLICENSED.items():
        if ns[field] is not None:
            errors.append(f"invalid {what} configuration: {error}")
    return errors


def set_hash(ns: dict) -> str:
    """Namespace.SetHash: BLAKE2b-256 over the user-set fields, base64 as a []byte encodes."""
    digest = hashlib.blake2b(digest_size=32)
    for text in (ns["Name"], ns["Description"], ns["Quota"]):
        digest.update(text.encode())
    caps = ns["Capabilities"] or {}
    for key in ("EnabledTaskDrivers", "DisabledTaskDrivers", "EnabledNetworkModes", "DisabledNetworkModes"):
        for item in caps.get(key) or ():
            digest.update(item.encode())
    for field in ("NodePoolConfiguration", "VaultConfiguration", "ConsulConfiguration"):
        config = ns[field]
        if config is not None:
            digest.update((config.get("Default") or "").encode())
            for item in (*(config.get("Allowed") or ()), *(config.get("Denied") or ())):
                digest.update(item.encode())
    for key in sorted(ns["Meta"] or {}):
        digest.update(key.encode())
        digest.update(ns["Meta"][key].encode())
    return base64.b64encode(digest.digest()).decode()


def _allowed(value: str, enabled: list[str] | None, disabled: list[str] | None) -> bool:
    """taskValidateDriver / taskValidateNetworkMode."""
    allow = not enabled or value in enabled
    return allow and value not in (disabled or ())


def _go_quote_list(items: list[str]) -> str:
    """fmt's %q of a []string."""
    return "[" + " ".join(quote(i) for i in items) + "]"


def job_errors(job: dict, ns: dict | None) -> list[str]:
    """jobNamespaceConstraintCheckHook.Validate: the job's namespace must exist, and allow the
    job's task drivers and group network modes."""
    if ns is None:
        return [f"job {quote(job['ID'])} is in nonexistent namespace {quote(job['Namespace'])}"]
    caps = ns["Capabilities"]
    if caps is None:
        return []
    drivers = [
        t["Driver"]
        for g in job["TaskGroups"]
        for t in g["Tasks"]
        if not _allowed(t["Driver"], caps.get("EnabledTaskDrivers"), caps.get("DisabledTaskDrivers"))
    ]
    if len(drivers) == 1:
        return [f"used task driver {quote(drivers[0])} is not allowed in namespace {quote(ns['Name'])}"]
    if drivers:
        return [f"used task drivers {_go_quote_list(drivers)} are not allowed in namespace {quote(ns['Name'])}"]
    modes = [
        (n.get("Mode") or "host")
        for g in job["TaskGroups"]
        for n in g["Networks"] or ()
        if not _allowed(n.get("Mode") or "host", caps.get("EnabledNetworkModes"), caps.get("DisabledNetworkModes"))
    ]
    if len(modes) == 1:
        return [f"used group network mode {quote(modes[0])} is not allowed in namespace {quote(ns['Name'])}"]
    if modes:
        return [f"used group network modes {_go_quote_list(modes)} are not allowed in namespace {quote(ns['Name'])}"]
    return []
