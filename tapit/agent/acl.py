"""ACL policies and client tokens beside the agent's management token, as Nomad's ACL system has
them (acl/policy.go, acl/acl.go, nomad/structs/structs.go ACLPolicy, ACLToken), so that a token
of a cluster's policy is refused here exactly where a cluster refuses it.

Kept: the namespace rules (capabilities and the `policy` shorthand), the node and agent rules.
A policy's other blocks (variables, host volumes, plugins, quotas, operator) are parsed and grant
nothing here, as the agent serves none of what they guard to a client token.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .structs.funcs import SECOND, rfc3339nano

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
        return Rules()  # acl/policy.go Parse: empty rules are a policy that grants nothing
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

    def __init__(self, rules: Rules, token: dict):
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


def _blake2b_256(*parts: str) -> str:
    """structs/acl.go SetHash: blake2b-256 over the parts, as Go's []byte encodes it (base64)."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part.encode())
    return base64.b64encode(digest.digest()).decode()


def _token_hash(token: dict) -> str:
    # structs/acl.go ACLToken.SetHash (the agent keeps no roles).
    return _blake2b_256(
        token["Name"], token["Type"], *(token["Policies"] or ()), "global" if token["Global"] else "local"
    )


# structs/acl.go ACLTokenListStub and ACLPolicyListStub: the token or policy less these.
_TOKEN_STUB_DROPS = ("SecretID", "ExpirationTTL")
_POLICY_STUB = ("Name", "Description", "JobACL", "Hash", "CreateIndex", "ModifyIndex")


# The agent's bootstrap: its name as ACL.Bootstrap gives it, and the index it is said to have had
# (the agent's own token exists before any write).
BOOTSTRAP_NAME = "Bootstrap Token"
BOOTSTRAP_INDEX = 1
ONE_TIME_TTL_NS = 600 * SECOND  # nomad/acl_endpoint.go UpsertOneTimeToken: ExpiresAt now + 10 minutes


def _is_bootstrap(token: dict) -> bool:
    return token["Name"] == BOOTSTRAP_NAME and token["CreateIndex"] == BOOTSTRAP_INDEX


