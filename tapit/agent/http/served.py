"""What `tapit agent status` says the agent serves: the route table's resources, and the areas of
Nomad's API it leaves out (docs/agent.md, "Not served", lists every path)."""

from __future__ import annotations

from .server import ROUTES

# The areas of command/agent/http.go registerHandlers the agent serves nothing of, by the path
# prefix of their endpoints.
NOT_SERVED = {
    "deployments": "/v1/deployment",
    "services": "/v1/service",
    "volumes": "/v1/volume",
    "plugins": "/v1/plugin",
    "ACL roles": "/v1/acl/role",
    "ACL auth methods": "/v1/acl/auth-method",
    "ACL binding rules": "/v1/acl/binding-rule",
    "ACL logins": "/v1/acl/login",
    # Of the operator's endpoints only the raft configuration is served.
    "operator license": "/v1/operator/license",
    "raft peers": "/v1/operator/raft/peer",
    "raft leadership transfer": "/v1/operator/raft/transfer-leadership",
    "operator keyring": "/v1/operator/keyring",
    "autopilot": "/v1/operator/autopilot",
    "snapshots": "/v1/operator/snapshot",
    "upgrade checks": "/v1/operator/upgrade-check",
    "utilization": "/v1/operator/utilization",
    "scheduler configuration": "/v1/operator/scheduler",
    "workload identity": "/.well-known",
    "the web UI": "/ui",
}


def resources() -> list[str]:
    """The first segment after /v1/ of every route, a plural folded into its singular."""
    names = {endpoint.path.split("/")[2].split("{")[0] for endpoint in ROUTES}
    return sorted(n for n in names if not (n.endswith("s") and n[:-1] in names))


def summary() -> str:
    return (
        f"It serves {len(ROUTES)} endpoints of Nomad's HTTP API: {', '.join(resources())}. "
        f"Not served: {', '.join(NOT_SERVED)} (docs/agent.md lists each path)."
    )
