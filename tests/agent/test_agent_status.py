"""`tapit agent status` says what the agent serves and what it does not: the route table's
resources (command/agent/http.go registerHandlers as the agent keeps it), and the areas of it
with no route, which docs/agent.md's "Not served" lists path by path."""

import os
import subprocess
import sys
from pathlib import Path

from tapit.agent.http.served import NOT_SERVED, resources, summary
from tapit.agent.http.server import ROUTES

DOCS = Path(__file__).parents[2] / "docs" / "agent.md"


def test_the_areas_said_not_served_have_no_route_and_are_in_the_docs():
    for area, prefix in NOT_SERVED.items():
        assert not [e.path for e in ROUTES if e.path.startswith(prefix)], area
    not_served = DOCS.read_text().split("## Not served", 1)[1]
    for prefix in NOT_SERVED.values():
        assert f"`{prefix}" in not_served, prefix


def test_every_route_is_under_a_resource_the_summary_names():
    names = resources()
    for endpoint in ROUTES:
        segment = endpoint.path.split("/")[2]
        assert segment in names or segment.removesuffix("s") in names, endpoint.path
    assert f"It serves {len(ROUTES)} endpoints" in summary()


def test_status_prints_it_whether_the_agent_runs_or_not(tmp_path):
    env = {**os.environ, "TAPIT_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "tapit", "agent", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert lines == ["The embedded agent is not running; tapit starts it on first use.", summary()]
    assert "Not served: deployments, services" in lines[1]