class AclStore:
    """Policies and tokens, kept in one file (0600) so they outlive a restart, as a cluster's raft
    state does: the agent's own token as its bootstrap token (bootstrapped_with), and those made
    through the token API."""

    def __init__(self, path: Path):
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.policies: dict[str, dict] = data.get("policies", {})
        self.tokens: dict[str, dict] = data.get("tokens", {})  # by SecretID
        # structs.OneTimeToken by OneTimeSecretID, with its expiry in ns under "_expires".
        self.one_time: dict[str, dict] = data.get("one_time", {})

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"policies": self.policies, "tokens": self.tokens, "one_time": self.one_time}, f)
        os.replace(temporary, self.path)

    def put_policy(self, policy: dict, index: int) -> None:
        rules = policy.get("Rules") or ""
        parse(rules)
        existing = self.policies.get(policy["Name"])
        description = policy.get("Description", "")
        # structs.ACLPolicy; RulesJSON, which GetPolicy derives from Rules, is added on a read.
        self.policies[policy["Name"]] = {
            "Name": policy["Name"],
            "Description": description,
            "Rules": rules,
            "JobACL": None,
            "Hash": _blake2b_256(policy["Name"], description, rules),
            "CreateIndex": existing["CreateIndex"] if existing else index,
            "ModifyIndex": index,
        }
        self._save()

    def delete_policy(self, name: str) -> None:
        """state_store.go DeleteACLPolicies: deleting a policy that is not there is no error."""
        if self.policies.pop(name, None) is not None:
            self._save()

    def policy_stubs(self, names: list[str] | None = None) -> list[dict]:
        """ACL.ListPolicies, by name; `names` limits it to a client token's own policies."""
        return [
            {key: policy.get(key) for key in _POLICY_STUB}
            for name, policy in sorted(self.policies.items())
            if names is None or name in names
        ]

    def upsert_token(self, request: dict, index: int, now: str) -> dict:
        """ACL.UpsertTokens for one token: a new one without AccessorID, else an update of it."""
        accessor = request.get("AccessorID") or ""
        existing = self.token_by_accessor(accessor) if accessor else None
        if accessor and existing is None:
            # acl_endpoint.go upsertTokens: only a client token with both IDs may be uploaded.
            secret = request.get("SecretID") or ""
            if not (_is_uuid(accessor) and _is_uuid(secret)) or request.get("Type") == "management":
                raise PolicyError(f"cannot find token {accessor}")
        _validate_token(request, existing)
        if existing is not None:
            # state_store.go upsertACLTokenTxn: the SecretID and create time do not change.
            secret, created = existing["SecretID"], existing["CreateTime"]
            del self.tokens[secret]
        else:
            secret, created = request.get("SecretID") or str(uuid.uuid4()), now
        token = self._store_token(
            request,
            accessor or str(uuid.uuid4()),
            secret,
            None if existing is None else existing["CreateIndex"],
            index,
            created,
        )
        self._save()
        return token

    def _store_token(
        self, request: dict, accessor: str, secret: str, create_index: int | None, index: int, created: str
    ) -> dict:
        token = {
            "AccessorID": accessor,
            "SecretID": secret,
            "Name": request.get("Name", ""),
            "Type": request["Type"],
            "Policies": request.get("Policies") or None,
            "Roles": None,
            "Global": bool(request.get("Global")),
            "Hash": "",
            "CreateTime": created,
            "ExpirationTime": None,
            "ExpirationTTL": 0,
            "CreateIndex": create_index or index,
            "ModifyIndex": index,
        }
        token["Hash"] = _token_hash(token)
        self.tokens[secret] = token
        return token

    def bootstrapped_with(self, secret: str, now: str) -> None:
        """The agent is bootstrapped when it is made: its own token is the "Bootstrap Token", the
        global management token ACL.Bootstrap makes (nomad/acl_endpoint.go), so the token API shows
        it as a bootstrapped cluster's does. A bootstrap token of an earlier agent token goes: a
        secret the agent no longer holds grants nothing."""
        for old in [t for t in self.tokens.values() if _is_bootstrap(t) and t["SecretID"] != secret]:
            del self.tokens[old["SecretID"]]
        if secret not in self.tokens:
            request = {"Name": BOOTSTRAP_NAME, "Type": "management", "Global": True}
            self._store_token(request, str(uuid.uuid4()), secret, None, BOOTSTRAP_INDEX, now)
        self._save()

    def delete_token(self, accessor: str) -> None:
        """state_store.go DeleteACLTokens: deleting a token that is not there is no error."""
        token = self.token_by_accessor(accessor)
        if token is not None:
            del self.tokens[token["SecretID"]]
            self._save()

    def upsert_one_time(self, secret: str, index: int, now_ns: int) -> dict | None:
        """ACL.UpsertOneTimeToken (nomad/acl_endpoint.go): a one-time token for the caller's own
        token, valid ten minutes; None when the caller holds none (no capability is checked)."""
        token = self.tokens.get(secret)
        if token is None:
            return None
        self._expire_one_time(now_ns)
        expires = now_ns + ONE_TIME_TTL_NS
        one_time = {
            "OneTimeSecretID": str(uuid.uuid4()),
            "AccessorID": token["AccessorID"],
            "ExpiresAt": rfc3339nano(expires),
            "CreateIndex": index,
            "ModifyIndex": index,
        }
        self.one_time[one_time["OneTimeSecretID"]] = dict(one_time, _expires=expires)
        self._save()
        return one_time

    def exchange_one_time(self, one_time_secret: str, now_ns: int) -> dict | None:
        """ACL.ExchangeOneTimeToken: the ACL token behind an unexpired one-time token, whose
        every one-time token then goes (OneTimeTokenDeleteRequest by AccessorID); None when there
        is no such token, it has expired, or the token behind it was deleted."""
        self._expire_one_time(now_ns)
        found = self.one_time.get(one_time_secret)
        token = self.token_by_accessor(found["AccessorID"]) if found is not None else None
        if token is None:
            return None
        self.one_time = {k: v for k, v in self.one_time.items() if v["AccessorID"] != token["AccessorID"]}
        self._save()
        return token

    def _expire_one_time(self, now_ns: int) -> None:
        # The core GC's ExpireOneTimeTokens (nomad/core_sched.go), done at each use instead.
        self.one_time = {k: v for k, v in self.one_time.items() if v["_expires"] > now_ns}

    def token_by_accessor(self, accessor: str) -> dict | None:
        return next((t for t in self.tokens.values() if t["AccessorID"] == accessor), None)

    def token_stubs(self) -> list[dict]:
        """ACL.ListTokens: structs.ACLTokenListStub, in AccessorID order (the state store's id index)."""
        tokens = sorted(self.tokens.values(), key=lambda t: t["AccessorID"])
        return [{k: v for k, v in t.items() if k not in _TOKEN_STUB_DROPS} for t in tokens]

    def is_management(self, secret: str) -> bool:
        token = self.tokens.get(secret)
        return token is not None and token["Type"] == "management"

    def resolve(self, secret: str) -> ACL | None:
        """The client token's ACL, or None when there is no such client token."""
        token = self.tokens.get(secret)
        if token is None or token["Type"] != "client":
            return None
        return ACL(merge([parse(self.policies[n]["Rules"]) for n in token["Policies"] if n in self.policies]), token)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _validate_token(request: dict, existing: dict | None) -> None:
    """structs/acl.go ACLToken.Validate, for what the agent keeps (no roles, no expiry)."""
    errors = []
    if len(request.get("Name", "")) > 256:
        errors.append("token name too long")
    kind, policies = request.get("Type"), request.get("Policies") or ()
    if kind == "client" and not policies:
        errors.append("client token missing policies or roles")
    elif kind == "management" and policies:
        errors.append("management token cannot be associated with policies or roles")
    elif kind not in ("client", "management"):
        errors.append("token type must be client or management")
    if existing is not None and existing["Global"] != bool(request.get("Global")):
        errors.append("cannot toggle global mode")
    if errors:
        # acl_endpoint.go upsertTokens: "token %d invalid: %v", the multierror's text.
        listed = "\n".join(f"\t* {e}" for e in errors)
        noun = "error" if len(errors) == 1 else "errors"
        raise PolicyError(f"token 0 invalid: {len(errors)} {noun} occurred:\n{listed}\n\n")
