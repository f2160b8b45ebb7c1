"""ACL policies and client tokens beside the agent's management token, as Nomad's ACL system has
them (acl/policy.go, acl/acl.go, nomad/structs/structs.go ACLPolicy, ACLToken), so that a token
of a cluster's policy is refused here exactly where a cluster refuses it.

Kept: the namespace rules (capabilities and the `policy` shorthand), the node and agent rules.
A policy's other blocks (variables, host volumes, plugins, quotas, operator) are parsed and grant
nothing here, as the agent serves none of what they guard to a client token.
"""

from __future__ import annotations

import fnmatch
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# acl/policy.go isNamespaceCapabilityValid.
NAMESPACE_CAPABILITIES = frozenset(
    """deny list-jobs parse-job read-job submit-job dispatch-job read-logs read-fs alloc-exec alloc-node-exec
    alloc-lifecycle csi-register-plugin csi-write-volume csi-read-volume csi-list-volume csi-mount-volume
    host-volume-create host-volume-register host-volume-read host-volume-write host-volume-delete
    list-scaling-policies read-scaling-policy read-job-scaling scale-job register-job revert-job deregister-job
    purge-job evaluate-job plan-job tag-job-version stable-job fail-deployment pause-deployment
    promote-deployment unblock-deployment cancel-deployment set-alloc-health-deployment gc-allocation
    pause-allocation force-periodic-job delete-service-registration sentinel-override
    submit-recommendation""".split()
)
POLICIES = ("deny", "read", "write", "list", "scale")  # isPolicyValid, and "scale" for namespaces
# acl/policy.go expandNamespacePolicy.
_READ = [
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
]
_WRITE = _READ + [
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
]
_EXPANDED = {
    "deny": ["deny"],
    "read": _READ,
    "write": _WRITE,
    "scale": [
        "list-scaling-policies",
        "read-scaling-policy",
        "read-job-scaling",
        "scale-job",
        "read-job",
        "submit-recommendation",
    ],
}
_LEVELS = {"deny": 0, "list": 1, "read": 2, "write": 3}


class PolicyError(ValueError):
    """acl.Parse's error, in its words."""


@dataclass(frozen=True)
class Rules:
    """One parsed policy, or several merged: capabilities by namespace (or glob), node and agent."""

    namespaces: dict[str, frozenset[str]] = field(default_factory=dict)
    node: str = ""
    agent: str = ""


def _unquote(value):
    # python-hcl2 keeps a string's quotes.
    return value[1:-1] if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' else value


def parse(rules: str) -> Rules:
    """acl.Parse: the policy's HCL, its namespace shorthands expanded."""
    import hcl2  # only when a policy is written

    if not rules.strip():
        raise PolicyError("Failed to parse ACL Policy: policy is empty")
    try:
        doc = hcl2.loads(rules)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the policy's, in one line
        raise PolicyError(f"Failed to parse ACL Policy: {' '.join(str(exc).split())}") from None
    namespaces: dict[str, frozenset[str]] = {}
    for block in doc.get("namespace") or ():
        for raw_name, body in block.items():
            name = _unquote(raw_name)
            policy = _unquote(body.get("policy", ""))
            capabilities = [_unquote(c) for c in body.get("capabilities") or ()]
            if policy and policy not in _EXPANDED:
                raise PolicyError(f"Invalid namespace policy: {name} {policy!r}")
            for capability in capabilities:
                if capability not in NAMESPACE_CAPABILITIES:
                    raise PolicyError(f"Invalid namespace capability '{capability}': {name}")
            namespaces[name] = namespaces.get(name, frozenset()) | set(capabilities) | set(_EXPANDED.get(policy, ()))
    levels = {}
    for kind in ("node", "agent"):
        for block in doc.get(kind) or ():
            level = _unquote(block.get("policy", ""))
            if level not in _LEVELS:
                raise PolicyError(f"Invalid {kind} policy: {level!r}")
            levels[kind] = level
    return Rules(namespaces, levels.get("node", ""), levels.get("agent", ""))


