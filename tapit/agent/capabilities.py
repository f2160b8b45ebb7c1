"""The host capabilities the drivers build on, fingerprinted as Nomad's client fingerprints its
node (client/fingerprint/cgroup.go; drivers/exec/driver.go buildFingerprint): cgroups (memory
and CPU limits, usage figures) and pid/mount namespaces (exec's isolation).  Where one is
missing (macOS has neither; an unprivileged container often lacks cgroups), host tasks still
run under raw_exec and what cannot be enforced is reported: the node's `tapit.limits.unenforced`
attribute, and a driver event on each task it concerns (drivers/host.py).

TAPIT_AGENT_MASK, a comma-separated list of capabilities ("cgroups", "namespaces"), switches
them off: a Linux machine then plays one without them, which is how that path is tested."""

from __future__ import annotations

import os

MASK_ENV = "TAPIT_AGENT_MASK"
CGROUPS = "cgroups"
NAMESPACES = "namespaces"


def masked(capability: str) -> bool:
    return capability in {name.strip() for name in os.environ.get(MASK_ENV, "").split(",")}
