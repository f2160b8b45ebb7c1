"""An ACL policy's rules as acl.Parse returns them (acl/policy.go Policy, with its shorthand
policies expanded into capabilities): what ACL.GetPolicy (nomad/acl_endpoint.go) sets as the
policy's RulesJSON on a read.  The rules were checked when the policy was written (acl.parse)."""

from __future__ import annotations

from .acl import _EXPANDED, _unquote

# acl/policy.go expandNodePoolPolicy, expandHostVolumePolicy, expandOperatorPolicy, expandSentinelPolicy.
_NODE_POOL = {"deny": ["deny"], "read": ["read"], "write": ["delete", "read", "write"]}
_HOST_VOLUME = {"deny": ["deny"], "read": ["mount-readonly"], "write": ["mount-readonly", "mount-readwrite"]}
_OPERATOR = {
    "deny": ["deny"],
    "read": ["license-read", "keyring-read"],
    "write": ["snapshot-save", "license-read", "keyring-rotate", "keyring-read", "keyring-delete"],
}
_SENTINEL = {
    "deny": ["deny"],
    "read": ["sentinel-read"],
    "write": ["sentinel-read", "sentinel-submit", "sentinel-delete"],
}
# expandNamespaceCapabilities: what a host volume capability implies.
_IMPLIED = {
    "host-volume-write": ["host-volume-register", "host-volume-create", "host-volume-delete", "host-volume-read"],
    "host-volume-register": ["host-volume-create", "host-volume-read"],
    "host-volume-create": ["host-volume-read"],
}


def _capabilities(body: dict, expand: dict[str, list[str]]) -> list[str] | None:
    """The block's capabilities, then its policy's (append to a nil slice: nil when neither)."""
    found = [_unquote(c) for c in body.get("capabilities") or ()]
    found += expand.get(_unquote(body.get("policy", "")), [])
    return found or None


def _variables(body: dict) -> dict | None:
    """VariablesPolicy: its paths, each one's capabilities as expandVariablesCapabilities leaves them."""
    blocks = body.get("variables") or ()
    if not blocks:
        return None
    paths = []
    for block in blocks:
        for entry in block.get("path") or ():
            for spec, path_body in entry.items():
                if spec == "__is_block__":
                    continue
                caps = [_unquote(c) for c in path_body.get("capabilities") or ()] or None
                if caps and "deny" in caps:
                    caps = ["deny"]
                elif caps and "read" in caps and "list" not in caps:
                    caps = [*caps, "list"]
                paths.append({"PathSpec": _unquote(spec), "Capabilities": caps})
    return {"Paths": paths}


def _labelled(doc: dict, kind: str, expand: dict[str, list[str]], namespaces: bool = False) -> list[dict] | None:
    out = []
    for block in doc.get(kind) or ():
        for name, body in block.items():
            if name == "__is_block__":
                continue
            item = {"Name": _unquote(name), "Policy": _unquote(body.get("policy", "")), "Capabilities": None}
            capabilities = _capabilities(body, expand)
            if namespaces:
                implied = [extra for c in capabilities or () for extra in _IMPLIED.get(c, ())]
                capabilities = (capabilities or []) + implied or None
                item.update(Capabilities=capabilities, Variables=_variables(body))
            else:
                item["Capabilities"] = capabilities
            out.append(item)
    return out or None


def _single(doc: dict, kind: str, expand: dict[str, list[str]] | None = None) -> dict | None:
    blocks = doc.get(kind) or ()
    if not blocks:
        return None
    body = blocks[-1]
    out: dict = {"Policy": _unquote(body.get("policy", ""))}
    if expand is not None:
        out["Capabilities"] = _capabilities(body, expand)
    return out


def rules_json(rules: str) -> dict:
    """acl.Parse(rules, lenient): acl.Policy, field for field (ExtraKeysHCL is nil once parsed)."""
    doc: dict = {}
    if rules:
        import hcl2  # only when a policy is read

        doc = hcl2.loads(rules)
    return {
        "Namespaces": _labelled(doc, "namespace", _EXPANDED, namespaces=True),
        "NodePools": _labelled(doc, "node_pool", _NODE_POOL),
        "HostVolumes": _labelled(doc, "host_volume", _HOST_VOLUME),
        "Agent": _single(doc, "agent"),
        "Node": _single(doc, "node"),
        "Operator": _single(doc, "operator", _OPERATOR),
        "Sentinel": _single(doc, "sentinel", _SENTINEL),
        "Quota": _single(doc, "quota"),
        "Plugin": _single(doc, "plugin"),
        "Raw": rules,
        "ExtraKeysHCL": None,
    }