def merge(all_rules: list[Rules]) -> Rules:
    """acl.NewACL: the union of the policies' capabilities; a deny anywhere wins (allowNamespaceOperation)."""
    namespaces: dict[str, frozenset[str]] = {}
    for rules in all_rules:
        for name, capabilities in rules.namespaces.items():
            namespaces[name] = namespaces.get(name, frozenset()) | capabilities

    def level(kind: str) -> str:
        found = [getattr(r, kind) for r in all_rules if getattr(r, kind)]
        return "deny" if "deny" in found else max(found, key=_LEVELS.__getitem__, default="")

    return Rules(namespaces, level("node"), level("agent"))


class ACL:
    """What a client token may do (acl/acl.go ACL). `None` stands for a management token."""

    def __init__(self, rules: Rules, token: dict | None = None):
        self.rules = rules
        self.token = token  # the ACLToken it was resolved from

    def capabilities(self, namespace: str) -> frozenset[str]:
        """acl.go: the exact namespace's rule, else the closest matching glob's (here the longest)."""
        spaces = self.rules.namespaces
        if namespace in spaces:
            return spaces[namespace]
        globs = [name for name in spaces if "*" in name and fnmatch.fnmatchcase(namespace, name)]
        return spaces[max(globs, key=len)] if globs else frozenset()

    def allows(self, namespace: str, *capabilities: str) -> bool:
        """AllowNsOpAnyOf."""
        have = self.capabilities(namespace)
        return "deny" not in have and any(c in have for c in capabilities)

    def allows_somewhere(self, capability: str) -> bool:
        """AllowNsOpFunc over every rule: a wildcard ("*") list asks this."""
        return any("deny" not in have and capability in have for have in self.rules.namespaces.values())

    def node_read(self) -> bool:
        return self.rules.node in ("read", "write")

    def agent_read(self) -> bool:
        return self.rules.agent in ("read", "write")


class AclStore:
    """Policies and client tokens, kept in one file (0600) so they outlive a restart, as a
    cluster's raft state does."""

    def __init__(self, path: Path):
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.policies: dict[str, dict] = data.get("policies", {})
        self.tokens: dict[str, dict] = data.get("tokens", {})  # by SecretID

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"policies": self.policies, "tokens": self.tokens}, f)
        os.replace(temporary, self.path)

    def put_policy(self, policy: dict, index: int) -> None:
        parse(policy.get("Rules") or "")
        existing = self.policies.get(policy["Name"])
        self.policies[policy["Name"]] = {
            "Name": policy["Name"],
            "Description": policy.get("Description", ""),
            "Rules": policy["Rules"],
            "CreateIndex": existing["CreateIndex"] if existing else index,
            "ModifyIndex": index,
        }
        self._save()

    def create_token(self, request: dict, index: int, now: str) -> dict:
        """ACL.UpsertTokens for a new client token (structs.ACLToken.Validate's rules)."""
        if request.get("Type", "client") != "client":
            raise PolicyError("the embedded agent creates client tokens only; its management token is its own")
        policies = list(request.get("Policies") or ())
        if not policies:
            raise PolicyError("client token missing policies or roles")
        missing = [name for name in policies if name not in self.policies]
        if missing:
            raise PolicyError(f"cannot find policy {missing[0]}")
        token = {
            "AccessorID": str(uuid.uuid4()),
            "SecretID": str(uuid.uuid4()),
            "Name": request.get("Name", ""),
            "Type": "client",
            "Policies": policies,
            "Roles": None,
            "Global": bool(request.get("Global")),
            "CreateTime": now,
            "ExpirationTime": None,
            "CreateIndex": index,
            "ModifyIndex": index,
        }
        self.tokens[token["SecretID"]] = token
        self._save()
        return token

    def resolve(self, secret: str) -> ACL | None:
        """The token's ACL, or None when there is no such client token."""
        token = self.tokens.get(secret)
        if token is None:
            return None
        return ACL(merge([parse(self.policies[n]["Rules"]) for n in token["Policies"] if n in self.policies]), token)
