"""The agent answering: its configuration and member (api/agent.go Self, command/agent/agent_endpoint.go)."""

from __future__ import annotations

import nomad.api

from tapit.nomad.transport import Transport


class Agent:
    def __init__(self, transport: Transport):
        self._t = transport
        self._agent = transport.python_nomad(nomad.api.Agent)

    def info(self) -> dict:
        """GET /v1/agent/self: the configuration and member of the agent answering."""
        return self._t.rest(lambda: self._agent.get_agent(), 'agent policy "read"')
